import { CfnOutput, Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { PipelineFunction } from '../constructs/pipeline-function';
import { StreamConsumer } from '../constructs/stream-consumer';
import { RESULTS_PREFIXES } from '../names';
import { acknowledgeWildcard } from '../nag';
import { SharedRefs } from '../shared-refs';
import type { AppStackProps } from './app-stack-props';

/**
 * The writer: its function and the event source mapping on the results stream. It delivers result
 * lines through Firehose and keeps the run ledger, dead letters and large results in the results bucket.
 */
export class WriterStack extends Stack {
  readonly writer: PipelineFunction;
  readonly consumer: StreamConsumer;

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
    const owned = [RESULTS_PREFIXES.runs, RESULTS_PREFIXES.deadLetters, RESULTS_PREFIXES.largeResults].map((prefix) =>
      refs.objectsArn('results', prefix),
    );
    const statements = [
      // Listing lets a missing object read as "not found" rather than "access denied".
      new iam.PolicyStatement({ sid: 'ListSpill', actions: ['s3:ListBucket'], resources: [refs.bucketArn('spill')] }),
      new iam.PolicyStatement({ sid: 'ResolveSpilled', actions: ['s3:GetObject'], resources: [spilled] }),
      new iam.PolicyStatement({
        sid: 'ListResults',
        actions: ['s3:ListBucket'],
        resources: [refs.bucketArn('results')],
      }),
      new iam.PolicyStatement({
        sid: 'LedgerDeadLettersLargeResults',
        actions: ['s3:GetObject', 's3:PutObject'],
        resources: owned,
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
    const why = {
      [RESULTS_PREFIXES.runs]: 'The run ledger: slice markers, completion and summary per run, all under runs/',
      [RESULTS_PREFIXES.deadLetters]: 'Dead letters are keyed by run, reason, slice and position under dead-letters/',
      [RESULTS_PREFIXES.largeResults]:
        'Results too large for Firehose are keyed by run, slice and position under large-results/',
    };
    for (const [prefix, reason] of Object.entries(why))
      acknowledgeWildcard(role, refs.objectsArn('results', prefix), reason);

    this.consumer = new StreamConsumer(this, 'ResultsMapping', {
      config,
      fn: this.writer.function,
      functionName,
      streamArn: refs.resultsStreamArn,
      streamName: names.resultsStream,
      settings: config.writer.eventSource,
      failuresBucketArn: refs.bucketArn('failures'),
    });

    new CfnOutput(this, 'WriterFunctionName', { value: functionName, description: 'Writer function' });
    new CfnOutput(this, 'WriterMappingUuid', {
      value: this.consumer.eventSource.eventSourceMappingId,
      description: 'Results-stream event source mapping of the writer: disable it to stop delivery at once',
    });
  }
}
