import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import { spillExpirationDays, type InfraConfig } from '../config';
import { PipelineDashboard } from '../constructs/dashboard';
import { DeliveryStream } from '../constructs/delivery-stream';
import { SecureBucket } from '../constructs/secure-bucket';
import { ON_FAILURE_PREFIX, RESULTS_PREFIXES, type BucketKind } from '../names';
import { acknowledge } from '../nag';
import { SharedRefs } from '../shared-refs';

export interface SharedStackProps extends StackProps {
  config: InfraConfig;
}

/**
 * What every app of one environment uses and none owns: the records and results streams, the
 * spill, results, failures (on-failure destinations), source and access-log buckets, the Firehose
 * delivery stream with its alarms, and the pipeline's dashboard. Deployed before, and apart from,
 * the app stacks, which find these resources by name.
 */
export class SharedStack extends Stack {
  readonly refs: SharedRefs;
  /** Unset with per-run streams: the reader creates them when a run starts, the sweep deletes them. */
  readonly recordsStream?: kinesis.Stream;
  readonly resultsStream?: kinesis.Stream;
  readonly buckets: Record<'spill' | 'results' | 'failures' | 'accessLogs', s3.Bucket> & { source?: s3.Bucket };
  readonly delivery: DeliveryStream;
  readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, props: SharedStackProps) {
    super(scope, id, props);
    const { config } = props;
    this.refs = new SharedRefs(this, config);
    const { names } = this.refs;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    const accessLogs = new SecureBucket(this, 'AccessLogs', {
      bucketName: this.refs.bucketName('access-logs'),
      removalPolicy,
      lifecycleRules: [{ id: 'expire-access-logs', expiration: Duration.days(config.accessLogsRetentionDays) }],
    });
    acknowledge(
      accessLogs,
      'AwsSolutions-S1',
      'This bucket receives the server access logs of the other buckets; logging it to itself would log without end',
    );

    const bucket = (id: string, kind: BucketKind, lifecycleRules?: s3.LifecycleRule[], eventBridge = false) =>
      new SecureBucket(this, id, {
        bucketName: this.refs.bucketName(kind),
        removalPolicy,
        accessLogs,
        lifecycleRules,
        eventBridge,
      });
    this.buckets = {
      accessLogs,
      spill: bucket('Spill', 'spill', [
        {
          id: 'expire-spilled-objects',
          prefix: config.spill.prefix,
          // After the streams' retention plus a margin: a replay from the trim horizon still resolves every pointer.
          expiration: Duration.days(spillExpirationDays(config)),
        },
      ]),
      // Its object events go to EventBridge: runs/<run>/complete.json appearing is the run's completion event.
      results: bucket(
        'Results',
        'results',
        [
          {
            id: 'expire-once-claims',
            prefix: RESULTS_PREFIXES.onceClaims,
            // A claim kept past this lets its side effect run again: long enough to outlive replays and redrives.
            expiration: Duration.days(config.once.retentionDays),
          },
        ],
        true,
      ),
      failures: bucket('Failures', 'failures', [
        {
          id: 'expire-on-failure-records',
          prefix: ON_FAILURE_PREFIX,
          expiration: Duration.days(config.failures.retentionDays),
        },
      ]),
      source: config.source.bucketName ? undefined : bucket('Source', 'source'),
    };

    const stream = (id: string, streamName: string, shardCount: number) =>
      new kinesis.Stream(this, id, {
        streamName,
        streamMode: kinesis.StreamMode.PROVISIONED,
        shardCount,
        retentionPeriod: Duration.hours(config.streams.retentionHours),
        // The AWS-managed key: encryption at rest with no key policy for producers and consumers to share.
        encryption: kinesis.StreamEncryption.MANAGED,
        removalPolicy,
      });
    if (config.streams.lifecycle === 'always-on') {
      this.recordsStream = stream('RecordsStream', names.recordsStream, config.streams.recordsShardCount);
      this.resultsStream = stream('ResultsStream', names.resultsStream, config.streams.resultsShardCount);
    }

    this.delivery = new DeliveryStream(this, 'Delivery', { config, names, resultsBucket: this.buckets.results });
    this.dashboard = new PipelineDashboard(this, 'Dashboard', { config, names });

    const output = (id: string, value: string, description: string) => new CfnOutput(this, id, { value, description });
    // The names stay the same in both lifecycles: per-run streams are created under them.
    const lifetime =
      config.streams.lifecycle === 'per-run'
        ? ' (exists from run start until the replay window after the last run)'
        : '';
    output('RecordsStreamName', names.recordsStream, `Kinesis stream from the reader to the processor${lifetime}`);
    output('ResultsStreamName', names.resultsStream, `Kinesis stream from the processor to the writer${lifetime}`);
    output('RecordsStreamArn', this.refs.recordsStreamArn, 'ARN of the records stream');
    output('ResultsStreamArn', this.refs.resultsStreamArn, 'ARN of the results stream');
    output(
      'StreamsLifecycle',
      config.streams.lifecycle,
      'always-on, or per-run (created at run start, deleted by the sweep)',
    );
    output(
      'DeliveryStreamName',
      names.deliveryStream,
      'Firehose delivery stream from the writer to the results bucket',
    );
    output('SourceBucketName', this.refs.bucketName('source'), 'Bucket the reader reads');
    output('SpillBucketName', this.refs.bucketName('spill'), 'Bucket of spilled records (claim checks)');
    output(
      'ResultsBucketName',
      this.refs.bucketName('results'),
      'Results, run ledger (runs/<run>/control.json is the kill switch), dead letters',
    );
    output(
      'FailuresBucketName',
      this.refs.bucketName('failures'),
      'On-failure records of the event source mappings and of the reader',
    );
    output('DashboardName', names.dashboard, 'CloudWatch dashboard of the pipeline');
  }
}
