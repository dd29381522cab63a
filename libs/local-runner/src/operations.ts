import { createHash } from 'node:crypto';
import type { KinesisStreamEvent } from 'aws-lambda';
import { processRun, selectRun } from '@apps/processor';
import { collateRun, parseDeadLetterKey, type RunSummary } from '@pipeline/collation';
import { DEFAULTS } from '@pipeline/limits';
import { createEventSourceMapping, memoryCheckpointStore } from '@pipeline/local-stack';
import { getJson, type ObjectStore } from '@pipeline/object-store';
import {
  DEAD_LETTER_REASONS,
  decodeEnvelope,
  encodeEnvelope,
  LAYOUT,
  partitionKeyOf,
  recordSealer,
  type DeadLetterEnvelope,
  type DeadLetterReason,
  type Envelope,
} from '@pipeline/records';
import {
  parkedPrefix,
  type ParkedRecord,
  type ParkingStage,
  type RunStalled,
  type RunStatus,
} from '@pipeline/run-ledger';
import { Spill } from '@pipeline/spill';
import { readConfig } from '@pipeline/config';
import { kinesisPutRecordsPort, StreamProducer } from '@pipeline/stream-producer';
import { job } from '@pipeline/active-job';
import { parseRows } from '@pipeline/sources';
import { LOCAL_RESOURCES, type LocalPipeline } from './local-pipeline';

export class CommandError extends Error {
  override readonly name = 'CommandError';
}

const bucket = LOCAL_RESOURCES.resultsBucket;

/** A run's progress slice by slice, and whether it is complete, stalled or paused. */
export interface StatusReport {
  runId: string;
  /** `delivering`: every slice is done and handed to Firehose, the output is not all in S3 yet. */
  state: 'unknown' | 'running' | 'paused' | 'delivering' | 'complete' | 'stalled';
  complete: boolean;
  slices: number;
  slicesRead: number;
  slicesDone: number;
  read: number;
  /** Slices not yet done when the run is past its deadline, or whose output is missing when its delivery stalled. */
  missingSlices: string[];
  /** When its delivery stalled: the slices' missing positions, as the finisher found them. */
  stalled?: RunStalled;
  deadline?: string;
  summary?: RunSummary;
  /** Batches the event source mappings gave up on (their on-failure destination), for every run. */
  eventSourceFailures: number;
  /** End-of-slice markers for this run that could not be true (dead-lettered as rejected-marker). */
  rejectedMarkers: number;
  /** Records claiming this run's ids that its reader did not seal (dead-lettered as forged-record). */
  forgedRecords: number;
  perSlice: { id: string; read?: number; malformed?: number; spilled?: number; done: boolean }[];
}

