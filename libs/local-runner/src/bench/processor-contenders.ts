import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { processBatch, type ProcessorDeps } from '@apps/processor';
import { readRun } from '@apps/reader';
import { exampleJob } from '@pipeline/example-job';
import { type Job, memoryClaims, transformContext } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import { encodeResultBytes, hasValidSeal } from '@pipeline/records';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { SlabPool } from '@pipeline/stream-producer';
import { loadExampleData } from '../example-data';
import { benchData } from './data';
import { asFetched, memoryObjectSource, memoryObjectStore, memoryPutRecordsPort, toEvents } from './memory';
import { cpuMicros } from './machine';

/**
 * The contenders of the processor comparison (see processor-compare.ts), each driven over the same
 * events: the reader's output for the same data set, packed as the reader packs it (captured from
 * the reader itself, with in-memory ports), cut into events as the event source mapping cuts them.
 * This module runs inside a contender's own process, bundled as the Lambda build bundles a function.
 */

export const POWERTOOLS_MISSING = 'Powertools comparison skipped: npm i -D @aws-lambda-powertools/batch';

const BUCKETS = { source: 'bench-source', results: 'bench-results', spill: 'bench-spill' } as const;
const COMPARE_RUN = 'bench-compare';

export interface Contender {
  name: string;
  /** What it does to each envelope, for the report. */
  does: string;
  handle(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse>;
  /** Results it made in the last round, to check it did the work. */
  results(): number;
  reset(): void;
}

/** The reader's records for `envelopes` rows of the bench data, with its manifest and markers in `store`. */
export async function readerEvents(envelopes: number, store: ObjectStore & { objects: Map<string, Uint8Array> }) {
  await loadExampleData(store, BUCKETS.source, 'example/', benchData(envelopes));
  const port = memoryPutRecordsPort({ keep: true });
  const started = process.cpuUsage();
  const read = await readRun(
    { runId: COMPARE_RUN, source: { bucket: BUCKETS.source, prefix: 'example/' } },
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
  // As the handler wires it: one pool for the warm function's life (the port keeps nothing).
  const slabs = new SlabPool();
  const deps = (): ProcessorDeps => ({
    job,
    putRecords: out,
    resultsStream: 'bench-results',
    spill: { store, bucket: BUCKETS.spill, prefix: DEFAULTS.spillPrefix, thresholdBytes: DEFAULTS.spillThresholdBytes },
    control: new ControlCache(new RunLedger(store, BUCKETS.results)),
    parking: { store, bucket: BUCKETS.results },
    slabs,
  });
  let wired = deps();
  return {
    name: PROCESS_BATCH,
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
    name: PLAIN_LOOP,
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
    name: POWERTOOLS,
    does: 'BatchProcessor(KinesisDataStreams) + processPartialResponse over the plain loop’s record handler',
    handle: (event) => batch.processPartialResponse(event, handle, processor),
    results: () => sink.results,
    reset() {
      sink.bytes = 0;
      sink.results = 0;
    },
  };
}

/**
 * The floor: what any processor of these events must do to each record, with the fastest means at
 * hand and nothing around it — base64, the seal's GMAC, UTF-8 decode, JSON.parse, zod in, the
 * transform, zod out, the result encoded to bytes (the processor's encoder) and copied into a packed
 * buffer. No pointers, markers, pause checks, dead letters, retries or puts: it throws on anything
 * the bench data does not hold. It is not a processor; it shows how low a processor could go.
 */
export function floorContender(runKey: string): Contender {
  const claims = memoryClaims();
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  let packed = Buffer.allocUnsafe(DEFAULTS.aggregateBytes * 2);
  let results = 0;
  return {
    name: FLOOR,
    does: 'base64, seal GMAC, UTF-8 decode, JSON.parse, zod in, transform, zod out, encode, copy; nothing else',
    async handle(event) {
      for (const record of event.Records) {
        const data = Buffer.from(record.kinesis.data, 'base64');
        const sealed = hasValidSeal(data, runKey);
        let at = 0;
        for (const line of utf8.decode(data).split('\n')) {
          const envelope = JSON.parse(line);
          if (envelope.kind !== 'data') continue; // end-of-slice markers, which carry no seal
          if (!sealed) throw new Error('a data record without a valid seal: the harness lost the run key');
          const input = exampleJob.input.parse(envelope.body);
          const body = exampleJob.result.parse(
            exampleJob.transform(input, transformContext(envelope.id, exampleJob.name, claims)),
          );
          const bytes = encodeResultBytes({ v: 1, kind: 'result', id: envelope.id, body });
          if (at + bytes.byteLength > packed.byteLength) packed = Buffer.allocUnsafe(2 * (at + bytes.byteLength));
          packed.set(bytes, at);
          at += bytes.byteLength;
          results += 1;
        }
      }
      return { batchItemFailures: [] };
    },
    results: () => results,
    reset() {
      results = 0;
    },
  };
}

export const PROCESS_BATCH = 'processBatch';
export const POWERTOOLS = 'Powertools';
export const PLAIN_LOOP = 'plain loop';
export const FLOOR = 'floor';
/** The contenders, in the order they are reported. */
export const CONTENDERS = [PROCESS_BATCH, POWERTOOLS, PLAIN_LOOP, FLOOR] as const;
export type ContenderName = (typeof CONTENDERS)[number];

/** One contender's CPU per envelope, pass by pass, measured in this process. */
export interface ContenderPasses {
  name: ContenderName;
  does: string;
  envelopes: number;
  envelopeBytes: number;
  records: number;
  events: number;
  /** The reader's CPU per envelope producing the events, in-memory ports. */
  readerMicros: number;
  /** CPU µs per envelope of each measured pass. */
  passes: number[];
  /** CPU µs per envelope of the very first pass: the code still cold, compiled as it runs. */
  firstPass: number;
  results: number;
}

/** Passes before the measured ones: the processor's code takes 3 or 4 (60,000–80,000 envelopes) to be optimized. */
export const WARM_UP_PASSES = 5;

/**
 * Measures one contender in this process: the events are made first (the reader's own output), then
 * `warmUp` passes (the first is reported apart, as the cold cost), then `rounds` measured ones, back
 * to back as a warm function takes batch after batch. The process is the contender's alone, so the
 * garbage a pass collects is its own. No full GC is forced between passes: it would free what the
 * optimized code holds on to (each invocation's objects) and throw that code away, which Lambda never
 * does between two invocations. Undefined when the contender is not installed (Powertools).
 */
export async function measureContender(
  name: ContenderName,
  options: { envelopes: number; rounds: number; warmUp?: number },
): Promise<ContenderPasses | undefined> {
  const store = memoryObjectStore();
  const { read, records, readerMicros } = await readerEvents(options.envelopes, store);
  const events = toEvents(asFetched(records), DEFAULTS.batchSize);
  const dataEnvelopes = read.read - read.malformed;
  const contender = await contenderNamed(name, store);
  if (!contender) return undefined;
  const passes: number[] = [];
  const warmUp = options.warmUp ?? WARM_UP_PASSES;
  let firstPass = Number.NaN;
  for (let pass = 0; pass < warmUp + options.rounds; pass++) {
    const micros = await cpuOfPass(contender, events);
    if (contender.results() !== dataEnvelopes)
      throw new Error(
        `${contender.name} made ${contender.results()} results of ${dataEnvelopes} envelopes: the harness no longer drives it as the handler does (check bench/processor-contenders.ts against its deps)`,
      );
    if (pass === 0) firstPass = micros / read.read;
    if (pass >= warmUp) passes.push(micros / read.read);
  }
  return {
    name,
    does: contender.does,
    envelopes: read.read,
    envelopeBytes: records.reduce((sum, r) => sum + r.data.byteLength, 0) / read.read,
    records: records.length,
    events: events.length,
    readerMicros,
    passes,
    firstPass,
    results: contender.results(),
  };
}

async function contenderNamed(name: ContenderName, store: ObjectStore): Promise<Contender | undefined> {
  switch (name) {
    case PROCESS_BATCH:
      return processBatchContender(store);
    case POWERTOOLS:
      return powertoolsContender();
    case PLAIN_LOOP:
      return plainLoopContender();
    case FLOOR: {
      const manifest = await new RunLedger(store, BUCKETS.results).getManifest(COMPARE_RUN);
      if (!manifest?.runKey) throw new Error(`the reader left no manifest with a run key for run ${COMPARE_RUN}`);
      return floorContender(manifest.runKey);
    }
  }
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
