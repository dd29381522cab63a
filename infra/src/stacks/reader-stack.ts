import { CfnOutput, Duration, Stack, TimeZone } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as scheduler from 'aws-cdk-lib/aws-scheduler';
import * as targets from 'aws-cdk-lib/aws-scheduler-targets';
import type { Construct } from 'constructs';
import { RECURSIVE_LOOP } from '@pipeline/limits';
import { RUN_STREAMS_ENV } from '@pipeline/run-streams';
import { scheduleExpression } from '../config';
import { alarmPeriod, pipelineAlarm } from '../constructs/alarms';
import { S3FailureRecords } from '../constructs/on-failure';
import { PipelineFunction } from '../constructs/pipeline-function';
import { grantOpenStreams, runStreamsEnvironment } from '../constructs/run-streams';
import { RESULTS_KEYS } from '../names';
import { acknowledgeWildcard } from '../nag';
import { SharedRefs } from '../shared-refs';
import type { AppStackProps } from './app-stack-props';

/** The JSON the schedule sends: the scheduled time, from which the reader derives the run id. */
export const SCHEDULE_INPUT = { scheduledTime: scheduler.ContextAttribute.scheduledTime } as const;

/**
 * The reader: its function (reserved concurrency caps the load on the source) and the schedule
 * that starts a run. The schedule passes its scheduled time, which names the run; a retried or
 * repeated trigger for the same time resumes that run or finds it done, so it never doubles work.
 */
export class ReaderStack extends Stack {
  readonly reader: PipelineFunction;
  readonly schedule: scheduler.Schedule;