export async function runStatus(
  pipeline: LocalPipeline,
  runId: string,
  now = new Date(),
  deadlineMinutes: number = DEFAULTS.runDeadlineMinutes,
): Promise<StatusReport> {
  let status: RunStatus = await pipeline.ledger.status(runId);
  const manifest = status.manifest;
  if (!manifest)
    throw new CommandError(`run ${runId} does not exist: no manifest at s3://${bucket}/${LAYOUT.manifestKey(runId)}`);
  if (status.delivery === 'delivering' || status.delivery === 'stalled') {
    // What the finisher's queue does in AWS when the run's message comes back: look in S3 again.
    await pipeline.finish(runId, now);
    status = await pipeline.ledger.status(runId);
  }
  const deadline = new Date(new Date(manifest.createdAt).getTime() + deadlineMinutes * 60_000);
  const paused = status.control?.state === 'paused';
  const state: StatusReport['state'] = status.complete
    ? 'complete'
    : status.delivery === 'stalled'
      ? 'stalled'
      : paused
        ? 'paused'
        : status.delivery === 'delivering'
          ? 'delivering'
          : now > deadline
            ? 'stalled'
            : 'running';
  const missingSlices =
    state !== 'stalled'
      ? []
      : status.stalled
        ? [...status.stalled.unreadSlices, ...status.stalled.missing.map((s) => s.slice)]
        : status.slices.filter((s) => !s.done).map((s) => s.id);
  return {
    runId,
    state,
    complete: status.complete,
    slices: status.slices.length,
    slicesRead: status.slicesRead,
    slicesDone: status.slicesDone,
    read: status.read,
    missingSlices,
    stalled: status.stalled,
    deadline: deadline.toISOString(),
    summary: await getJson<RunSummary>(pipeline.store, bucket, LAYOUT.summaryKey(runId)),
    eventSourceFailures: await countObjects(pipeline.store, LAYOUT.onFailurePrefix()),
    rejectedMarkers: await countObjects(pipeline.store, LAYOUT.deadLettersPrefix(runId, 'rejected-marker')),
    forgedRecords: await countObjects(pipeline.store, LAYOUT.deadLettersPrefix(runId, 'forged-record')),
    perSlice: status.slices.map((s) => ({
      id: s.id,
      read: s.read?.count,
      malformed: s.read?.malformed,
      spilled: s.read?.spilled,
      done: Boolean(s.done),
    })),
  };
}

export interface DeadLetterListing {
  runId: string;
  total: number;
  byReason: Record<string, number>;
  letters: { id: string; reason: string; stage: string; message: string; key: string }[];
}

/** Lists a run's dead letters, optionally of one reason; reads at most `limit` of them in full. */
export async function listDeadLetters(
  store: ObjectStore,
  runId: string,
  reason?: string,
  limit = 50,
): Promise<DeadLetterListing> {
  checkReason(reason);
  const byReason: Record<string, number> = {};
  const letters: DeadLetterListing['letters'] = [];
  for await (const object of store.list(bucket, LAYOUT.deadLettersPrefix(runId, reason))) {
    const parsed = parseDeadLetterKey(runId, object.key) ?? unattributedKey(runId, object.key);
    if (!parsed) continue;
    byReason[parsed.reason] = (byReason[parsed.reason] ?? 0) + 1;
    if (letters.length < limit) {
      const letter = await getJson<DeadLetterEnvelope>(store, bucket, object.key);
      if (letter)
        letters.push({
          id: parsed.id,
          reason: parsed.reason,
          stage: letter.stage,
          message: letter.message,
          key: object.key,
        });
    }
  }
  return { runId, total: Object.values(byReason).reduce((a, b) => a + b, 0), byReason, letters };
}

/** Dead letters of unreadable envelopes have no record id: they are named by where they were on the stream. */
function unattributedKey(runId: string, key: string): { id: string; reason: string } | undefined {
  const match = /^reason=([a-z-]+)\/origin\/(.+)\.json$/.exec(key.slice(LAYOUT.deadLettersPrefix(runId).length));
  return match ? { reason: match[1], id: `origin:${decodeURIComponent(match[2])}` } : undefined;
}

function checkReason(reason?: string): asserts reason is DeadLetterReason | undefined {
  if (reason !== undefined && !(DEAD_LETTER_REASONS as readonly string[]).includes(reason)) {
    throw new CommandError(`unknown reason "${reason}": use one of ${DEAD_LETTER_REASONS.join(', ')}`);
  }
}

/**
 * What a dead letter is redriven as: the data envelope the processor should see again, or
 * undefined when nothing can be redriven (an unreadable envelope has no record to rebuild).
 */
