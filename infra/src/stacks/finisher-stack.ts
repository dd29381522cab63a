import { CfnOutput, Duration, Stack } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambdaEvents from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { LAYOUT } from '@pipeline/records';
import { RUN_STREAMS_ENV, SWEEP_EVENT } from '@pipeline/run-streams';
import { finisherQueueTiming } from '../config';
import { alarmPeriod, pipelineAlarm } from '../constructs/alarms';
import { PipelineFunction } from '../constructs/pipeline-function';
import { grantRetireStreams, runStreamsEnvironment } from '../constructs/run-streams';
import { RunMarkers } from '../constructs/run-markers';
import { RESULTS_KEYS, RESULTS_PREFIXES } from '../names';
import { acknowledgeWildcard } from '../nag';
import { SharedRefs } from '../shared-refs';
import type { AppStackProps } from './app-stack-props';

/** The key of a run's delivered marker, with `*` for the run: what the EventBridge rule matches. */
export const DELIVERED_KEY_PATTERN = LAYOUT.deliveredKey('*');

/**
 * The finisher: completes a run once its output is in S3. The results bucket's EventBridge
 * notification for runs/<run>/delivered.json (written by the writer when it handed the run's last
 * result to Firehose) goes to a queue that holds it until Firehose should have delivered (the
 * delivery bound); the finisher then checks S3 and writes runs/<run>/complete.json — the run's
 * completion event — or fails the message while the run is still delivering, so it comes back a
 * bounded number of times before the dead-letter queue, whose alarm says a run stalled.
 */
export class FinisherStack extends Stack {
  readonly finisher: PipelineFunction;
  readonly queue: sqs.Queue;
  readonly deadLetterQueue: sqs.Queue;
  readonly rule: events.Rule;
  /** Per-run streams only: the hourly sweep that retires them. */
  readonly sweepRule?: events.Rule;
  readonly stalledAlarm: cloudwatch.Alarm;
  /** Collation and the run's events, started by the run's markers. */
  readonly runMarkers: RunMarkers;

