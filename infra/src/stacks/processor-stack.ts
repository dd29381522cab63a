import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { ENV } from '@pipeline/config';
import { PipelineFunction } from '../constructs/pipeline-function';
import { grantMappingRead } from '../constructs/run-streams';
import { S3FailureRecords } from '../constructs/on-failure';
import { consumerFunctionAlarms, StreamConsumer } from '../constructs/stream-consumer';
import { onceClaimsKey, RESULTS_KEYS } from '../names';
import { acknowledgeWildcard } from '../nag';
import { SharedRefs } from '../shared-refs';
import type { ProcessorStackProps } from './app-stack-props';

/**
 * The processor: its function and the event source mapping on the records stream; with a replay
 * configured, a second function of the same code and role whose own mapping re-reads the records
 * stream from the trim horizon or a time (a stream maps to one function only once).
 */
export class ProcessorStack extends Stack {
  readonly processor: PipelineFunction;
  /** Unset with per-run streams: the reader creates the mapping when a run starts. */
  readonly consumer?: StreamConsumer;
  readonly replay?: { processor: PipelineFunction; consumer: StreamConsumer };

  constructor(scope: Construct, id: string, props: ProcessorStackProps) {
    super(scope, id, props);
    const { config } = props;
    const refs = new SharedRefs(this, config);
    const { names } = refs;
    const settings = config.processor;

    const processor = (
      id: string,
      functionName: string,
      description: string,
      role?: iam.Role,
      extraEnvironment: Record<string, string> = {},
    ) =>
      new PipelineFunction(this, id, {
        config,
        functionName,
        description,
        code: props.code,
        environment: { ...refs.handlerEnvironment('processor', functionName), ...extraEnvironment },
        memoryMiB: settings.memoryMiB,
        timeoutSeconds: settings.timeoutSeconds,
        reservedConcurrency: settings.reservedConcurrency,
        role,
      });
    this.processor = processor(
      'Processor',
      names.functions.processor,
      'Runs the job on each record of the records stream and puts results on the results stream',
    );
    const { role } = this.processor;

    const spilled = refs.objectsArn('spill', config.spill.prefix);
    const control = refs.keysArn('results', RESULTS_KEYS.control);
    const claims = [RESULTS_KEYS.manifest, RESULTS_KEYS.sliceRead].map((key) => refs.keysArn('results', key));
    const failures = refs.keysArn('results', RESULTS_KEYS.failures);
    const parking = refs.keysArn('results', RESULTS_KEYS.processorParking);
    // The job's own claims only: a bundle's transform cannot claim (or read) another job's side effects.
    const onceClaims = refs.keysArn('results', onceClaimsKey(props.jobName));
    const statements = [
      // Listing lets a missing object read as "not found" rather than "access denied".
      new iam.PolicyStatement({ sid: 'ListSpill', actions: ['s3:ListBucket'], resources: [refs.bucketArn('spill')] }),
      new iam.PolicyStatement({ sid: 'Spill', actions: ['s3:GetObject', 's3:PutObject'], resources: [spilled] }),
      new iam.PolicyStatement({
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [refs.bucketArn('results')],
      }),
      new iam.PolicyStatement({ sid: 'KillSwitch', actions: ['s3:GetObject'], resources: [control] }),
      // What records and markers claim is checked against the reader's manifest and read markers.
      new iam.PolicyStatement({ sid: 'CheckClaims', actions: ['s3:GetObject'], resources: claims }),
      // A record's transient failures are counted in an object of its own, read and rewritten.
      new iam.PolicyStatement({
        sid: 'CountFailures',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: [failures],
      }),
      new iam.PolicyStatement({ sid: 'ParkPausedRuns', actions: ['s3:PutObject'], resources: [parking] }),
      // context.once claims a side effect with a conditional PUT (If-None-Match: *); only conditional
      // PUTs are allowed, so no claim can be overwritten (reset) by the processor. A claim is read back
      // after a 412, to tell a claim of its own (a PUT the SDK retried) from an earlier one.
      new iam.PolicyStatement({
        sid: 'ClaimSideEffects',
        actions: ['s3:PutObject'],
        resources: [onceClaims],
        conditions: { Null: { 's3:if-none-match': 'false' } },
      }),
      new iam.PolicyStatement({ sid: 'ReadSideEffectClaims', actions: ['s3:GetObject'], resources: [onceClaims] }),
      new iam.PolicyStatement({
        sid: 'PutResults',
        actions: ['kinesis:PutRecords'],
        resources: [refs.resultsStreamArn],
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    acknowledgeWildcard(
      role,
      spilled,
      'Spilled records are keyed by run, slice and position under the spill prefix: the processor resolves pointers and spills large results',
    );
    acknowledgeWildcard(role, control, 'The kill switch is one object per run (runs/<run>/control.json); read-only');
    acknowledgeWildcard(
      role,
      claims[0],
      "One manifest per run (runs/<run>/manifest.json), written by the reader; read-only, to check records' seals and slices",
    );
    acknowledgeWildcard(
      role,
      claims[1],
      'One read marker per run and slice (runs/<run>/slices/<slice>/read.json), written by the reader; read-only, to check markers',
    );
    acknowledgeWildcard(
      role,
      failures,
      'Failed invocations are counted per record that fails (runs/<run>/failures/<slice>/<pos>.json), to give up on a poison pill',
    );
    acknowledgeWildcard(
      role,
      parking,
      'Records of a paused run are parked per run under runs/<run>/parked/processor/; put-only',
    );
    acknowledgeWildcard(
      role,
      onceClaims,
      `context.once claims one object per side effect under once/${props.jobName}/<key>, the key being the job's own; conditional put, read back after a 412`,
    );

    if (config.streams.lifecycle === 'always-on') {
      this.consumer = new StreamConsumer(this, 'RecordsMapping', {
        config,
        fn: this.processor.function,
        functionName: names.functions.processor,
        streamArn: refs.recordsStreamArn,
        streamName: names.recordsStream,
        settings: settings.eventSource,
        failuresBucketArn: refs.bucketArn('failures'),
      });
    } else {
      // Per-run streams: the reader creates this mapping with the same settings (constructs/run-streams.ts);
      // the function keeps what the mapping reads with and writes its on-failure records with.
      grantMappingRead(role, refs.recordsStreamArn);
      new S3FailureRecords(refs.bucketArn('failures')).bind(this, this.processor.function);
      // Its function's alarms stay; the mapping's own (on-failure, dropped) need a UUID no stack knows.
      consumerFunctionAlarms(new Construct(this, 'RecordsMapping'), {
        config,
        fn: this.processor.function,
        functionName: names.functions.processor,
        streamName: names.recordsStream,
        settings: settings.eventSource,
      });
    }

    new CfnOutput(this, 'ProcessorFunctionName', {
      value: names.functions.processor,
      description: 'Processor function',
    });
    if (this.consumer) {
      new CfnOutput(this, 'ProcessorMappingUuid', {
        value: this.consumer.eventSource.eventSourceMappingId,
        description: 'Records-stream event source mapping of the processor: disable it to stop processing at once',
      });
    }

    if (config.replay) {
      const replay = config.replay;
      // A Kinesis mapping filters only on the data key, so the run is selected in the handler.
      const replayProcessor = processor(
        'ReplayProcessor',
        names.replayFunction,
        'Replays the records stream through the processor',
        role,
        replay.run ? { [ENV.replayRun]: replay.run } : {},
      );
      const replayConsumer = new StreamConsumer(this, 'ReplayMapping', {
        config,
        fn: replayProcessor.function,
        functionName: names.replayFunction,
        streamArn: refs.recordsStreamArn,
        streamName: names.recordsStream,
        settings: { ...settings.eventSource, startingPosition: 'TRIM_HORIZON' },
        failuresBucketArn: refs.bucketArn('failures'),
        startingTimestamp: replay.from === 'trim-horizon' ? undefined : new Date(replay.from),
        // A replay reads records as old as the stream keeps: none may go to the failure destination for its age.
        unboundedRecordAge: true,
        enabled: replay.enabled,
      });
      this.replay = { processor: replayProcessor, consumer: replayConsumer };
      new CfnOutput(this, 'ReplayFunctionName', {
        value: names.replayFunction,
        description: 'Replay processor function',
      });
      new CfnOutput(this, 'ReplayMappingUuid', {
        value: replayConsumer.eventSource.eventSourceMappingId,
        description: 'Replay event source mapping: enable or disable it with aws lambda update-event-source-mapping',
      });
    }
  }
}
