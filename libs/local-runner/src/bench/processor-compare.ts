import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { processBatch, type ProcessorDeps } from '@apps/processor';
import { readRun } from '@apps/reader';
import { exampleJob } from '@pipeline/example-job';
import { type Job, memoryClaims, transformContext } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { loadExampleData } from '../example-data';
import type { IoBoundResult } from './io-bound';
import { benchData } from './data';
import { asFetched, memoryObjectSource, memoryObjectStore, memoryPutRecordsPort, toEvents } from './memory';
import { cpuMicros } from './machine';

/**
 * The processor's own CPU per envelope against Powertools' batch utility and a plain loop, on the
 * same events: the reader's output for the same data set, packed as the reader packs it (captured
 * from the reader itself, with in-memory ports), cut into events as the event source mapping cuts them.
 */

export const POWERTOOLS_MISSING = 'Powertools comparison skipped: npm i -D @aws-lambda-powertools/batch';

const BUCKETS = { source: 'bench-source', results: 'bench-results', spill: 'bench-spill' } as const;

export interface Contender {
  name: string;
  /** What it does to each envelope, for the report. */
  does: string;
  handle(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse>;
  /** Results it made in the last round, to check it did the work. */
  results(): number;
  reset(): void;
}

export interface CompareResult {
  envelopes: number;
  envelopeBytes: number;
  records: number;
  events: number;
  /** The reader's CPU per envelope producing those events, in-memory ports. */
  readerMicros: number;
  contenders: { name: string; does: string; micros: number; rounds: number[]; results: number }[];
  skipped: string[];
  /** The I/O-bound case: records/s per shard, sequential and at the default concurrency. */
  ioBound?: IoBoundResult;
}

/** The reader's records for `envelopes` rows of the bench data, with its manifest and markers in `store`. */
export async function readerEvents(envelopes: number, store: ObjectStore & { objects: Map<string, Uint8Array> }) {
  await loadExampleData(store, BUCKETS.source, 'example/', benchData(envelopes));
  const port = memoryPutRecordsPort({ keep: true });
  const started = process.cpuUsage();
  const read = await readRun(
    { runId: 'bench-compare', source: { bucket: BUCKETS.source, prefix: 'example/' } },
    {
      job: exampleJob,
      objects: memoryObjectSource(store),
      ledger: new RunLedger(store, BUCKETS.results),
      putRecords: port,
      recordsStream: 'bench-records',
      spill: {
        store,
        bucket: BUCKETS.spill,
        prefix: DEFAULTS.spillPrefix,
        thresholdBytes: DEFAULTS.spillThresholdBytes,
      },
      sliceBytes: DEFAULTS.sliceBytes,
      concurrency: DEFAULTS.readerConcurrency,
    },
  );
  const readerMicros = cpuMicros(process.cpuUsage(started)) / read.read;
  // The source objects are not needed any more; the ledger's objects are (manifest, read markers).
  for (const key of [...store.objects.keys()]) if (key.startsWith(`${BUCKETS.source}/`)) store.objects.delete(key);
  return { read, records: port.records, readerMicros };
}

/** processBatch exactly as the Lambda handler calls it, its ports in memory. */
export function processBatchContender(store: ObjectStore, job: Job = exampleJob as Job): Contender {
  let out = memoryPutRecordsPort({ keep: false });
  let results = 0;
  const deps = (): ProcessorDeps => ({
    job,
    putRecords: out,
    resultsStream: 'bench-results',
    spill: { store, bucket: BUCKETS.spill, prefix: DEFAULTS.spillPrefix, thresholdBytes: DEFAULTS.spillThresholdBytes },
    control: new ControlCache(new RunLedger(store, BUCKETS.results)),
    parking: { store, bucket: BUCKETS.results },
  });
  let wired = deps();
  return {
    name: 'processBatch',
    does: 'the processor: unpack, pointers, pause check, zod in, transform, zod out, spill check, pack, put (in memory)',
    async handle(event) {
      const response = await processBatch(event, wired);
      results += response.counts.results;
      return response;
    },
    results: () => results,
    reset() {
      out = memoryPutRecordsPort({ keep: false });
      wired = deps();
      results = 0;
    },
  };
}

/** What the plain loop and Powertools do to one record: the standard library, the job's schemas and transform. */
function plainRecordHandler(sink: { bytes: number; results: number }) {
  const claims = memoryClaims();
  return async (record: KinesisStreamRecord): Promise<void> => {
    const text = Buffer.from(record.kinesis.data, 'base64').toString('utf8');
    for (const line of text.split('\n')) {
      const envelope = JSON.parse(line);
      if (envelope.kind !== 'data') continue; // end-of-slice markers pass on untouched
      const input = exampleJob.input.parse(envelope.body);
      const output = exampleJob.result.parse(
        await exampleJob.transform(input, transformContext(envelope.id, exampleJob.name, claims)),
      );
      sink.bytes += Buffer.byteLength(JSON.stringify({ v: 1, kind: 'result', id: envelope.id, body: output }));
      sink.results += 1;
    }
  };
}

export function plainLoopContender(): Contender {
  const sink = { bytes: 0, results: 0 };
  const handle = plainRecordHandler(sink);
  return {
    name: 'plain loop',
    does: 'for each record: base64, split lines, JSON.parse, zod in, transform, zod out, JSON.stringify',
    async handle(event) {
      const batchItemFailures: { itemIdentifier: string }[] = [];
      for (const record of event.Records) {
        try {
          await handle(record);
        } catch {
          batchItemFailures.push({ itemIdentifier: record.kinesis.sequenceNumber });
        }
      }
      return { batchItemFailures };
    },
    results: () => sink.results,
    reset() {
      sink.bytes = 0;
      sink.results = 0;
    },
  };
}

interface PowertoolsBatch {
  BatchProcessor: new (type: string) => unknown;
  EventType: { KinesisDataStreams: string };
  processPartialResponse(
    event: KinesisStreamEvent,
    handler: (record: KinesisStreamRecord) => Promise<void>,
    processor: unknown,
  ): Promise<KinesisStreamBatchResponse>;
}

/** Powertools' batch utility, when it is installed (a dev dependency only the bench uses). */
export function powertoolsContender(): Contender | undefined {
  let batch: PowertoolsBatch;
  try {
    batch = require('@aws-lambda-powertools/batch') as PowertoolsBatch;
  } catch {
    return undefined;
  }
  const sink = { bytes: 0, results: 0 };
  const handle = plainRecordHandler(sink);
  const processor = new batch.BatchProcessor(batch.EventType.KinesisDataStreams);
  return {
    name: 'Powertools',
    does: 'BatchProcessor(KinesisDataStreams) + processPartialResponse over the plain loop’s record handler',
    handle: (event) => batch.processPartialResponse(event, handle, processor),
    results: () => sink.results,
    reset() {
      sink.bytes = 0;
      sink.results = 0;
    },
  };
}

/** CPU µs of one pass of a contender over every event; the event loop runs nothing else meanwhile. */
async function cpuOfPass(contender: Contender, events: KinesisStreamEvent[]): Promise<number> {
  contender.reset();
  const started = process.cpuUsage();
  for (const event of events) {
    const { batchItemFailures } = await contender.handle(event);
    if (batchItemFailures.length)
      throw new Error(
        `${contender.name} reported ${batchItemFailures.length} failed records: the bench data has no bad rows, so check the harness`,
      );
  }
  return cpuMicros(process.cpuUsage(started));
}

/**
 * Runs the contenders in turns (one warm-up pass each, then `rounds` passes in rotation, so load and
 * JIT state hit them alike) and keeps each one's median pass.
 */
export async function compareProcessors(options: { envelopes: number; rounds: number }): Promise<CompareResult> {
  const store = memoryObjectStore();
  const { read, records, readerMicros } = await readerEvents(options.envelopes, store);
  const events = toEvents(asFetched(records), DEFAULTS.batchSize);
  const dataEnvelopes = read.read - read.malformed;
  const powertools = powertoolsContender();
  const contenders = [processBatchContender(store), ...(powertools ? [powertools] : []), plainLoopContender()];
  const rounds = new Map<Contender, number[]>(contenders.map((c) => [c, []]));
  for (const c of contenders) await cpuOfPass(c, events);
  for (let round = 0; round < options.rounds; round++) {
    for (const c of contenders) {
      const micros = await cpuOfPass(c, events);
      if (c.results() !== dataEnvelopes)
        throw new Error(
          `${c.name} made ${c.results()} results of ${dataEnvelopes} envelopes: the harness no longer drives it as the handler does (check bench/processor-compare.ts against its deps)`,
        );
      rounds.get(c)?.push(micros / read.read);
    }
  }
  const envelopeBytes = records.reduce((sum, r) => sum + r.data.byteLength, 0) / read.read;
  return {
    envelopes: read.read,
    envelopeBytes,
    records: records.length,
    events: events.length,
    readerMicros,
    contenders: [...rounds].map(([c, passes]) => ({
      name: c.name,
      does: c.does,
      micros: median(passes),
      rounds: passes,
      results: c.results(),
    })),
    skipped: powertools ? [] : [POWERTOOLS_MISSING],
  };
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
