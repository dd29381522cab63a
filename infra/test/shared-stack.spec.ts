import { Match } from 'aws-cdk-lib/assertions';
import { DEFAULTS } from '@pipeline/limits';
import { INFRA_DEFAULTS } from '../src/defaults';
import { HANDLER_METRICS } from '../src/constructs/dashboard';
import { pipelineNames } from '../src/names';
import { ARN, synthPipeline, TEST_ENV, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');
const bucketName = (kind: string) => `dev-pipeline-${kind}-${TEST_ENV.account}-${TEST_ENV.region}`;

describe('GIVEN the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline();
  });
  afterAll(() => pipeline.cleanup());
  const shared = () => pipeline.templates.shared;

  describe('WHEN the shared stack is synthesized', () => {
    it.each([
      [names.recordsStream, 'records'],
      [names.resultsStream, 'results'],
    ])(
      'THEN the %s stream is encrypted with the aws/kinesis key, keeps records for the default retention and has the default shards',
      (streamName) => {
        shared().hasResourceProperties('AWS::Kinesis::Stream', {
          Name: streamName,
          ShardCount: DEFAULTS.shardCount,
          RetentionPeriodHours: DEFAULTS.streamRetentionHours,
          StreamEncryption: { EncryptionType: 'KMS', KeyId: 'alias/aws/kinesis' },
          StreamModeDetails: { StreamMode: 'PROVISIONED' },
        });
      },
    );

    it.each(['source', 'spill', 'results', 'failures', 'access-logs'])(
      'THEN the %s bucket is encrypted at rest, blocks public access and disables ACLs',
      (kind) => {
        shared().hasResourceProperties('AWS::S3::Bucket', {
          BucketName: bucketName(kind),
          BucketEncryption: {
            ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }],
          },
          PublicAccessBlockConfiguration: {
            BlockPublicAcls: true,
            BlockPublicPolicy: true,
            IgnorePublicAcls: true,
            RestrictPublicBuckets: true,
          },
          OwnershipControls: { Rules: [{ ObjectOwnership: 'BucketOwnerEnforced' }] },
        });
      },
    );

    it.each(['source', 'spill', 'results', 'failures', 'access-logs'])(
      'THEN the %s bucket refuses requests without TLS 1.2 or later',
      (kind) => {
        const bucketRef = {
          Ref: Match.stringLikeRegexp(
            `^${kind === 'access-logs' ? 'AccessLogs' : kind[0].toUpperCase() + kind.slice(1)}`,
          ),
        };
        shared().hasResourceProperties('AWS::S3::BucketPolicy', {
          Bucket: bucketRef,
          PolicyDocument: {
            Statement: Match.arrayWith([
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { Bool: { 'aws:SecureTransport': 'false' } },
                Principal: { AWS: '*' },
              }),
              Match.objectLike({
                Effect: 'Deny',
                Action: 's3:*',
                Condition: { NumericLessThan: { 's3:TlsVersion': 1.2 } },
                Principal: { AWS: '*' },
              }),
            ]),
          },
        });
      },
    );

    it.each(['source', 'spill', 'results', 'failures'])(
      'THEN the %s bucket logs its accesses to the access-log bucket',
      (kind) => {
        shared().hasResourceProperties('AWS::S3::Bucket', {
          BucketName: bucketName(kind),
          LoggingConfiguration: {
            DestinationBucketName: { Ref: Match.stringLikeRegexp('^AccessLogs') },
            LogFilePrefix: Match.stringLikeRegexp('/$'),
          },
        });
      },
    );

    it('THEN spilled objects expire after the stream retention plus the margin, so a replay from the trim horizon finds them', () => {
      shared().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('spill'),
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({
              Prefix: DEFAULTS.spillPrefix,
              ExpirationInDays: DEFAULTS.streamRetentionHours / 24 + DEFAULTS.spillRetentionMarginDays,
              Status: 'Enabled',
            }),
          ]),
        },
      });
    });

    it("THEN the results bucket sends its object events to EventBridge, so a run's complete.json is its completion event", () => {
      shared().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('results'),
        NotificationConfiguration: { EventBridgeConfiguration: { EventBridgeEnabled: true } },
      });
      shared().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('spill'),
        NotificationConfiguration: Match.absent(),
      });
    });

    it('THEN nothing but spilled objects, on-failure records and the claims of context.once expire on their own', () => {
      shared().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('results'),
        LifecycleConfiguration: {
          Rules: [
            Match.objectLike({ AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }),
            Match.objectLike({ Prefix: 'once/', ExpirationInDays: INFRA_DEFAULTS.onceClaimRetentionDays }),
          ],
        },
      });
      shared().hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('failures'),
        LifecycleConfiguration: {
          Rules: Match.arrayWith([
            Match.objectLike({ Prefix: 'aws/lambda/', ExpirationInDays: INFRA_DEFAULTS.failuresRetentionDays }),
          ]),
        },
      });
    });

    it('THEN buckets, streams and log groups are kept when the stack is deleted', () => {
      for (const type of ['AWS::S3::Bucket', 'AWS::Kinesis::Stream', 'AWS::Logs::LogGroup']) {
        const resources = Object.values(shared().findResources(type));
        expect(resources.length).toBeGreaterThan(0);
        for (const resource of resources)
          expect(resource).toMatchObject({ DeletionPolicy: 'Retain', UpdateReplacePolicy: 'Retain' });
      }
    });

    it('THEN the Firehose delivery stream is Direct PUT, encrypted, buffered, compressed and partitioned by run', () => {
      shared().hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        DeliveryStreamName: names.deliveryStream,
        DeliveryStreamType: 'DirectPut',
        DeliveryStreamEncryptionConfigurationInput: { KeyType: 'AWS_OWNED_CMK' },
        ExtendedS3DestinationConfiguration: Match.objectLike({
          BufferingHints: { SizeInMBs: 64, IntervalInSeconds: 300 },
          CompressionFormat: 'GZIP',
          Prefix: 'results/run=!{partitionKeyFromQuery:run}/',
          ErrorOutputPrefix: 'delivery-errors/!{firehose:error-output-type}/',
          DynamicPartitioningConfiguration: {
            Enabled: true,
            RetryOptions: { DurationInSeconds: INFRA_DEFAULTS.firehosePartitioningRetrySeconds },
          },
          ProcessingConfiguration: {
            Enabled: true,
            // The writer packs several result lines into one record: split them, partition each by run, end each with a newline.
            Processors: [
              { Type: 'RecordDeAggregation', Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }] },
              {
                Type: 'MetadataExtraction',
                Parameters: [
                  { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .run}' },
                  { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
                ],
              },
              { Type: 'AppendDelimiterToRecord', Parameters: [] },
            ],
          },
        }),
      });
    });

    it('THEN Firehose logs delivery errors to its own log group and stream', () => {
      shared().hasResourceProperties('AWS::KinesisFirehose::DeliveryStream', {
        ExtendedS3DestinationConfiguration: Match.objectLike({
          CloudWatchLoggingOptions: {
            Enabled: true,
            LogGroupName: { Ref: Match.anyValue() },
            LogStreamName: { Ref: Match.anyValue() },
          },
        }),
      });
      shared().hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: names.deliveryLogGroup,
        RetentionInDays: INFRA_DEFAULTS.logRetentionDays,
      });
    });

    it('THEN Firehose is created only after its role may write to the results bucket', () => {
      const [stream] = Object.values(shared().findResources('AWS::KinesisFirehose::DeliveryStream'));
      const [policyId] = Object.keys(
        shared().findResources('AWS::IAM::Policy', {
          Properties: { PolicyName: Match.stringLikeRegexp('DeliveryPolicy') },
        }),
      );

      expect(stream.DependsOn).toContain(policyId);
    });

    it('THEN an alarm fires when Firehose fails to deliver to S3', () => {
      shared().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.deliveryFailures,
        Namespace: 'AWS/Firehose',
        MetricName: 'DeliveryToS3.Success',
        Dimensions: [{ Name: 'DeliveryStreamName', Value: names.deliveryStream }],
        Statistic: 'Minimum',
        ComparisonOperator: 'LessThanThreshold',
        Threshold: 1,
        TreatMissingData: 'notBreaching',
      });
    });

    it('THEN an alarm fires when Firehose holds data longer than three buffer intervals', () => {
      shared().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.deliveryFreshness,
        MetricName: 'DeliveryToS3.DataFreshness',
        Threshold: 900,
        ComparisonOperator: 'GreaterThanThreshold',
      });
    });

    it('THEN the dashboard shows the pipeline stage by stage, from schedule to Firehose', () => {
      const [dashboard] = Object.values(shared().findResources('AWS::CloudWatch::Dashboard'));
      const body = JSON.stringify(dashboard.Properties.DashboardBody);
      const stages = [
        `1 · schedule (${names.schedule}) and reader (${names.functions.reader})`,
        `2 · records stream (${names.recordsStream})`,
        `3 · processor (${names.functions.processor})`,
        `4 · results stream (${names.resultsStream})`,
        `5 · writer (${names.functions.writer})`,
        `6 · Firehose (${names.deliveryStream}) → results bucket`,
      ];

      const positions = stages.map((stage) => body.indexOf(stage));

      expect(positions.every((p) => p >= 0)).toBe(true);
      expect([...positions].sort((a, b) => a - b)).toEqual(positions);
      expect(dashboard.Properties.DashboardName).toBe(names.dashboard);
    });

    it('THEN the dashboard graphs each handler’s own Powertools metrics', () => {
      const [dashboard] = Object.values(shared().findResources('AWS::CloudWatch::Dashboard'));
      const body = JSON.stringify(dashboard.Properties.DashboardBody);

      for (const [app, metrics] of Object.entries(HANDLER_METRICS)) {
        for (const metric of metrics)
          expect(body).toContain(
            `SlicePipeline\\",\\"${metric}\\",\\"service\\",\\"${names.functions[app as 'reader']}`,
          );
      }
    });

    it('THEN its outputs name every shared resource for the CLI', () => {
      for (const output of [
        'RecordsStreamName',
        'ResultsStreamName',
        'DeliveryStreamName',
        'SourceBucketName',
        'SpillBucketName',
        'ResultsBucketName',
        'FailuresBucketName',
        'DashboardName',
      ]) {
        shared().hasOutput(output, {});
      }
      shared().hasOutput('ResultsBucketName', { Value: bucketName('results') });
    });
  });

  describe('WHEN the app stacks are synthesized', () => {
    it('THEN each refers to the shared resources by the names the shared stack gives them, without exports', () => {
      const processorPolicies = JSON.stringify(pipeline.templates.processor.findResources('AWS::IAM::Policy'));

      expect(processorPolicies).toContain(ARN.stream(names.recordsStream));
      expect(processorPolicies).toContain(ARN.bucket('spill'));
      expect(JSON.stringify(pipeline.templates.shared.toJSON())).not.toContain('Export');
      for (const app of ['reader', 'processor', 'writer'] as const)
        expect(JSON.stringify(pipeline.templates[app].toJSON())).not.toContain('Fn::ImportValue');
    });
  });
});

