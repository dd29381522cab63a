import * as iam from 'aws-cdk-lib/aws-iam';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { ON_FAILURE_PREFIX } from '../names';
import { acknowledgeWildcard } from '../nag';

/**
 * An S3 bucket as on-failure destination, for an event source mapping (the whole invocation
 * record, which a redrive needs) and for asynchronous invocations.
 *
 * aws-cdk-lib's own S3 destinations grant read and write on the whole bucket; Lambda needs only
 * `s3:PutObject` under `aws/lambda/` and `s3:ListBucket`, so this grants exactly that.
 *
 * @example new KinesisEventSource(stream, { onFailure: new S3FailureRecords(bucketArn), … });
 */
export class S3FailureRecords implements lambda.IEventSourceDlq, lambda.IDestination {
  constructor(private readonly bucketArn: string) {}

  bind(_scope: unknown, fn: lambda.IFunction): { destination: string } {
    const objects = `${this.bucketArn}/${ON_FAILURE_PREFIX}*`;
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'OnFailureRecords', actions: ['s3:PutObject'], resources: [objects] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({ sid: 'OnFailureBucketList', actions: ['s3:ListBucket'], resources: [this.bucketArn] }),
    );
    if (fn.role) {
      acknowledgeWildcard(
        fn.role,
        objects,
        'Lambda names each on-failure record itself (aws/lambda/<mapping or async/function>/<date>/<uuid>); the grant is put-only, under that prefix',
      );
    }
    return { destination: this.bucketArn };
  }
}
