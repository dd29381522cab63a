import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as kinesis from 'aws-cdk-lib/aws-kinesis';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { KinesisEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { Construct } from 'constructs';
import { iteratorAgeAlarmSeconds, type EventSourceSettings, type InfraConfig } from '../config';
import { pipelineNames } from '../names';
import { alarmPeriod, pipelineAlarm } from './alarms';
import { S3FailureRecords } from './on-failure';

export interface StreamConsumerProps {
  config: InfraConfig;
  fn: lambda.Function;
  /** The function's physical name, which names the alarms. */
  functionName: string;
  /** Kinesis stream the mapping reads. */
  streamArn: string;
  /** Human name of the stream, for alarm descriptions. */
  streamName: string;
  settings: EventSourceSettings;
  /** The bucket that keeps the invocation records of batches the mapping gives up on. */
  failuresBucketArn: string;
  /** Start here instead of `settings.startingPosition` (AT_TIMESTAMP). */
  startingTimestamp?: Date;
  /**
   * Never discard records for their age (MaximumRecordAgeInSeconds -1): for a replay, whose records
   * are as old as the stream's retention allows. Default: `settings.maxRecordAgeSeconds`.
   */
  unboundedRecordAge?: boolean;
  /** Whether the mapping polls once deployed; default true. */
  enabled?: boolean;
}

/**
 * A Kinesis event source mapping with the pipeline's semantics — bounded retries and record age,
 * bisect on error, ReportBatchItemFailures, an S3 on-failure destination, event-count metrics —
 * and alarms on falling behind, on records sent to the on-failure destination, on records dropped
 * and on on-failure records that could not be written.
 *
 * @example new StreamConsumer(this, 'Records', { config, fn, streamArn, streamName, settings, failuresBucketArn });
 */
export class StreamConsumer extends Construct {
  readonly eventSource: KinesisEventSource;
  readonly alarms: cloudwatch.Alarm[];

  constructor(scope: Construct, id: string, props: StreamConsumerProps) {
    super(scope, id);
    const { config, fn, settings } = props;
    const stream = kinesis.Stream.fromStreamArn(this, 'Stream', props.streamArn);
    this.eventSource = new KinesisEventSource(stream, {
      batchSize: settings.batchSize,
      maxBatchingWindow: Duration.seconds(settings.batchingWindowSeconds),
      parallelizationFactor: settings.parallelizationFactor,
      bisectBatchOnError: settings.bisectBatchOnError,
      retryAttempts: settings.retryAttempts,
      maxRecordAge: props.unboundedRecordAge ? undefined : Duration.seconds(settings.maxRecordAgeSeconds),
      reportBatchItemFailures: true,
      startingPosition: props.startingTimestamp
        ? lambda.StartingPosition.AT_TIMESTAMP
        : lambda.StartingPosition[settings.startingPosition],
      startingPositionTimestamp: props.startingTimestamp ? props.startingTimestamp.getTime() / 1000 : undefined,
      onFailure: new S3FailureRecords(props.failuresBucketArn),
      enabled: props.enabled ?? true,
      metricsConfig: { metrics: [lambda.MetricType.EVENT_COUNT] },
    });
    fn.addEventSource(this.eventSource);
    if (props.unboundedRecordAge) {
      // Said outright rather than left to the API default: -1, records are never too old.
      const mapping = fn.node.children.find(
        (c): c is lambda.EventSourceMapping =>
          c instanceof lambda.EventSourceMapping && c.eventSourceMappingId === this.eventSource.eventSourceMappingId,
      );
      if (!mapping) throw new Error(`no event source mapping of ${props.functionName} found to set its record age on`);
      (mapping.node.defaultChild as lambda.CfnEventSourceMapping).maximumRecordAgeInSeconds = -1;
    }

    const period = alarmPeriod(config);
    const mapping = { EventSourceMappingUUID: this.eventSource.eventSourceMappingId };
    const eventCount = (metricName: string) =>
      new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName, dimensionsMap: mapping, period, statistic: 'Sum' });
    const who = props.functionName;
    const alarmNames = pipelineNames(config.envName).alarms;
    const [iteratorAge, destinationFailures] = consumerFunctionAlarms(this, props);
    this.alarms = [
      iteratorAge,
      pipelineAlarm(this, 'OnFailureAlarm', config, {
        alarmName: alarmNames.onFailure(who),
        description:
          `${who} gave up on records of ${props.streamName} and sent their batches to the failures bucket ` +
          '(retries or record age exhausted). Inspect the invocation records under aws/lambda/ and redrive them once the cause is fixed.',
        metric: eventCount('OnFailureDestinationDeliveredEventCount'),
        threshold: 1,
      }),
      pipelineAlarm(this, 'DroppedAlarm', config, {
        alarmName: alarmNames.dropped(who),
        description:
          `${who} dropped records of ${props.streamName} without an on-failure record: they are lost to the pipeline. ` +
          'Check the DestinationDeliveryFailures metric and the failures bucket policy, then replay the affected runs.',
        metric: eventCount('DroppedEventCount'),
        threshold: 1,
      }),
      destinationFailures,
    ];
  }
}

/**
 * The consumer's alarms on its function's own metrics (falling behind, on-failure records it could
 * not write): they need no mapping UUID, so per-run streams keep them (constructs/run-streams.ts).
 */
export function consumerFunctionAlarms(
  scope: Construct,
  props: Pick<StreamConsumerProps, 'config' | 'fn' | 'functionName' | 'streamName' | 'settings'>,
): cloudwatch.Alarm[] {
  const { config, fn, settings } = props;
  const period = alarmPeriod(config);
  const ageSeconds = iteratorAgeAlarmSeconds(config, settings);
  const who = props.functionName;
  const alarmNames = pipelineNames(config.envName).alarms;
  return [
    pipelineAlarm(scope, 'IteratorAgeAlarm', config, {
      alarmName: alarmNames.iteratorAge(who),
      description:
        `${who} is falling behind on ${props.streamName}: its oldest unprocessed record is over ${ageSeconds} s old ` +
        `(records older than ${settings.maxRecordAgeSeconds} s go to the on-failure destination). ` +
        'Look for errors or throttles, or raise the shard count or parallelization factor.',
      metric: fn.metric('IteratorAge', { period, statistic: 'Maximum' }),
      threshold: ageSeconds * 1000,
    }),
    pipelineAlarm(scope, 'DestinationFailuresAlarm', config, {
      alarmName: alarmNames.destinationFailures(who),
      description: `Lambda could not write an on-failure record for ${who} to the failures bucket. Check the function role and the bucket.`,
      metric: fn.metric('DestinationDeliveryFailures', { period, statistic: 'Sum' }),
      threshold: 1,
    }),
  ];
}