describe('GIVEN an existing source bucket, other retention and shard counts, an alarm topic and removal on destroy', () => {
  let pipeline: SynthesizedPipeline;
  const topic = `arn:aws:sns:${TEST_ENV.region}:${TEST_ENV.account}:pipeline-alarms`;
  beforeAll(() => {
    pipeline = synthPipeline(
      {
        source: { bucketName: 'my-existing-data' },
        streams: { recordsShardCount: 4, resultsShardCount: 3, retentionHours: 72 },
        spill: { retentionMarginDays: 5 },
        alarmTopicArn: topic,
        removalPolicy: 'destroy',
      },
      { apps: ['reader'] },
    );
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the shared stack is synthesized', () => {
    it('THEN it creates no source bucket and the reader reads the existing one', () => {
      pipeline.templates.shared.resourcePropertiesCountIs('AWS::S3::Bucket', { BucketName: bucketName('source') }, 0);
      pipeline.templates.reader.hasResourceProperties('AWS::Lambda::Function', {
        Environment: { Variables: Match.objectLike({ SOURCE_BUCKET: 'my-existing-data' }) },
      });
    });

    it('THEN the streams take the configured shards and retention', () => {
      pipeline.templates.shared.hasResourceProperties('AWS::Kinesis::Stream', {
        Name: names.recordsStream,
        ShardCount: 4,
        RetentionPeriodHours: 72,
      });
      pipeline.templates.shared.hasResourceProperties('AWS::Kinesis::Stream', {
        Name: names.resultsStream,
        ShardCount: 3,
        RetentionPeriodHours: 72,
      });
    });

    it('THEN spilled objects live the longer retention plus the margin', () => {
      pipeline.templates.shared.hasResourceProperties('AWS::S3::Bucket', {
        BucketName: bucketName('spill'),
        LifecycleConfiguration: { Rules: Match.arrayWith([Match.objectLike({ ExpirationInDays: 3 + 5 })]) },
      });
    });

    it('THEN every alarm notifies the topic when it fires and when it recovers', () => {
      const alarms = Object.values({
        ...pipeline.templates.shared.findResources('AWS::CloudWatch::Alarm'),
        ...pipeline.templates.reader.findResources('AWS::CloudWatch::Alarm'),
      });

      expect(alarms.length).toBeGreaterThan(0);
      for (const alarm of alarms) expect(alarm.Properties).toMatchObject({ AlarmActions: [topic], OKActions: [topic] });
    });

    it('THEN buckets and streams are deleted with the stack', () => {
      for (const resource of Object.values(pipeline.templates.shared.findResources('AWS::Kinesis::Stream'))) {
        expect(resource.DeletionPolicy).toBe('Delete');
      }
      for (const resource of Object.values(pipeline.templates.shared.findResources('AWS::S3::Bucket'))) {
        expect(resource.DeletionPolicy).toBe('Delete');
      }
    });
  });
});
