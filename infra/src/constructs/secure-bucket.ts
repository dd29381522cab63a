import { Duration, type RemovalPolicy } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';

export interface SecureBucketProps {
  bucketName: string;
  removalPolicy: RemovalPolicy;
  /** Where server access logs go; unset only for the access-log bucket itself. */
  accessLogs?: s3.IBucket;
  lifecycleRules?: s3.LifecycleRule[];
  /** Send the bucket's object events to EventBridge (the results bucket: a run's complete.json is its completion event). */
  eventBridge?: boolean;
}

/** Days after which an unfinished multipart upload is cleaned up. */
const ABORT_INCOMPLETE_UPLOAD_DAYS = 1;

/**
 * A bucket with the project's baseline: encrypted at rest (SSE-S3), TLS 1.2+ only, no public
 * access, no ACLs, server access logs, and unfinished multipart uploads cleaned up.
 *
 * @example new SecureBucket(this, 'Spill', { bucketName, removalPolicy, accessLogs });
 */
export class SecureBucket extends s3.Bucket {
  constructor(scope: Construct, id: string, props: SecureBucketProps) {
    super(scope, id, {
      bucketName: props.bucketName,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      minimumTLSVersion: 1.2,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      serverAccessLogsBucket: props.accessLogs,
      serverAccessLogsPrefix: props.accessLogs ? `${id.toLowerCase()}/` : undefined,
      lifecycleRules: [
        {
          id: 'abort-incomplete-uploads',
          abortIncompleteMultipartUploadAfter: Duration.days(ABORT_INCOMPLETE_UPLOAD_DAYS),
        },
        ...(props.lifecycleRules ?? []),
      ],
      removalPolicy: props.removalPolicy,
    });
    if (props.eventBridge) {
      // Set on the CloudFormation resource itself: CDK's eventBridgeEnabled would add a custom resource (a Lambda) for it.
      (this.node.defaultChild as s3.CfnBucket).addPropertyOverride(
        'NotificationConfiguration.EventBridgeConfiguration.EventBridgeEnabled',
        true,
      );
    }
  }
}
