import { createHash } from 'node:crypto';
import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
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
  ON_FAILURE_PREFIX,
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
  type RunManifest,
  type RunStalled,
  type RunStatus,
} from '@pipeline/run-ledger';
import {
  openForRedrive,
  realSleep,
  redriveRecordsPut,
  redriveThrough,
  replayBlocked,
  streamsRetired,
} from '@pipeline/run-streams';
import { Spill } from '@pipeline/spill';
import { readConfig } from '@pipeline/config';
import { CommandError } from '@pipeline/local-runner';
import { kinesisPutRecordsPort, StreamProducer } from '@pipeline/stream-producer';
import { job } from '@pipeline/active-job';
import { parseRows } from '@pipeline/sources';
import type { Environment } from './environment';

export { CommandError };

/** A run's progress slice by slice, and whether it is complete, stalled or paused. */
export interface StatusReport {
  runId: string;
  /** `delivering`: every slice is done and handed to Firehose, the output is not all in S3 yet. */
  state: 'unknown' | 'running' | 'paused' | 'delivering' | 'complete' | 'stalled';
  complete: boolean;
  slices: number;
  /** A cursor chain whose last link is not read yet: `slices` counts the links known so far. */
  chainOpen?: boolean;
  slicesRead: number;
  slicesDone: number;
  read: number;
  /** Slices not yet done when the run is past its deadline, or whose output is missing when its delivery stalled. */
  missingSlices: string[];
  /** When its delivery stalled: the slices' missing positions, as the finisher found them. */
  stalled?: RunStalled;
  deadline?: string;
  summary?: RunSummary;
  /** Batches the event source mappings gave up on (in the failures bucket under `aws/lambda/`), for every run. */
  eventSourceFailures: number;
  /** End-of-slice markers for this run that could not be true (dead-lettered as rejected-marker). */
  rejectedMarkers: number;
  /** Records claiming this run's ids that its reader did not seal (dead-lettered as forged-record). */
  forgedRecords: number;
  perSlice: { id: string; read?: number; malformed?: number; spilled?: number; done: boolean }[];
}