export async function redriveEnvelope(letter: DeadLetterEnvelope): Promise<Envelope | undefined> {
  if (!letter.id) return undefined;
  switch (letter.reason) {
    case 'malformed-row': {
      // A row of a job's own source function was never text: nothing to parse again.
      if (!('format' in job.source)) return letter;
      // Parse the raw row again with the job's current parser: a fixed parser now accepts it.
      for await (const row of parseRows(
        (async function* () {
          yield { pos: letter.id!.pos, ok: true as const, line: String(letter.payload) };
        })(),
        job.source,
      )) {
        return row.ok ? { v: 1, kind: 'data', id: letter.id, body: row.row } : letter;
      }
      return letter;
    }
    case 'invalid-result':
      return { v: 1, kind: 'data', id: letter.id, body: (letter.payload as { input: unknown }).input };
    case 'unencodable':
      return undefined; // the value itself could not be kept: fix the source row and run again
    case 'pointer-rejected':
    case 'pointer-mismatch':
    case 'pointer-missing':
    case 'invalid-envelope':
      // The payload is the envelope as it arrived (a pointer): put it back as it was.
      return letter.payload as Envelope;
    default: {
      // A spilled record's dead letter keeps its pointer: put the pointer back as it was.
      const payload = letter.payload as { kind?: string } | undefined;
      if (payload && typeof payload === 'object' && payload.kind === 'pointer') return letter.payload as Envelope;
      return { v: 1, kind: 'data', id: letter.id, body: letter.payload };
    }
  }
}

export interface RedriveReport {
  runId: string;
  redriven: number;
  skipped: number;
  summary: RunSummary;
}

/**
 * Puts a run's dead letters (all, or one reason's) back through the processor. Each is copied to
 * an archive first and removed only once the redrive is through; a record that fails again is
 * dead-lettered anew. The redriven records travel behind their
 * own end-of-slice marker, so the writer says when the redrive is through, and the run is collated
 * again: a redriven record reaches the output once, and no longer counts as dead-lettered.
 */
export async function redrive(pipeline: LocalPipeline, runId: string, reason?: string): Promise<RedriveReport> {
  checkReason(reason);
  await requireManifest(pipeline, runId);
  const runKey = (await pipeline.ledger.getManifest(runId))?.runKey;
  const redriveSlice = `redrive-${Date.now()}`;
  const partitionKey = partitionKeyOf(runId, redriveSlice);
  const producer = new StreamProducer({
    streamName: LOCAL_RESOURCES.recordsStream,
    port: kinesisPutRecordsPort(pipeline.kinesis),
    // The redrive puts records for the run's reader: sealed with the run's key, as the reader seals them.
    ...(runKey === undefined ? {} : { seal: recordSealer(runKey) }),
  });
  // Spill as the reader does: the same bucket, prefix and threshold the handlers were given.
  const config = readConfig(['spillBucket']);
  const spill = new Spill({
    store: pipeline.store,
    bucket: config.spillBucket,
    prefix: config.spillPrefix,
    thresholdBytes: config.spillThresholdBytes,
  });
  let redriven = 0;
  let skipped = 0;
  const moved: { key: string; recordedAt?: string }[] = [];
  await pipeline.startConsumers();
  for await (const object of pipeline.store.list(bucket, LAYOUT.deadLettersPrefix(runId, reason))) {
    const letter = await getJson<DeadLetterEnvelope & { recordedAt?: string }>(pipeline.store, bucket, object.key);
    const envelope = letter && (await redriveEnvelope(letter));
    if (!envelope || envelope.kind === 'end-of-slice') {
      skipped += 1;
      continue;
    }
    await pipeline.store.put(bucket, `archived-${object.key}`, JSON.stringify(letter));
    await producer.add({
      data: envelope.kind === 'pointer' ? encodeEnvelope(envelope) : await spill.stage(envelope),
      partitionKey,
    });
    moved.push({ key: object.key, recordedAt: letter.recordedAt });
    redriven += 1;
  }
  await producer.flush();
  // Its read marker first, as the reader does: the stages check the marker against it.
  await pipeline.ledger.markSliceRead({
    run: runId,
    slice: redriveSlice,
    count: redriven,
    malformed: 0,
    spilled: spill.spilled,
    at: new Date().toISOString(),
    redrive: true,
  });
  await producer.add({
    data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: runId, slice: redriveSlice, count: redriven }),
    partitionKey,
  });
  await producer.flush();
  await waitFor(
    async () => (await getJson(pipeline.store, bucket, LAYOUT.sliceDoneKey(runId, redriveSlice))) !== undefined,
    'the redrive to be written',
  );
  await pipeline.drain();
  // Only now is each redriven record delivered or dead-lettered anew: remove the old dead letters,
  // but not one the writer has just written again at the same key (the record failed again).
  for (const { key, recordedAt } of moved) {
    const current = await getJson<{ recordedAt?: string }>(pipeline.store, bucket, key);
    if (current && current.recordedAt === recordedAt) await pipeline.store.delete(bucket, key);
  }
  return { runId, redriven, skipped, summary: await collate(pipeline, runId) };
}

