import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { Construct } from 'constructs';
import { PipelineFunction } from '../constructs/pipeline-function';
import { grantMappingRead } from '../constructs/run-streams';
import { S3FailureRecords } from '../constructs/on-failure';
import { consumerFunctionAlarms, StreamConsumer } from '../constructs/stream-consumer';
import { RESULTS_KEYS } from '../names';
import { acknowledgeWildcard } from '../nag';
import { SharedRefs } from '../shared-refs';
import type { AppStackProps } from './app-stack-props';

/**
 * The writer: its function and the event source mapping on the results stream. It delivers result
 * lines through Firehose and keeps the run ledger, dead letters and large results in the results bucket.
 */
export class WriterStack extends Stack {
  readonly writer: PipelineFunction;
  /** Unset with per-run streams: the reader creates the mapping when a run starts. */
  readonly consumer?: StreamConsumer;

  constructor(scope: Construct, id: string, props: AppStackProps) {
    super(scope, id, props);
    const { config } = props;
    const refs = new SharedRefs(this, config);
    const { names } = refs;
    const functionName = names.functions.writer;

    this.writer = new PipelineFunction(this, 'Writer', {
      config,
      functionName,
      description: 'Delivers results through Firehose and records dead letters and finished slices',
      code: props.code,
      environment: refs.handlerEnvironment('writer', functionName),
      memoryMiB: config.writer.memoryMiB,
      timeoutSeconds: config.writer.timeoutSeconds,
      reservedConcurrency: config.writer.reservedConcurrency,
    });
    const { role } = this.writer;

    const spilled = refs.objectsArn('spill', config.spill.prefix);
    // The writer's objects, key by key: it reads the reader's manifest and the kill switch, reads
    // and writes done markers and the completion check's resume point, and writes the delivered
    // marker, parked records, dead letters and large results. Completion is the finisher's.
    const results = {
      // The manifest and read markers check what markers and records claim; a done marker that exists
      // means the slice's first true marker won already.
      read: [
        RESULTS_KEYS.manifest,
        RESULTS_KEYS.sliceRead,
        RESULTS_KEYS.sliceDone,
        RESULTS_KEYS.control,
        RESULTS_KEYS.delivered,
        RESULTS_KEYS.doneThrough,
      ],
      write: [
        RESULTS_KEYS.sliceDone,
        RESULTS_KEYS.doneThrough,
        RESULTS_KEYS.delivered,
        RESULTS_KEYS.writerParking,
        RESULTS_KEYS.deadLetters,
        RESULTS_KEYS.largeResults,
      ],
    };
    const resultsArns = (keys: string[]) => keys.map((key) => refs.keysArn('results', key));
    const statements = [
      // Listing lets a missing object read as "not found" rather than "access denied".
      new iam.PolicyStatement({ sid: 'ListSpill', actions: ['s3:ListBucket'], resources: [refs.bucketArn('spill')] }),
      new iam.PolicyStatement({ sid: 'ResolveSpilled', actions: ['s3:GetObject'], resources: [spilled] }),
      new iam.PolicyStatement({
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [refs.bucketArn('results')],
      }),
      new iam.PolicyStatement({ sid: 'ReadLedger', actions: ['s3:GetObject'], resources: resultsArns(results.read) }),
      new iam.PolicyStatement({
        sid: 'WriteLedgerDeadLettersLargeResults',
        actions: ['s3:PutObject'],
        resources: resultsArns(results.write),
      }),
      new iam.PolicyStatement({
        sid: 'Deliver',
        actions: ['firehose:PutRecordBatch'],
        resources: [refs.deliveryStreamArn],
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    acknowledgeWildcard(
      role,
      spilled,
      'Spilled results are keyed by run, slice and position under the spill prefix; read-only',
    );
    const why: Record<string, string> = {
      [RESULTS_KEYS.manifest]: 'One manifest per run (runs/<run>/manifest.json), written by the reader; read-only',
      [RESULTS_KEYS.control]: 'The kill switch is one object per run (runs/<run>/control.json); read-only',
      [RESULTS_KEYS.delivered]:
        'One delivered marker per run (runs/<run>/delivered.json): read back so the first hand-off time stays',
      [RESULTS_KEYS.sliceRead]:
        'One read marker per run and slice (runs/<run>/slices/<slice>/read.json), written by the reader; read-only, to check markers',
      [RESULTS_KEYS.sliceDone]:
        'One done marker per run and slice (runs/<run>/slices/<slice>/done.json): read first, so the first true marker wins, and by the completion check',
      [RESULTS_KEYS.doneThrough]:
        'One resume point per run (runs/<run>/done-through.json): the completion check reads on from it instead of listing the run',
      [RESULTS_KEYS.writerParking]:
        'Records of a paused run are parked per run under runs/<run>/parked/writer/; put-only',
      [RESULTS_KEYS.deadLetters]:
        'Dead letters are keyed by run, reason, slice and position under dead-letters/; put-only',
      [RESULTS_KEYS.largeResults]:
        'Results too large for Firehose are keyed by run, slice and position under large-results/; put-only',
    };
    for (const [key, reason] of Object.entries(why)) acknowledgeWildcard(role, refs.keysArn('results', key), reason);

    if (config.streams.lifecycle === 'always-on') {
      this.consumer = new StreamConsumer(this, 'ResultsMapping', {
        config,
        fn: this.writer.function,
        functionName,
        streamArn: refs.resultsStreamArn,
        streamName: names.resultsStream,
        settings: config.writer.eventSource,
        failuresBucketArn: refs.bucketArn('failures'),
      });
    } else {
      // Per-run streams: the reader creates this mapping with the same settings (constructs/run-streams.ts);
      // the function keeps what the mapping reads with and writes its on-failure records with.
      grantMappingRead(role, refs.resultsStreamArn);
      new S3FailureRecords(refs.bucketArn('failures')).bind(this, this.writer.function);
      // Its function's alarms stay; the mapping's own (on-failure, dropped) need a UUID no stack knows.
      consumerFunctionAlarms(new Construct(this, 'ResultsMapping'), {
        config,
        fn: this.writer.function,
        functionName: functionName,
        streamName: names.resultsStream,
        settings: config.writer.eventSource,
      });
    }

    new CfnOutput(this, 'WriterFunctionName', { value: functionName, description: 'Writer function' });
    if (this.consumer) {
      new CfnOutput(this, 'WriterMappingUuid', {
        value: this.consumer.eventSource.eventSourceMappingId,
        description: 'Results-stream event source mapping of the writer: disable it to stop delivery at once',
      });
    }
  }
}
