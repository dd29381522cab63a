import type { Job } from '@pipeline/job';
import { exampleJob } from '@pipeline/example-job';
import { DEFAULTS } from '@pipeline/limits';
import { asFetched, memoryObjectStore, toEvents } from './memory';
import { processBatchContender, readerEvents } from './processor-contenders';

/**
 * An I/O-bound job on one shard: the example job's transform behind a wait of `delayMs` (an API
 * call), processed by processBatch in memory, sequentially (concurrency 1) and at the default
 * concurrency. What it measures is the overlap of the waits, so wall time is the figure here.
 */
export interface IoBoundResult {
  delayMs: number;
  concurrency: number;
  sequential: { records: number; perSecond: number };
  parallel: { records: number; perSecond: number };
  /** Parallel records/s over sequential. */
  speedup: number;
}

const wait = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export function ioBoundJob(delayMs: number, concurrency: number): Job {
  return {
    ...(exampleJob as Job),
    concurrency,
    async transform(input, context) {
      await wait(delayMs);
      return exampleJob.transform(input as Parameters<typeof exampleJob.transform>[0], context);
    },
  };
}

/** Records/s of one shard's batches through processBatch with an I/O-bound transform. */
async function recordsPerSecond(records: number, job: Job): Promise<number> {
  const store = memoryObjectStore();
  const { records: put } = await readerEvents(records, store);
  const events = toEvents(asFetched(put), DEFAULTS.batchSize);
  const contender = processBatchContender(store, job);
  const started = performance.now();
  for (const event of events) {
    const { batchItemFailures } = await contender.handle(event);
    if (batchItemFailures.length)
      throw new Error(`the I/O-bound job failed ${batchItemFailures.length} records: check the harness`);
  }
  const seconds = (performance.now() - started) / 1000;
  if (contender.results() !== records)
    throw new Error(`the I/O-bound job made ${contender.results()} results of ${records}: check the harness`);
  return records / seconds;
}

/**
 * Sequential and parallel records/s. Each side processes about `seconds` of work: the sequential
 * side 1 / delay records a second, the parallel side `concurrency` times as many.
 */
export async function compareIoBound(options: { delayMs?: number; concurrency?: number; seconds?: number } = {}) {
  const delayMs = options.delayMs ?? 50;
  const concurrency = options.concurrency ?? DEFAULTS.transformConcurrency;
  const seconds = options.seconds ?? 1;
  const sequentialRecords = Math.max(2, Math.round((seconds * 1000) / delayMs));
  const parallelRecords = sequentialRecords * concurrency;
  const sequential = await recordsPerSecond(sequentialRecords, ioBoundJob(delayMs, 1));
  const parallel = await recordsPerSecond(parallelRecords, ioBoundJob(delayMs, concurrency));
  return {
    delayMs,
    concurrency,
    sequential: { records: sequentialRecords, perSecond: sequential },
    parallel: { records: parallelRecords, perSecond: parallel },
    speedup: parallel / sequential,
  } satisfies IoBoundResult;
}