  constructor(scope: Construct, id: string, props: AppStackProps) {
    super(scope, id, props);
    const { config } = props;
    const refs = new SharedRefs(this, config);
    const { names } = refs;
    const functionName = names.functions.finisher;
    const timing = finisherQueueTiming(config);
    const perRun = config.streams.lifecycle === 'per-run';

    this.finisher = new PipelineFunction(this, 'Finisher', {
      config,
      functionName,
      description: 'Completes a run once its results and dead letters are in S3 and its counts balance',
      code: props.code,
      environment: {
        ...refs.handlerEnvironment('finisher', functionName),
        // Per-run streams: its hourly sweep deletes them once no run needs them.
        ...(perRun ? { [RUN_STREAMS_ENV]: runStreamsEnvironment(this, config, refs) } : {}),
      },
      memoryMiB: config.finisher.memoryMiB,
      timeoutSeconds: config.finisher.timeoutSeconds,
    });
    const { role } = this.finisher;

    // The ledger key by key: manifest, slice markers, kill switch and delivery markers; no other run object.
    const ledger = [
      RESULTS_KEYS.manifest,
      RESULTS_KEYS.sliceMarkers,
      RESULTS_KEYS.control,
      RESULTS_KEYS.delivered,
      RESULTS_KEYS.complete,
      RESULTS_KEYS.stalled,
      RESULTS_KEYS.failed,
    ].map((key) => refs.keysArn('results', key));
    const delivered = refs.objectsArn('results', RESULTS_PREFIXES.results);
    const statements = [
      // Listing the delivery and dead-letter prefixes is how the output is found.
      new iam.PolicyStatement({
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [refs.bucketArn('results')],
      }),
      new iam.PolicyStatement({ sid: 'ReadLedger', actions: ['s3:GetObject'], resources: ledger }),
      new iam.PolicyStatement({ sid: 'ReadOutput', actions: ['s3:GetObject'], resources: [delivered] }),
      new iam.PolicyStatement({
        sid: 'CompleteOrStall',
        actions: ['s3:PutObject'],
        resources: [
          `${refs.bucketArn('results')}/${LAYOUT.completeKey('*')}`,
          `${refs.bucketArn('results')}/${LAYOUT.stalledKey('*')}`,
          `${refs.bucketArn('results')}/${LAYOUT.failedKey('*')}`,
        ],
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    const why = {
      [refs.keysArn('results', RESULTS_KEYS.manifest)]: 'One manifest per run, written by the reader; read-only',
      [refs.keysArn('results', RESULTS_KEYS.sliceMarkers)]:
        'Slice markers per run and slice: their counts are what the output must hold; read-only',
      [refs.keysArn('results', RESULTS_KEYS.control)]:
        'The kill switch of any run (runs/<run>/control.json); read-only',
      [refs.keysArn('results', RESULTS_KEYS.delivered)]:
        'The delivered marker of any run (runs/<run>/delivered.json), written by the writer; read-only',
      [delivered]:
        'Firehose names the delivered objects itself (run partition, stream, time, uuid) under results/; read-only',
      [`${refs.bucketArn('results')}/${LAYOUT.completeKey('*')}`]:
        'The completion marker of any run: runs/<run>/complete.json only',
      [`${refs.bucketArn('results')}/${LAYOUT.stalledKey('*')}`]:
        'The stalled marker of any run: runs/<run>/stalled.json only',
      [`${refs.bucketArn('results')}/${LAYOUT.failedKey('*')}`]:
        'The failure marker of any run: runs/<run>/failed.json only',
    };
    for (const [resource, reason] of Object.entries(why)) acknowledgeWildcard(role, resource, reason);

    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      queueName: names.finisherDeadLetterQueue,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      queueName: names.finisherQueue,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deliveryDelay: Duration.seconds(timing.delaySeconds),
      visibilityTimeout: Duration.seconds(timing.visibilityTimeoutSeconds),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: config.finisher.maxReceiveCount },
    });

    this.rule = new events.Rule(this, 'RunDelivered', {
      ruleName: names.deliveredRule,
      description: `A run's output was handed to Firehose (${DELIVERED_KEY_PATTERN} created): check it in S3 once delivered`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [refs.bucketName('results')] },
          object: { key: events.Match.wildcard(DELIVERED_KEY_PATTERN) },
        },
      },
      targets: [new targets.SqsQueue(this.queue)],
    });

    this.finisher.function.addEventSource(
      new lambdaEvents.SqsEventSource(this.queue, { batchSize: 10, reportBatchItemFailures: true }),
    );

    if (perRun) {
      grantRetireStreams(role, this, refs);
      // Scheduled rules cost nothing; 730 finisher invocations a month of about a second cost under a cent.
      this.sweepRule = new events.Rule(this, 'StreamsSweep', {
        ruleName: `${names.prefix}-streams-sweep`,
        description: `Deletes the per-run streams once no run is active and ${config.streams.replayWindowHours} h have passed since the last one ended`,
        schedule: events.Schedule.rate(Duration.hours(1)),
        targets: [
          new targets.LambdaFunction(this.finisher.function, { event: events.RuleTargetInput.fromObject(SWEEP_EVENT) }),
        ],
      });
    }

    this.stalledAlarm = pipelineAlarm(this, 'RunsStalledAlarm', config, {
      alarmName: names.alarms.runsStalled,
      description:
        `A run's output was not all in S3 after ${config.finisher.maxReceiveCount} checks: its message is in ${names.finisherDeadLetterQueue}. ` +
        `Look at runs/<run>/stalled.json in the results bucket for the missing slices, at ${RESULTS_PREFIXES.deliveryErrors} and at the delivery stream's log group; ` +
        'once fixed, send {"runId":"<run>"} to the finisher queue.',
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({
        period: alarmPeriod(config),
        statistic: 'Maximum',
      }),
      threshold: 1,
    });

    this.runMarkers = new RunMarkers(this, 'RunMarkers', { config, refs });

    new CfnOutput(this, 'RunEventBusName', {
      value: this.runMarkers.bus.eventBusName,
      description: 'The run’s events (Run Started, Run Completed, Run Failed): match them with a rule here',
    });
    new CfnOutput(this, 'RunNotificationsTopicArn', {
      value: this.runMarkers.topic.topicArn,
      description: 'Subscribe here to be notified of runs (which events: runEvents.notify in the config)',
    });
    new CfnOutput(this, 'CollationStateMachineArn', {
      value: this.runMarkers.stateMachine.stateMachineArn,
      description: 'Collates a run and puts its events when its markers are created',
    });
    new CfnOutput(this, 'FinisherFunctionName', { value: functionName, description: 'Finisher function' });
    new CfnOutput(this, 'FinisherQueueUrl', {
      value: this.queue.queueUrl,
      description: 'Send {"runId":"<run>"} here to check a run again',
    });
  }
}