/** Collates a run again from what is in the results bucket. */
export async function collate(pipeline: LocalPipeline, runId: string): Promise<RunSummary> {
  const status = await pipeline.ledger.status(runId);
  return collateRun({
    store: pipeline.store,
    bucket,
    runId,
    read: status.read,
    spilled: status.slices.reduce((sum, s) => sum + (s.read?.spilled ?? 0), 0),
    complete: status.complete,
  });
}

export interface ReplayReport extends RunSummary {
  from: string;
  replayed: number;
  outputDigest: string;
  outputDigestBefore: string;
  identical: boolean;
}

/**
 * Re-reads the records stream from its trim horizon (or a timestamp) and processes one run's
 * records again, then collates: the output, de-duplicated by record id, is the same as before.
 */
export async function replay(
  pipeline: LocalPipeline,
  runId: string,
  from: 'trim-horizon' | Date,
): Promise<ReplayReport> {
  await requireManifest(pipeline, runId);
  const before = await outputDigest(pipeline.store, runId);
  await pipeline.startConsumers();
  let replayed = 0;
  const mapping = createEventSourceMapping({
    kinesis: pipeline.kinesis,
    streamName: LOCAL_RESOURCES.recordsStream,
    functionName: 'pipeline-processor-replay',
    startingPosition: from === 'trim-horizon' ? 'TRIM_HORIZON' : 'AT_TIMESTAMP',
    startingPositionTimestamp: from === 'trim-horizon' ? undefined : from,
    functionResponseTypes: ['ReportBatchItemFailures'],
    batchSize: DEFAULTS.batchSize,
    bisectBatchOnFunctionError: true,
    maximumRetryAttempts: DEFAULTS.maxRetryAttempts,
    pollIntervalMs: 50,
    checkpoints: memoryCheckpointStore(),
    // No filter on the mapping (Kinesis mappings filter only on data): the replay handler selects
    // the run, as the replay function does in AWS.
    handler: async (event: KinesisStreamEvent, context) => {
      replayed += selectRun(event, runId).event.Records.length;
      return processRun(runId, event, context);
    },
  });
  mapping.start();
  try {
    await mapping.drain({ idleMs: 200, timeoutMs: 10 * 60_000 });
  } finally {
    await mapping.stop();
  }
  await pipeline.drain();
  const summary = await collate(pipeline, runId);
  const after = await outputDigest(pipeline.store, runId);
  return {
    ...summary,
    from: from === 'trim-horizon' ? 'trim-horizon' : from.toISOString(),
    replayed,
    outputDigest: after,
    outputDigestBefore: before,
    identical: before === after,
  };
}

/**
 * A digest of a run's collated output that does not depend on line order: the sum of the lines'
 * SHA-256 values. Lines are unique by id after collation, so equal digests mean equal outputs.
 */