  constructor(scope: Construct, id: string, props: AppStackProps) {
    super(scope, id, props);
    const { config } = props;
    const refs = new SharedRefs(this, config);
    const { names } = refs;
    const functionName = names.functions.reader;

    const perRun = config.streams.lifecycle === 'per-run';
    this.reader = new PipelineFunction(this, 'Reader', {
      config,
      functionName,
      description: 'Plans a run into slices and puts their records on the records stream',
      code: props.code,
      environment: {
        ...refs.handlerEnvironment('reader', functionName),
        // Per-run streams: the reader opens them (and their mappings) before it puts a record.
        ...(perRun ? { [RUN_STREAMS_ENV]: runStreamsEnvironment(this, config, refs) } : {}),
      },
      memoryMiB: config.reader.memoryMiB,
      timeoutSeconds: config.reader.timeoutSeconds,
      reservedConcurrency: config.reader.reservedConcurrency,
      // The reader invokes itself to hand a long run on; Terminate would stop the chain after 16 hops.
      recursiveLoop: RECURSIVE_LOOP.reader,
    });
    const { role } = this.reader;
    const fn = this.reader.function;

    const sourcePrefix = refs.objectsArn('source', config.source.prefix);
    // The reader's part of the run ledger, key by key: it plans (manifest) and marks slices read;
    // it reads the kill switch and every slice marker; it never writes the writer's objects.
    const ledger = {
      read: [RESULTS_KEYS.manifest, RESULTS_KEYS.sliceMarkers, RESULTS_KEYS.control, RESULTS_KEYS.delivered],
      // Created only if absent (If-None-Match): two readers of one run at once keep the first plan and
      // the first read marker of each slice, and no reader can replace either.
      create: [RESULTS_KEYS.manifest, RESULTS_KEYS.sliceRead],
      // A run with nothing to read is handed to the finisher at once: the reader marks it delivered.
      write: [RESULTS_KEYS.delivered],
    };
    const ledgerArns = (keys: string[]) => keys.map((key) => refs.keysArn('results', key));
    const spilled = refs.objectsArn('spill', config.spill.prefix);
    // Its own ARN from its name: a reference to the function itself would be a circular dependency.
    const self = refs.functionArn(functionName);
    const statements = [
      new iam.PolicyStatement({ sid: 'ListSource', actions: ['s3:ListBucket'], resources: [refs.bucketArn('source')] }),
      new iam.PolicyStatement({ sid: 'ReadSource', actions: ['s3:GetObject'], resources: [sourcePrefix] }),
      // Listing lets a missing ledger object read as "not found" rather than "access denied".
      new iam.PolicyStatement({
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [refs.bucketArn('results')],
      }),
      new iam.PolicyStatement({ sid: 'ReadLedger', actions: ['s3:GetObject'], resources: ledgerArns(ledger.read) }),
      new iam.PolicyStatement({
        sid: 'CreateLedger',
        actions: ['s3:PutObject'],
        resources: ledgerArns(ledger.create),
        conditions: { Null: { 's3:if-none-match': 'false' } },
      }),
      new iam.PolicyStatement({ sid: 'WriteLedger', actions: ['s3:PutObject'], resources: ledgerArns(ledger.write) }),
      new iam.PolicyStatement({ sid: 'Spill', actions: ['s3:PutObject'], resources: [spilled] }),
      new iam.PolicyStatement({
        sid: 'PutRecords',
        actions: ['kinesis:PutRecords', 'kinesis:PutRecord', 'kinesis:DescribeStreamSummary', 'kinesis:DescribeStream'],
        resources: [refs.recordsStreamArn],
      }),
      new iam.PolicyStatement({
        sid: 'ContinueRun',
        actions: ['lambda:InvokeFunction'],
        resources: [self, `${self}:*`],
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    if (perRun) grantOpenStreams(role, refs);
    acknowledgeWildcard(
      role,
      sourcePrefix,
      'The reader plans slices over every object under the configured source prefix; read-only',
    );
    const why: Record<string, string> = {
      [RESULTS_KEYS.manifest]:
        'One manifest per run (runs/<run>/manifest.json): the reader creates it (conditional put) and reads it back',
      [RESULTS_KEYS.sliceMarkers]: 'Slice markers per run and slice: the reader reads them to resume a run; read-only',
      [RESULTS_KEYS.control]: 'The kill switch is one object per run (runs/<run>/control.json); read-only',
      [RESULTS_KEYS.sliceRead]:
        'One read marker per run and slice (runs/<run>/slices/<slice>/read.json); created only if absent (conditional put)',
      [RESULTS_KEYS.delivered]:
        'One delivered marker per run (runs/<run>/delivered.json): an empty run is handed to the finisher by the reader',
    };
    for (const [key, reason] of Object.entries(why)) acknowledgeWildcard(role, refs.keysArn('results', key), reason);
    acknowledgeWildcard(
      role,
      spilled,
      'Spilled records are keyed by run, slice and position under the spill prefix; put-only',
    );
    acknowledgeWildcard(
      role,
      `${self}:*`,
      'The reader hands a long run on to itself; the invoked ARN may carry a version qualifier',
    );

    // A failed trigger or hop is retried (the run is idempotent), then kept in the failures bucket.
    fn.configureAsyncInvoke({
      retryAttempts: config.reader.asyncRetryAttempts,
      maxEventAge: Duration.seconds(config.reader.asyncMaxEventAgeSeconds),
      onFailure: new S3FailureRecords(refs.bucketArn('failures')),
    });
    pipelineAlarm(this, 'DestinationFailuresAlarm', config, {
      alarmName: names.alarms.destinationFailures(functionName),
      description: `Lambda could not keep a failed trigger or hop of ${functionName} in the failures bucket. Check the function role and the bucket.`,
      metric: fn.metric('DestinationDeliveryFailures', { period: alarmPeriod(config), statistic: 'Sum' }),
      threshold: 1,
    });

    const schedulerRole = new iam.Role(this, 'SchedulerRole', {
      assumedBy: new iam.ServicePrincipal('scheduler.amazonaws.com', {
        conditions: { StringEquals: { 'aws:SourceAccount': this.account } },
      }),
      description: `${names.schedule}: starts the reader`,
    });
    acknowledgeWildcard(
      schedulerRole,
      `${fn.functionArn}:*`,
      "aws-cdk-lib's invoke grant covers the function's versions too; the role can invoke the reader and nothing else",
    );
    const group = new scheduler.ScheduleGroup(this, 'ScheduleGroup', { scheduleGroupName: names.scheduleGroup });
    this.schedule = new scheduler.Schedule(this, 'Schedule', {
      scheduleName: names.schedule,
      scheduleGroup: group,
      description: `Starts a ${names.prefix} run; the scheduled time names the run`,
      schedule: scheduler.ScheduleExpression.expression(
        scheduleExpression(config),
        TimeZone.of(config.schedule.timezone),
      ),
      enabled: config.schedule.enabled,
      target: new targets.LambdaInvoke(fn, {
        role: schedulerRole,
        input: scheduler.ScheduleTargetInput.fromObject(SCHEDULE_INPUT),
        retryAttempts: config.schedule.retryAttempts,
        maxEventAge: Duration.seconds(config.schedule.maxEventAgeSeconds),
      }),
    });
    pipelineAlarm(this, 'ScheduleDroppedAlarm', config, {
      alarmName: names.alarms.scheduleDropped,
      description: `The schedule ${names.schedule} gave up on a trigger after its retries: a run did not start. Invoke ${functionName} with {"scheduledTime": "<the missed time>"} to start it.`,
      metric: new cloudwatch.Metric({
        namespace: 'AWS/Scheduler',
        metricName: 'InvocationDroppedCount',
        dimensionsMap: { ScheduleGroup: names.scheduleGroup },
        period: alarmPeriod(config),
        statistic: 'Sum',
      }),
      threshold: 1,
    });

    new CfnOutput(this, 'ReaderFunctionName', {
      value: functionName,
      description: 'Reader function; reserved concurrency 0 stops every run at once',
    });
    new CfnOutput(this, 'ScheduleName', {
      value: names.schedule,
      description: 'EventBridge Scheduler schedule that starts runs',
    });
    new CfnOutput(this, 'ScheduleGroupName', {
      value: names.scheduleGroup,
      description: 'Schedule group of the schedule',
    });
    if (perRun)
      new CfnOutput(this, 'RunStreams', {
        value: runStreamsEnvironment(this, config, refs),
        description:
          "Per-run streams: the plan the reader opens them with; the operator tool's redrive opens them with it too",
      });
  }
}
