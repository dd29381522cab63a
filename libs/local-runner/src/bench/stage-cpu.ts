import { fork } from 'node:child_process';
import { join } from 'node:path';
import {
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateDeliveryStreamCommand } from '@aws-sdk/client-firehose';
import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { handler as readerHandler, resetReader } from '@apps/reader';
import { handler as processorHandler, resetProcessor } from '@apps/processor';
import { handler as writerHandler, resetWriter } from '@apps/writer';
import { firehoseClient } from '@pipeline/aws';
import { ENV } from '@pipeline/config';
import { DEFAULTS } from '@pipeline/limits';
import { endpointVariable, type Service } from '../endpoints';
import { deliveryStreamDefinition, LOCAL_RESOURCES, type LocalPipeline } from '../local-pipeline';
import { EXAMPLE_PREFIX } from '../run-job';
import { cpuMicros } from './machine';
import { toEvents } from './memory';
import { createActiveStream } from './raw-ceiling';

/**
 * Each stage's own CPU, measured around its handler's invocations on a quiet event loop: after the
 * end-to-end run, with the event source mappings stopped, the stages run one after another over a
 * run of their own (fresh streams). The bench fetches each batch with GetRecords and builds the
 * event before it starts the clock, so the poller's work is not counted; the servers, the local
 * Firehose included, run in processes of their own, so theirs is not either. The IAM gateways run
 * in this process, so the handlers call the servers behind them directly here (IAM is checked in the
 * end-to-end run): a gateway's parsing and forwarding of a call would otherwise count as the
 * handler's. What is counted is everything the handler does in this process: its logic, its AWS SDK
 * calls (serializing requests, parsing responses), its logging and metrics.
 */

export interface StageCpu {
  envelopes: number;
  /** CPU µs per envelope read. */
  reader: number;
  processor: number;
  writer: number;
  invocations: { processor: number; writer: number };
}

type Handler = (event: KinesisStreamEvent) => Promise<KinesisStreamBatchResponse>;

/** Replays a stream through a handler, batch after batch; CPU µs spent inside the handler. */
async function replay(kinesis: KinesisClient, stream: string, handler: Handler) {
  let micros = 0;
  let invocations = 0;
  const { Shards } = await kinesis.send(new ListShardsCommand({ StreamName: stream }));
  for (const shard of Shards ?? []) {
    let iterator = (
      await kinesis.send(
        new GetShardIteratorCommand({ StreamName: stream, ShardId: shard.ShardId, ShardIteratorType: 'TRIM_HORIZON' }),
      )
    ).ShardIterator;
    while (iterator) {
      const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: DEFAULTS.batchSize }));
      const fetched = (page.Records ?? []).map((r) => ({
        sequenceNumber: r.SequenceNumber ?? '',
        partitionKey: r.PartitionKey ?? '',
        data: r.Data ?? new Uint8Array(),
      }));
      for (const event of toEvents(fetched, DEFAULTS.batchSize, shard.ShardId)) {
        const started = process.cpuUsage();
        const response = await handler(event);
        micros += cpuMicros(process.cpuUsage(started));
        invocations += 1;
        const failed = response?.batchItemFailures?.length ?? 0;
        if (failed)
          throw new Error(
            `${failed} records of ${stream} failed while measuring stage CPU: the bench data has no bad rows, so look at the handler's log`,
          );
      }
      if (!fetched.length && (page.MillisBehindLatest ?? 0) === 0) break;
      iterator = page.NextShardIterator;
    }
  }
  return { micros, invocations };
}

/** The local Firehose in a process of its own, delivering to the pipeline's S3. */
async function startFirehoseProcess(stateFile: string) {
  const child = fork(join(__dirname, 'firehose-process.ts'), [stateFile], {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const endpoint = await new Promise<string>((resolve, reject) => {
    child.once('message', (m) => resolve((m as { endpoint: string }).endpoint));
    child.once('exit', (code) => reject(new Error(`the bench's Firehose process exited with code ${code}`)));
  });
  return {
    endpoint,
    flush: () =>
      new Promise<void>((resolve) => {
        child.once('message', () => resolve());
        child.send('flush');
      }),
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

export async function measureStages(pipeline: LocalPipeline, shards: number): Promise<StageCpu> {
  await pipeline.stopConsumers();
  const streams = { records: 'bench-stage-records', results: 'bench-stage-results' };
  for (const stream of Object.values(streams)) await createActiveStream(pipeline.kinesis, stream, shards);
  const gated = { ...process.env };
  for (const [service, upstream] of Object.entries(pipeline.iam?.upstreams ?? {}))
    process.env[endpointVariable(service as Service)] = upstream;
  const firehose = await startFirehoseProcess(join(pipeline.dataDir, 'bench-firehose', 'state.json'));
  try {
    process.env[ENV.recordsStream] = streams.records;
    process.env[ENV.resultsStream] = streams.results;
    process.env.AWS_ENDPOINT_URL_FIREHOSE = firehose.endpoint;
    const client = firehoseClient();
    await client.send(new CreateDeliveryStreamCommand(deliveryStreamDefinition()));
    client.destroy();
    resetReader();
    resetProcessor();
    resetWriter();

    const started = process.cpuUsage();
    const read = await readerHandler({
      runId: 'bench-stages',
      source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix: EXAMPLE_PREFIX },
    });
    const reader = cpuMicros(process.cpuUsage(started));
    const processor = await replay(pipeline.kinesis, streams.records, processorHandler);
    const writer = await replay(pipeline.kinesis, streams.results, writerHandler);
    await firehose.flush();
    return {
      envelopes: read.read,
      reader: reader / read.read,
      processor: processor.micros / read.read,
      writer: writer.micros / read.read,
      invocations: { processor: processor.invocations, writer: writer.invocations },
    };
  } finally {
    await firehose.close();
    // Back behind the gateways, as the pipeline was.
    for (const service of ['kinesis', 's3', 'firehose'] as const) {
      const variable = endpointVariable(service);
      if (gated[variable] === undefined) delete process.env[variable];
      else process.env[variable] = gated[variable];
    }
    resetReader();
    resetProcessor();
    resetWriter();
  }
}
