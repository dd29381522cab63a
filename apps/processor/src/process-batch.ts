import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { runBatch, type BatchStage } from '@pipeline/batch';
import { backoffDelay } from '@pipeline/batching';
import { type ClaimPort, PermanentError, transformContext, type Job, type TransformContext } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import {
  encodeEnvelope,
  formatIssues,
  type DataEnvelope,
  type DeadLetterEnvelope,
  type DeadLetterReason,
  type Envelope,
  type RecordId,
  type ResultEnvelope,
} from '@pipeline/records';
import { countFailure, parkRecords, RunLedger, type ControlCache } from '@pipeline/run-ledger';
import { Spill } from '@pipeline/spill';
import { PutRecordsError, type SlabPool, StreamProducer, type PutRecordsPort } from '@pipeline/stream-producer';

export interface ProcessorDeps {
  job: Job;
  putRecords: PutRecordsPort;
  resultsStream: string;
  spill: { store: ObjectStore; bucket: string; prefix: string; thresholdBytes: number };
  control: ControlCache;
  /**
   * The results bucket: records of paused runs are parked there, failing records counted, and the
   * claims of `context.once` written (`once/<job>/<key>`, put only if absent).
   */
  parking: { store: ObjectStore; bucket: string };
  /**
   * Where the results' packed records are cut from, kept across invocations of a warm function (see
   * SlabPool); only with a port that keeps no record's data once its call resolves. Fresh buffers
   * per invocation when absent.
   */
  slabs?: SlabPool;
  /** Invocations a record may fail in before it is dead-lettered as retries-exhausted. */
  recordInvocations?: number;
  recordAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface BatchCounts {
  results: number;
  deadLettered: number;
  forwarded: number;
  markers: number;
  parked: number;
  /** End-of-slice markers that could not be true, dead-lettered as rejected-marker. */
  rejectedMarkers: number;
  /** Records claiming an id their run's reader did not seal, dead-lettered as forged-record. */
  forged: number;
  failedFrom?: string;
}

/** A failure that may pass: the record is reported to the event source mapping and retried. */
class TransientRecordError extends Error {
  override readonly name = 'TransientRecordError';
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Handles one Kinesis batch from the records stream: every record becomes a result or a dead letter
 * on the results stream, in order per slice; end-of-slice markers that can be true follow their
 * slice's records. The shared loop (`@pipeline/batch`) decodes, parks, resolves pointers, checks
 * seals and markers and reports failures; this stage only says what becomes of one record.
 */
export async function processBatch(
  event: KinesisStreamEvent,
  deps: ProcessorDeps,
): Promise<KinesisStreamBatchResponse & { counts: BatchCounts }> {
  const spill = new Spill({ ...deps.spill });
  const out = new StreamProducer({
    streamName: deps.resultsStream,
    port: deps.putRecords,
    aggregateBytes: DEFAULTS.aggregateBytes,
    slabs: deps.slabs,
  });
  const counts = { results: 0, deadLettered: 0, forwarded: 0 };
  /** `scratch`: the bytes are a view of the encoder's scratch buffer, copied by the producer at once. */
  const send = (data: Uint8Array, partitionKey: string, scratch = false) =>
    out.addLine({ data, partitionKey }, scratch);
  const count = (counted: keyof typeof counts) => {
    counts[counted] += 1;
  };
  /** Sends bytes, counting them once they are out; a promise only when something is awaited. */
  const sendCounted = (
    data: Uint8Array | Promise<Uint8Array>,
    partitionKey: string,
    counted: keyof typeof counts,
    scratch = false,
  ): Promise<void> | undefined => {
    const sent =
      data instanceof Promise ? data.then((bytes) => send(bytes, partitionKey)) : send(data, partitionKey, scratch);
    if (sent !== undefined) return sent.then(() => count(counted));
    count(counted);
    return undefined;
  };
  /** Stages (spills if need be) and sends an envelope, encoded straight into bytes. */
  const emit = (envelope: Outcome, partitionKey: string, counted: keyof typeof counts) =>
    sendCounted(spill.stageScratch(envelope), partitionKey, counted, true);
  const concurrency = deps.job.concurrency ?? DEFAULTS.transformConcurrency;
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(
      `job ${deps.job.name}: concurrency ${concurrency} is not a positive integer; check the job's module`,
    );

  const claim = claimPort(deps);
  const stage: BatchStage = {
    name: 'processor',
    checkSeals: true,
    concurrency,
    // The transform (with its in-handler retries) runs ahead, up to `concurrency` records at once.
    prepare: (envelope) => (envelope.kind === 'data' ? processData(envelope, deps, claim) : undefined),
    handle(envelope, at, prepared) {
      switch (envelope.kind) {
        case 'dead-letter': {
          // Passes on as it came (a spilled one as its pointer).
          return sendCounted(at.pointer ? encodeEnvelope(at.pointer) : at.bytes, at.partitionKey, 'forwarded');
        }
        case 'result':
          return emit(misplaced(envelope), at.partitionKey, 'deadLettered');
        case 'data': {
          const outcome = prepared as Outcome;
          return emit(outcome, at.partitionKey, outcome.kind === 'result' ? 'results' : 'deadLettered');
        }
      }
    },
    async deadLetter(letter, at) {
      await send(await spill.stage(letter), at.partitionKey);
    },
    barrier: () => out.flush(),
    async sliceEnd(_marker, at) {
      await send(at.bytes, at.partitionKey);
      await out.flush();
    },
    park: (run, records) => parkRecords(deps.parking.store, deps.parking.bucket, 'processor', run, records),
    // The results stream refused a batch after its bounded attempts: it held output of earlier
    // records too, so the whole invocation must be retried, not just this record.
    isFatal: (error) => error instanceof PutRecordsError,
    // Anything else not caught as deterministic may pass (a throttled call, a timeout): retry the
    // record a bounded number of invocations, then dead-letter it so the shard moves on.
    async giveUp(id, error, envelope, at) {
      if (!(await givenUp(id, error.message, deps))) return false;
      await send(await spill.stage(retriesExhausted(id, error.message, envelope, deps)), at.partitionKey);
      counts.deadLettered += 1;
      return true;
    },
    finish: () => out.flush(),
  };

  const { batchItemFailures, counts: loop } = await runBatch(event, stage, {
    spill,
    ledger: new RunLedger(deps.parking.store, deps.parking.bucket),
    control: deps.control,
    log: deps.log,
  });
  return {
    batchItemFailures,
    counts: {
      results: counts.results,
      deadLettered: counts.deadLettered + loop.deadLettered,
      forwarded: counts.forwarded,
      markers: loop.markers,
      parked: loop.parked,
      rejectedMarkers: loop.rejectedMarkers,
      forged: loop.forged,
      ...(loop.failedFrom ? { failedFrom: loop.failedFrom } : {}),
    },
  };
}

async function givenUp(id: RecordId, message: string, deps: ProcessorDeps): Promise<boolean> {
  try {
    const invocations = await countFailure(deps.parking.store, deps.parking.bucket, id, message);
    return invocations >= (deps.recordInvocations ?? DEFAULTS.recordInvocations);
  } catch {
    return false; // the count itself failed: leave the record to the event source mapping's retries
  }
}

function retriesExhausted(
  id: RecordId,
  message: string,
  envelope: Envelope | undefined,
  deps: ProcessorDeps,
): DeadLetterEnvelope {
  const invocations = deps.recordInvocations ?? DEFAULTS.recordInvocations;
  const payload = envelope && envelope.kind === 'data' ? envelope.body : envelope;
  return deadLetter(
    id,
    'retries-exhausted',
    `failed in ${invocations} invocations, last: ${message}`,
    payload,
    invocations,
  );
}

type Outcome = ResultEnvelope | DeadLetterEnvelope;

const isPromise = (value: unknown): value is Promise<unknown> =>
  typeof (value as { then?: unknown } | null)?.then === 'function';

/**
 * Validates, transforms and validates again; returns the result or the dead letter that explains
 * why not. Synchronous when the transform is: nothing is awaited that need not be.
 */
function processData(envelope: DataEnvelope, deps: ProcessorDeps, claim: ClaimPort): Outcome | Promise<Outcome> {
  const { job, id } = { job: deps.job, id: envelope.id };
  const input = job.input.safeParse(envelope.body);
  if (!input.success)
    return deadLetter(
      id,
      'invalid-input',
      `input fails the ${job.name} input schema: ${formatIssues(input.error)}`,
      envelope.body,
    );
  // One context for every attempt at the record: a retry finds the claims of the attempts before it.
  const context = transformContext(id, job.name, claim);
  let output: unknown;
  try {
    output = job.transform(input.data, context);
  } catch (error) {
    return retryTransform(envelope, input.data, context, deps, error);
  }
  if (isPromise(output))
    return output.then(
      (value) => checkResult(envelope, value, deps),
      (error) => retryTransform(envelope, input.data, context, deps, error),
    );
  return checkResult(envelope, output, deps);
}

/** The transform failed once: a permanent failure is dead-lettered, a transient one retried with backoff. */
async function retryTransform(
  envelope: DataEnvelope,
  input: unknown,
  context: TransformContext,
  deps: ProcessorDeps,
  first: unknown,
): Promise<Outcome> {
  const { job, id } = { job: deps.job, id: envelope.id };
  const attempts = deps.recordAttempts ?? DEFAULTS.recordAttempts;
  let error = first;
  for (let attempt = 0; ; attempt++) {
    if (error instanceof PermanentError)
      return deadLetter(id, 'transform-failed', error.message, envelope.body, attempt + 1);
    if (attempt + 1 >= attempts)
      throw new TransientRecordError(`transform failed ${attempts} times: ${(error as Error).message}`);
    await (deps.sleep ?? sleepFor)(
      backoffDelay(attempt, { baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs }),
    );
    try {
      return checkResult(envelope, await job.transform(input, context), deps);
    } catch (next) {
      error = next;
    }
  }
}

/**
 * `once` claiming in the results bucket with a conditional PUT. A 412 is read back: the SDK retries a
 * PUT whose answer was lost, and the retry meets the claim the first try made. The body names this
 * claim alone (see transformContext), so it tells whose the claim is.
 */
function claimPort(deps: ProcessorDeps): ClaimPort {
  const { store, bucket } = deps.parking;
  return async (key, body) => {
    if (await store.putIfAbsent(bucket, key, body)) return true;
    const held = await store.get(bucket, key);
    return held !== undefined && Buffer.from(held).toString('utf8') === body;
  };
}

function checkResult(envelope: DataEnvelope, output: unknown, deps: ProcessorDeps): Outcome {
  const { job, id } = { job: deps.job, id: envelope.id };
  const result = job.result.safeParse(output);
  if (!result.success) {
    return deadLetter(
      id,
      'invalid-result',
      `result fails the ${job.name} result schema: ${formatIssues(result.error)}`,
      { input: envelope.body, result: output },
    );
  }
  return { v: 1 as const, kind: 'result' as const, id, body: result.data };
}

function deadLetter(
  id: RecordId,
  reason: DeadLetterReason,
  message: string,
  payload: unknown,
  attempts?: number,
): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    id,
    stage: 'processor',
    reason,
    message,
    payload,
    ...(attempts ? { attempts } : {}),
  };
}

function misplaced(envelope: Envelope & { id?: RecordId }): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    id: envelope.id,
    stage: 'processor',
    reason: 'invalid-envelope',
    message: `a ${envelope.kind} envelope does not belong on the records stream`,
    payload: envelope,
  };
}
