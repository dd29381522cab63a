import { ArnFormat, RemovalPolicy } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as firehose from 'aws-cdk-lib/aws-kinesisfirehose';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';
import { firehoseFreshnessAlarmSeconds, type InfraConfig } from '../config';
import { DELIVERY_PARTITIONING, RESULTS_PREFIXES, type PipelineNames } from '../names';
import { acknowledgeWildcard } from '../nag';
import { alarmPeriod, pipelineAlarm } from './alarms';

export interface DeliveryStreamProps {
  config: InfraConfig;
  names: PipelineNames;
  resultsBucket: s3.IBucket;
}

/**
 * The Firehose delivery stream the writer puts result lines on: Direct PUT, encrypted at rest,
 * buffered and compressed, partitioned by run into `results/run=<run>/`, records it cannot
 * deliver under `delivery-errors/`, errors logged to CloudWatch, and alarms on failed or stale
 * delivery.
 *
 * @example new DeliveryStream(this, 'Delivery', { config, names, resultsBucket });
 */
export class DeliveryStream extends Construct {
  readonly deliveryStream: firehose.CfnDeliveryStream;
  readonly role: iam.Role;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: DeliveryStreamProps) {
    super(scope, id);
    const { config, names, resultsBucket } = props;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: names.deliveryLogGroup,
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    const logStream = new logs.LogStream(this, 'DeliveryLogStream', {
      logGroup,
      logStreamName: 'S3Delivery',
      removalPolicy,
    });

    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('firehose.amazonaws.com'),
      description: `${names.deliveryStream}: writes result lines to the results bucket`,
    });
    const deliveredObjects = [RESULTS_PREFIXES.results, RESULTS_PREFIXES.deliveryErrors].map((prefix) =>
      resultsBucket.arnForObjects(`${prefix}*`),
    );
    const policy = new iam.Policy(this, 'Policy', {
      roles: [this.role],
      statements: [
        new iam.PolicyStatement({
          sid: 'DeliverObjects',
          actions: ['s3:AbortMultipartUpload', 's3:GetObject', 's3:PutObject'],
          resources: deliveredObjects,
        }),
        new iam.PolicyStatement({
          sid: 'DeliveryBucket',
          actions: ['s3:GetBucketLocation', 's3:ListBucket', 's3:ListBucketMultipartUploads'],
          resources: [resultsBucket.bucketArn],
        }),
        new iam.PolicyStatement({
          sid: 'DeliveryLogs',
          actions: ['logs:PutLogEvents'],
          resources: [
            logGroup.stack.formatArn({
              service: 'logs',
              resource: 'log-group',
              resourceName: `${names.deliveryLogGroup}:log-stream:${logStream.logStreamName}`,
              arnFormat: ArnFormat.COLON_RESOURCE_NAME,
            }),
          ],
        }),
      ],
    });
    for (const objects of deliveredObjects) {
      acknowledgeWildcard(
        policy,
        objects,
        'Firehose names its objects itself (run partition, date, delivery stream, uuid); the grant is limited to the delivery and error prefixes',
      );
    }

    this.deliveryStream = new firehose.CfnDeliveryStream(this, 'Resource', {
      deliveryStreamName: names.deliveryStream,
      deliveryStreamType: 'DirectPut',
      deliveryStreamEncryptionConfigurationInput: { keyType: 'AWS_OWNED_CMK' },
      extendedS3DestinationConfiguration: {
        bucketArn: resultsBucket.bucketArn,
        roleArn: this.role.roleArn,
        prefix: DELIVERY_PARTITIONING.prefix,
        errorOutputPrefix: DELIVERY_PARTITIONING.errorOutputPrefix,
        bufferingHints: {
          sizeInMBs: config.firehose.bufferSizeMiB,
          intervalInSeconds: config.firehose.bufferIntervalSeconds,
        },
        compressionFormat: config.firehose.compression,
        // Objects are encrypted at rest by the bucket's default encryption (SSE-S3).
        encryptionConfiguration: { noEncryptionConfig: 'NoEncryption' },
        cloudWatchLoggingOptions: {
          enabled: true,
          logGroupName: logGroup.logGroupName,
          logStreamName: logStream.logStreamName,
        },
        dynamicPartitioningConfiguration: {
          enabled: true,
          retryOptions: { durationInSeconds: config.firehose.partitioningRetrySeconds },
        },
        processingConfiguration: {
          enabled: true,
          processors: DELIVERY_PARTITIONING.processors.map((p) => ({
            type: p.type,
            parameters: p.parameters.map((q) => ({ parameterName: q.name, parameterValue: q.value })),
          })),
        },
        s3BackupMode: 'Disabled',
      },
    });
    // Firehose checks its role when the stream is created: the policy must exist first.
    this.deliveryStream.node.addDependency(policy);

    const metric = (metricName: string, statistic: string) =>
      new cloudwatch.Metric({
        namespace: 'AWS/Firehose',
        metricName,
        dimensionsMap: { DeliveryStreamName: names.deliveryStream },
        period: alarmPeriod(config),
        statistic,
      });
    const freshness = firehoseFreshnessAlarmSeconds(config);
    this.alarms = [
      pipelineAlarm(this, 'DeliveryFailuresAlarm', config, {
        alarmName: names.alarms.deliveryFailures,
        description:
          `${names.deliveryStream} failed to put objects into the results bucket. Look at its log group ${names.deliveryLogGroup} ` +
          `and at ${RESULTS_PREFIXES.deliveryErrors} in the results bucket.`,
        metric: metric('DeliveryToS3.Success', 'Minimum'),
        threshold: 1,
        comparison: cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
      }),
      pipelineAlarm(this, 'FreshnessAlarm', config, {
        alarmName: names.alarms.deliveryFreshness,
        description: `${names.deliveryStream} holds records older than ${freshness} s that it has not delivered to S3. Look at its log group ${names.deliveryLogGroup}.`,
        metric: metric('DeliveryToS3.DataFreshness', 'Maximum'),
        threshold: freshness,
        comparison: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
      }),
    ];
  }
}