export async function runStatus(
  env: Environment,
  runId: string,
  now = new Date(),
  deadlineMinutes: number = DEFAULTS.runDeadlineMinutes,
): Promise<StatusReport> {
  const bucket = env.resources.resultsBucket;
  let status: RunStatus = await env.ledger.status(runId);
  const manifest = status.manifest;
  if (!manifest)
    throw new CommandError(`run ${runId} does not exist: no manifest at s3://${bucket}/${LAYOUT.manifestKey(runId)}`);
  if (env.pipeline && (status.delivery === 'delivering' || status.delivery === 'stalled')) {
    // What the finisher's queue does in AWS when the run's message comes back: look in S3 again.
    // (A running or deployed pipeline's finisher does that on its own: the verb only reads.)
    await env.pipeline.finish(runId, now);
    status = await env.ledger.status(runId);
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
    ...(status.chainOpen ? { chainOpen: true } : {}),
    slicesRead: status.slicesRead,
    slicesDone: status.slicesDone,
    read: status.read,
    missingSlices,
    stalled: status.stalled,
    deadline: deadline.toISOString(),
    summary: await getJson<RunSummary>(env.store, bucket, LAYOUT.summaryKey(runId)),
    eventSourceFailures: await countObjects(env.store, env.resources.failuresBucket, ON_FAILURE_PREFIX),
    rejectedMarkers: await countObjects(env.store, bucket, LAYOUT.deadLettersPrefix(runId, 'rejected-marker')),
    forgedRecords: await countObjects(env.store, bucket, LAYOUT.deadLettersPrefix(runId, 'forged-record')),
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
  env: Pick<Environment, 'store' | 'resources'>,
  runId: string,
  reason?: string,
  limit = 50,
): Promise<DeadLetterListing> {
  const { store } = env;
  const bucket = env.resources.resultsBucket;
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
  /** Dead letters put back on the records stream. */
  redriven: number;
  skipped: number;
  /** Batches the event source mappings had given up on, and their records put back on the stream they came from. */
  onFailureBatches: number;
  onFailureRecords: number;
  summary: RunSummary;
}

/** How long a verb waits for the environment's own consumers to take what it put on a stream. */
export interface WaitOptions {
  timeoutMs?: number;
}

/**
 * Puts everything of a run that failed back through the environment's own processor: its dead
 * letters (all, or one reason's) and the batches the event source mappings gave up on.
 *
 * Dead letters: each is copied to an archive first and removed only once the redrive is through;
 * a record that fails again is dead-lettered anew. The redriven records travel behind their own
 * end-of-slice marker, so the writer says when the redrive is through, and the run is collated
 * again: a redriven record reaches the output once, and no longer counts as dead-lettered.
 *
 * On-failure batches (the failures bucket, `aws/lambda/…`, as Lambda writes them): the run's records
 * go back, as they were, on the stream the mapping read; the invocation record is archived under
 * `redriven/` and removed. Run again after a failure part-way, a record put twice is one line in
 * the collated output (collation keeps one line per record id).
 *
 * Per-run streams: before it puts a record, the redrive takes the run's lease (the run counts as
 * active until the redrive is through, so no sweep retires the streams under it) and opens the
 * streams and mappings as the reader does; once through, the replay window runs from its end — or,
 * when it put records it could not see through (on-failure batches, or a wait that gave up), from
 * when those must be through the streams (see redriveThrough).
 */
export async function redrive(
  env: Environment,
  runId: string,
  reason?: string,
  wait: WaitOptions = {},
): Promise<RedriveReport> {
  checkReason(reason);
  const bucket = env.resources.resultsBucket;
  const manifest = await requireManifest(env, runId);
  const runKey = manifest.runKey;
  const redriveSlice = `redrive-${Date.now()}`;
  const producer = new StreamProducer({
    streamName: env.resources.recordsStream,
    port: kinesisPutRecordsPort(env.kinesis),
    // The redrive puts records for the run's reader: sealed with the run's key, as the reader seals them.
    ...(runKey === undefined ? {} : { seal: recordSealer(runKey) }),
  });
  // Spill as the reader does: the environment's spill bucket, with the handlers' prefix and threshold.
  const config = readConfig(['spillBucket'], { ...process.env, SPILL_BUCKET: env.resources.spillBucket });
  const spill = new Spill({
    store: env.store,
    bucket: config.spillBucket,
    prefix: config.spillPrefix,
    thresholdBytes: config.spillThresholdBytes,
  });
  const plan = perRunPlan(env);
  const progress: RedriveProgress = { seenThrough: false };
  try {
    if (plan)
      await openForRedrive(plan, env.streamsPort(), env.store, bucket, runId, redriveSlice, {
        sleep: realSleep,
        now: new Date(),
      });
    return await redriveOpen(env, runId, reason, wait, {
      redriveSlice,
      producer,
      spill,
      progress,
      // Per-run streams: its lease says when its last record was put (its last activity).
      recordsPut: plan ? (at) => redriveRecordsPut(env.store, bucket, runId, redriveSlice, at) : async () => {},
    });
  } finally {
    // Through, or given up: either way the redrive no longer holds the streams (run again, it takes them
    // again) — once the records it put and did not see through are through too. Stopped before it knew
    // what it had put, it counts from now: whatever it put was put before.
    if (plan) {
      const now = new Date();
      const since = progress.seenThrough ? undefined : (progress.recordsPutAt ?? now);
      await redriveThrough(env.store, bucket, runId, redriveSlice, now, since && { plan, since });
    }
  }
}

/** How far a redrive got: when it had put every record, and whether it saw them all through. */
interface RedriveProgress {
  recordsPutAt?: Date;
  /** True once every record it put is known delivered or dead-lettered anew (or it put none). */
  seenThrough: boolean;
}

/** Per-run streams: the plan to open them with; undefined when the streams are always on. */
function perRunPlan(env: Environment) {
  const { streamsLifecycle, runStreams } = env.resources;
  if (streamsLifecycle === 'per-run' && !runStreams)
    throw new CommandError(
      `${env.name} opens its streams per run, and the outputs have no RunStreams plan to open them with for the redrive: give --outputs FILE written by \`cdk deploy --outputs-file\` of the current infra`,
    );
  return streamsLifecycle === 'per-run' ? runStreams : undefined;
}

async function redriveOpen(
  env: Environment,
  runId: string,
  reason: string | undefined,
  wait: WaitOptions,
  {
    redriveSlice,
    producer,
    spill,
    progress,
    recordsPut,
  }: {
    redriveSlice: string;
    producer: StreamProducer;
    spill: Spill;
    progress: RedriveProgress;
    recordsPut: (at: Date) => Promise<void>;
  },
): Promise<RedriveReport> {
  const bucket = env.resources.resultsBucket;
  const partitionKey = partitionKeyOf(runId, redriveSlice);
  let redriven = 0;
  let skipped = 0;
  const moved: { key: string; recordedAt?: string }[] = [];
  await env.pipeline?.startConsumers();
  const failed = await redriveOnFailureBatches(env, runId);
  for await (const object of env.store.list(bucket, LAYOUT.deadLettersPrefix(runId, reason))) {
    const letter = await getJson<DeadLetterEnvelope & { recordedAt?: string }>(env.store, bucket, object.key);
    const envelope = letter && (await redriveEnvelope(letter));
    if (!envelope || envelope.kind === 'end-of-slice') {
      skipped += 1;
      continue;
    }
    await env.store.put(bucket, `archived-${object.key}`, JSON.stringify(letter));
    await producer.add({
      data: envelope.kind === 'pointer' ? encodeEnvelope(envelope) : await spill.stage(envelope),
      partitionKey,
    });
    moved.push({ key: object.key, recordedAt: letter.recordedAt });
    redriven += 1;
  }
  await producer.flush();
  if (redriven > 0) {
    // Its read marker first, as the reader does: the stages check the marker against it.
    await env.ledger.markSliceRead({
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
  }
  if (redriven > 0 || failed.records > 0) {
    progress.recordsPutAt = new Date();
    await recordsPut(progress.recordsPutAt);
  }
  if (redriven > 0) {
    // The environment's writer says when the redrive is through.
    await waitFor(
      async () => (await getJson(env.store, bucket, LAYOUT.sliceDoneKey(runId, redriveSlice))) !== undefined,
      `the writer of ${env.name} to write the redrive (runs/${runId}/slices/${redriveSlice}/done.json)`,
      wait.timeoutMs,
    );
  }
  // The dead letters' marker says they are through; the batches the mappings gave up on went back on
  // their own slices' keys, behind no marker of the redrive's, so nothing says when they are.
  progress.seenThrough = failed.records === 0;
  await env.pipeline?.drain();
  // Only now is each redriven record delivered or dead-lettered anew: remove the old dead letters,
  // but not one the writer has just written again at the same key (the record failed again).
  for (const { key, recordedAt } of moved) {
    const current = await getJson<{ recordedAt?: string }>(env.store, bucket, key);
    if (current && current.recordedAt === recordedAt) await env.store.delete(bucket, key);
  }
  return {
    runId,
    redriven,
    skipped,
    onFailureBatches: failed.batches,
    onFailureRecords: failed.records,
    summary: await collate(env, runId),
  };
}

/** An on-failure invocation record, as Lambda writes it to an S3 destination (the fields the redrive reads). */
interface OnFailureObject {
  KinesisBatchInfo?: { streamArn?: string; shardId?: string };
  payload?: string;
}

/**
 * Puts a run's records from the batches the mappings gave up on back on the stream each batch came
 * from, in their order, end-of-slice markers only after the records before them are acknowledged.
 */
async function redriveOnFailureBatches(env: Environment, runId: string): Promise<{ batches: number; records: number }> {
  const failures = env.resources.failuresBucket;
  const streams = new Set([env.resources.recordsStream, env.resources.resultsStream]);
  let batches = 0;
  let records = 0;
  for await (const object of env.store.list(failures, ON_FAILURE_PREFIX)) {
    const record = await getJson<OnFailureObject>(env.store, failures, object.key);
    const stream = record?.KinesisBatchInfo?.streamArn?.split(':stream/')[1];
    if (!record?.payload || !stream || !streams.has(stream)) continue;
    const event = JSON.parse(record.payload) as KinesisStreamEvent;
    const ours = event.Records.filter((r) => r.kinesis.partitionKey.startsWith(`${runId}/`));
    if (ours.length === 0) continue;
    const producer = new StreamProducer({ streamName: stream, port: kinesisPutRecordsPort(env.kinesis) });
    for (const r of ours) {
      const data = Buffer.from(r.kinesis.data, 'base64');
      const isMarker = isEndOfSlice(data);
      if (isMarker) await producer.flush();
      await producer.add({ data, partitionKey: r.kinesis.partitionKey });
      if (isMarker) await producer.flush();
    }
    await producer.flush();
    // Archived first, then removed: a redrive stopped in between redrives the batch again, harmlessly.
    await env.store.put(failures, `redriven/${object.key}`, JSON.stringify(record));
    await env.store.delete(failures, object.key);
    batches += 1;
    records += ours.length;
  }
  return { batches, records };
}

/** Collates a run again from what is in the results bucket (a thin call into libs/collation). */
export async function collate(
  env: Pick<Environment, 'store' | 'ledger' | 'resources'>,
  runId: string,
): Promise<RunSummary> {
  const status = await env.ledger.status(runId);
  return collateRun({
    store: env.store,
    bucket: env.resources.resultsBucket,
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
 * Only on the embedded stack this command runs: a deployed (or running) pipeline replays with its
 * own replay mapping, which the verbs do not start (see the README).
 */
export async function replay(env: Environment, runId: string, from: 'trim-horizon' | Date): Promise<ReplayReport> {
  // Per-run streams are deleted after the replay window: say so rather than replay nothing.
  const manifest = await requireManifest(env, runId);
  const blocked = replayBlocked(
    runId,
    env.resources.recordsStream,
    await describeStream(env, env.resources.recordsStream),
    await streamsRetired(env.store, env.resources.resultsBucket),
    manifest.createdAt,
  );
  if (blocked) throw new CommandError(blocked);
  const pipeline = env.pipeline;
  if (!pipeline)
    throw new CommandError(
      env.kind === 'deployed'
        ? `replay in ${env.name} runs on its replay function, which the tool does not start: deploy it with PIPELINE_OVERRIDES='{"replay":{"from":"trim-horizon","run":"${runId}"}}' npx nx run processor:deploy (infra/README.md, "Replay in AWS"), then \`collate --run ${runId}\``
        : 'replay runs its own consumer on the records stream: stop the running local pipeline first, then replay',
    );
  const before = await outputDigest(env, runId);
  await pipeline.startConsumers();
  let replayed = 0;
  const mapping = createEventSourceMapping({
    kinesis: env.kinesis,
    streamName: env.resources.recordsStream,
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
  const summary = await collate(env, runId);
  const after = await outputDigest(env, runId);
  return {
    ...summary,
    from: from === 'trim-horizon' ? 'trim-horizon' : from.toISOString(),
    replayed,
    outputDigest: after,
    outputDigestBefore: before,
    identical: before === after,
  };
}

async function describeStream(env: Environment, name: string): Promise<{ exists: boolean }> {
  try {
    const { StreamDescriptionSummary: s } = await env.kinesis.send(
      new DescribeStreamSummaryCommand({ StreamName: name }),
    );
    return { exists: s?.StreamStatus !== 'DELETING' };
  } catch (error) {
    if ((error as { name?: string }).name === 'ResourceNotFoundException') return { exists: false };
    throw error;
  }
}

/**
 * A digest of a run's collated output that does not depend on line order: the sum of the lines'
 * SHA-256 values. Lines are unique by id after collation, so equal digests mean equal outputs.
 */
export async function outputDigest(env: Pick<Environment, 'store' | 'resources'>, runId: string): Promise<string> {
  const { createInterface } = await import('node:readline');
  const bucket = env.resources.resultsBucket;
  let sum = 0n;
  const modulus = 1n << 256n;
  for await (const object of env.store.list(bucket, LAYOUT.collatedPrefix(runId))) {
    const input = await env.store.stream(bucket, object.key);
    for await (const line of createInterface({ input, crlfDelay: Infinity })) {
      if (!line) continue;
      sum = (sum + BigInt(`0x${createHash('sha256').update(line).digest('hex')}`)) % modulus;
    }
  }
  return sum.toString(16).padStart(64, '0');
}

/** Pauses a run: every stage stops taking its records within a few seconds; nothing is lost. */
export async function pause(
  env: Environment,
  runId: string,
  reason = 'paused by operator',
): Promise<{ runId: string; state: 'paused' }> {
  await requireManifest(env, runId);
  await env.ledger.setControl(runId, { state: 'paused', at: new Date().toISOString(), reason });
  return { runId, state: 'paused' };
}

/**
 * Resumes a paused run without loss or reordering:
 * 1. while the run is still paused, both stages consume what is on their streams, so every record
 *    of the run that is still travelling is parked too (none can pass the records parked before it);
 *    on the embedded stack this command runs, it drains them; elsewhere the environment's own
 *    mappings consume all along, and the verb waits for the parking to stop growing;
 * 2. the run is marked running and, once no stage can still be trusting its cached "paused", the
 *    parked records go back on their streams — the writer's first (they had already passed the
 *    processor, so they are the older), each stage's in arrival order;
 * 3. the stages go on (the embedded ones start again).
 */
export async function unpark(env: Environment, runId: string): Promise<{ runId: string; unparked: number }> {
  await requireManifest(env, runId);
  const bucket = env.resources.resultsBucket;
  if ((await env.ledger.getControl(runId))?.state !== 'paused') {
    await env.ledger.setControl(runId, { state: 'paused', at: new Date().toISOString(), reason: 'resuming' });
  }
  await sleep(DEFAULTS.controlCacheMs + 100);
  if (env.pipeline) {
    await env.pipeline.startConsumers();
    await env.pipeline.drain();
    await env.pipeline.stopConsumers();
  } else {
    await settled(() => countParked(env, runId));
  }

  await env.ledger.setControl(runId, { state: 'running', at: new Date().toISOString() });
  await sleep(DEFAULTS.controlCacheMs + 100);
  let unparked = 0;
  const streams: Record<ParkingStage, string> = {
    processor: env.resources.recordsStream,
    writer: env.resources.resultsStream,
  };
  for (const stage of ['writer', 'processor'] as const) {
    const producer = new StreamProducer({ streamName: streams[stage], port: kinesisPutRecordsPort(env.kinesis) });
    const done: string[] = [];
    // Keys sort by first sequence number: batches go back in the order they arrived.
    for await (const object of env.store.list(bucket, parkedPrefix(runId, stage))) {
      const parked = await getJson<{ records: ParkedRecord[] }>(env.store, bucket, object.key);
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
    for (const key of done) await env.store.delete(bucket, key);
  }
  await env.pipeline?.startConsumers();
  return { runId, unparked };
}

async function countParked(env: Environment, runId: string): Promise<number> {
  const bucket = env.resources.resultsBucket;
  return (
    (await countObjects(env.store, bucket, parkedPrefix(runId, 'processor'))) +
    (await countObjects(env.store, bucket, parkedPrefix(runId, 'writer')))
  );
}

/** Waits until a count stops growing over a few of the stages' polls (a mapping polls a shard about once a second). */
async function settled(count: () => Promise<number>, quietMs = 3_000, stepMs = 500): Promise<void> {
  let last = await count();
  let quietSince = Date.now();
  while (Date.now() - quietSince < quietMs) {
    await sleep(stepMs);
    const now = await count();
    if (now !== last) {
      last = now;
      quietSince = Date.now();
    }
  }
}

/** One run of a listing: its state and counts, from the ledger's markers. */
export interface RunListing {
  runId: string;
  createdAt?: string;
  state: 'running' | 'paused' | 'delivering' | 'stalled' | 'complete';
  slices: number;
  slicesDone: number;
  read: number;
  delivered?: number;
  deadLettered?: number;
}

/** Lists the environment's runs, newest first, with their state and counts. */
export async function listRuns(env: Environment, limit = 20): Promise<RunListing[]> {
  const ids: string[] = [];
  const suffix = '/manifest.json';
  for await (const object of env.store.list(env.resources.resultsBucket, 'runs/')) {
    const rest = object.key.slice('runs/'.length);
    if (rest.endsWith(suffix) && !rest.slice(0, -suffix.length).includes('/')) ids.push(rest.slice(0, -suffix.length));
  }
  const runs: RunListing[] = [];
  for (const runId of ids) {
    const status = await env.ledger.status(runId);
    const summary = await getJson<RunSummary>(env.store, env.resources.resultsBucket, LAYOUT.summaryKey(runId));
    runs.push({
      runId,
      createdAt: status.manifest?.createdAt,
      state: status.complete
        ? 'complete'
        : status.delivery === 'stalled'
          ? 'stalled'
          : status.control?.state === 'paused'
            ? 'paused'
            : status.delivery === 'delivering'
              ? 'delivering'
              : 'running',
      slices: status.slices.length,
      slicesDone: status.slicesDone,
      read: status.read,
      delivered: summary?.delivered,
      deadLettered: summary?.deadLettered,
    });
  }
  runs.sort((a, b) => (b.createdAt ?? '').localeCompare(a.createdAt ?? ''));
  return runs.slice(0, limit);
}

async function countObjects(store: ObjectStore, bucket: string, prefix: string): Promise<number> {
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

async function requireManifest(env: Environment, runId: string): Promise<RunManifest> {
  const manifest = await env.ledger.getManifest(runId);
  if (!manifest)
    throw new CommandError(
      env.kind === 'deployed'
        ? `run ${runId} does not exist in ${env.name}: no s3://${env.resources.resultsBucket}/${LAYOUT.manifestKey(runId)} (list them with \`runs\`)`
        : `run ${runId} does not exist: start it with \`npm run pipeline -- run --run ${runId}\``,
    );
  return manifest;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function waitFor(check: () => Promise<boolean>, what: string, timeoutMs = 10 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new CommandError(`timed out waiting for ${what}`);
    await sleep(250);
  }
}