export async function outputDigest(store: ObjectStore, runId: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  let sum = 0n;
  const modulus = 1n << 256n;
  for await (const object of store.list(bucket, LAYOUT.collatedPrefix(runId))) {
    for await (const line of createInterface({ input: await store.stream(bucket, object.key), crlfDelay: Infinity })) {
      if (!line) continue;
      sum = (sum + BigInt(`0x${createHash('sha256').update(line).digest('hex')}`)) % modulus;
    }
  }
  return sum.toString(16).padStart(64, '0');
}

/** Pauses a run: every stage stops taking its records within a few seconds; nothing is lost. */
export async function pause(
  pipeline: LocalPipeline,
  runId: string,
  reason = 'paused by operator',
): Promise<{ runId: string; state: 'paused' }> {
  await requireManifest(pipeline, runId);
  await pipeline.ledger.setControl(runId, { state: 'paused', at: new Date().toISOString(), reason });
  return { runId, state: 'paused' };
}

/**
 * Resumes a paused run without loss or reordering:
 * 1. while the run is still paused, both stages consume what is on their streams, so every record
 *    of the run that is still travelling is parked too (none can pass the records parked before it);
 * 2. with the stages stopped, the run is marked running and, once no stage can still be trusting
 *    its cached "paused", the parked records go back on their streams — the writer's first (they
 *    had already passed the processor, so they are the older), each stage's in arrival order;
 * 3. the stages start again.
 */
export async function unpark(pipeline: LocalPipeline, runId: string): Promise<{ runId: string; unparked: number }> {
  await requireManifest(pipeline, runId);
  if ((await pipeline.ledger.getControl(runId))?.state !== 'paused') {
    await pipeline.ledger.setControl(runId, { state: 'paused', at: new Date().toISOString(), reason: 'resuming' });
  }
  await pipeline.startConsumers();
  await new Promise((r) => setTimeout(r, DEFAULTS.controlCacheMs + 100));
  await pipeline.drain();
  await pipeline.stopConsumers();

  await pipeline.ledger.setControl(runId, { state: 'running', at: new Date().toISOString() });
  await new Promise((r) => setTimeout(r, DEFAULTS.controlCacheMs + 100));
  let unparked = 0;
  const streams: Record<ParkingStage, string> = {
    processor: LOCAL_RESOURCES.recordsStream,
    writer: LOCAL_RESOURCES.resultsStream,
  };
  for (const stage of ['writer', 'processor'] as const) {
    const producer = new StreamProducer({ streamName: streams[stage], port: kinesisPutRecordsPort(pipeline.kinesis) });
    const done: string[] = [];
    // Keys sort by first sequence number: batches go back in the order they arrived.
    for await (const object of pipeline.store.list(bucket, parkedPrefix(runId, stage))) {
      const parked = await getJson<{ records: ParkedRecord[] }>(pipeline.store, bucket, object.key);
      for (const record of parked?.records ?? []) {
        const data = Buffer.from(record.data, 'base64');
        // End-of-slice markers go out only after the records before them are acknowledged.
        const isMarker = isEndOfSlice(data);
        if (isMarker) await producer.flush();
        await producer.add({ data, partitionKey: record.partitionKey });
        if (isMarker) await producer.flush();
        unparked += 1;
      }
      done.push(object.key);
    }
    await producer.flush();
    for (const key of done) await pipeline.store.delete(bucket, key);
  }
  await pipeline.startConsumers();
  return { runId, unparked };
}

async function countObjects(store: ObjectStore, prefix: string): Promise<number> {
  let count = 0;
  for await (const _object of store.list(bucket, prefix)) count += 1;
  return count;
}

function isEndOfSlice(data: Uint8Array): boolean {
  try {
    return decodeEnvelope(data).kind === 'end-of-slice';
  } catch {
    return false;
  }
}

async function requireManifest(pipeline: LocalPipeline, runId: string): Promise<void> {
  if (!(await pipeline.ledger.getManifest(runId)))
    throw new CommandError(`run ${runId} does not exist: start it with \`npm run pipeline -- run --run ${runId}\``);
}

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new CommandError(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
