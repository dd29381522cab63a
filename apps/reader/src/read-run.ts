import type { Job } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import {
  encodeEnvelope,
  newRunKey,
  partitionKeyOf,
  recordSealer,
  UnencodableError,
  type DataEnvelope,
  type DeadLetterEnvelope,
  type EndOfSliceEnvelope,
} from '@pipeline/records';
import {
  checkRunId,
  markRunDelivered,
  runIdFromTime,
  runStartedEvent,
  type RunEventsPort,
  type RunLedger,
  type RunManifest,
} from '@pipeline/run-ledger';
import { describeSlice, type SliceSpec } from '@pipeline/slices';
import {
  isObjectsSource,
  sourceFor,
  sourceKind,
  type HttpEvent,
  type ChainEnd,
  type ObjectSource,
  type SliceSource,
} from '@pipeline/sources';
import { Spill } from '@pipeline/spill';
import { StreamProducer, type PutRecordsPort } from '@pipeline/stream-producer';
import type { ObjectStore } from '@pipeline/object-store';

/** What triggers a run: the schedule (its time names the run) or a caller (who names it). */
export interface ReaderRequest {
  runId?: string;
  scheduledTime?: string;
  source?: { bucket: string; prefix?: string };
  /** How many invocations handed this run on so far. */
  hop?: number;
  /**
   * Set on a fan-out share: this invocation (and the ones it hands on to) reads the slices at plan
   * positions `index`, `index + of`, `index + 2·of`, …, and no others.
   */
  share?: { index: number; of: number };
}

export interface ReaderDeps {
  job: Job;
  objects: ObjectSource;
  ledger: RunLedger;
  putRecords: PutRecordsPort;
  recordsStream: string;
  spill: { store: ObjectStore; bucket: string; prefix: string; thresholdBytes: number };
  sliceBytes: number;
  concurrency: number;
  /** Reader invocations that read one run at once (1: one chain; see DEFAULTS.readerFanOut). */
  fanOut?: number;
  defaultSource?: { bucket: string; prefix: string };
  now?: () => Date;
  /** Time left in this invocation; the local runner has no limit. */
  remainingMs?: () => number;
  /** Hands the rest of the run to a fresh invocation (Lambda invokes itself asynchronously). */
  continueRun?: (request: ReaderRequest) => Promise<void>;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /** HTTP for sources that are not S3 (tests give their own). */
  fetch?: typeof fetch;
  onHttpEvent?: (event: HttpEvent) => void;
  /**
   * Announces a run the moment it is planned. In AWS nothing here: the run events state machine puts
   * "Run Started" when the manifest is created. The embedded stack appends it to its events file.
   */
  announce?: RunEventsPort;
  /**
   * Per-run streams: makes the streams and their mappings exist (openRunStreams) before any record
   * is put. Unset when the streams are always on.
   */
  openStreams?: (runId: string) => Promise<unknown>;
}

export interface ReaderResult {
  runId: string;
  /** False when the run already existed: this trigger resumed it or found nothing to do. */
  created: boolean;
  slices: number;
  slicesReadNow: number;
  slicesAlreadyRead: number;
  /**
   * Slices this invocation read that another reader of the run recorded first (a schedule firing
   * while a hand-triggered reader runs): their records went out twice, with the same ids, and the
   * other reader carries on. A chain's reader stops at such a link.
   */
  slicesTaken: number;
  /** Positions read by this invocation (data records + malformed rows). */
  read: number;
  malformed: number;
  spilled: number;
  paused: boolean;
  /** True when the rest of the run was handed to another invocation. */
  continued: boolean;
  /** Shares handed to invocations of their own (fan-out); 0 when this invocation read the run itself. */
  fannedOut: number;
  done: boolean;
}

export class RunPausedError extends Error {
  override readonly name = 'RunPausedError';
}

export class ChainLimitError extends Error {
  override readonly name = 'ChainLimitError';
}

/** Resolves the run id from the request: the caller's, else the schedule's time, else now. */
export function resolveRunId(request: ReaderRequest, now: Date): string {
  if (request.runId) return checkRunId(request.runId);
  return runIdFromTime(request.scheduledTime ?? now);
}

/**
 * Reads a run: plans its slices once (a repeated trigger reuses the plan), then streams every slice
 * not yet read onto the records stream, followed by the slice's end-of-slice marker.
 */
export async function readRun(request: ReaderRequest, deps: ReaderDeps): Promise<ReaderResult> {
  const now = deps.now ?? (() => new Date());
  const runId = resolveRunId(request, now());
  const hop = request.hop ?? 0;
  const log = deps.log ?? (() => undefined);

  const where = request.source ?? deps.defaultSource;
  const objectsRun = isObjectsSource(deps.job.source);
  const source: SliceSource = sourceFor(deps.job.source, {
    run: runId,
    objects: deps.objects,
    where: where && { bucket: where.bucket, prefix: where.prefix ?? '' },
    sliceBytes: deps.sliceBytes,
    defaultConcurrency: deps.concurrency,
    // Each share's chain has one invocation reading at a time (it hands on only once its slices are read):
    // with `of` shares the run has at most `of` readers at once, each with its part of the rate.
    invocations: request.share?.of ?? 1,
    fetch: deps.fetch,
    onHttpEvent: deps.onHttpEvent,
  });
  let { manifest, created } = { manifest: await deps.ledger.getManifest<SliceSpec>(runId), created: false };
  if (!manifest) {
    const planned: RunManifest<SliceSpec> = {
      runId,
      job: deps.job.name,
      createdAt: now().toISOString(),
      ...(objectsRun && where ? { source: { bucket: where.bucket, prefix: where.prefix ?? '' } } : {}),
      sourceKind: sourceKind(deps.job.source),
      slices: await source.plan(),
      // A chain's manifest holds its first link only: each link read names the next in its read marker.
      ...(source.chain ? { chain: true } : {}),
      runKey: newRunKey(),
      ...(deps.job.toleratedFailures ? { toleratedFailures: deps.job.toleratedFailures } : {}),
    };
    ({ manifest, created } = await deps.ledger.createManifest(planned));
    log('run planned', {
      runId,
      slices: manifest.slices.length,
      source: manifest.sourceKind ?? 'objects',
      ...(manifest.chain ? { chain: true } : {}),
    });
    if (created) await deps.announce?.(runStartedEvent(manifest, deps.ledger.bucket, now()));
  }

  const result: ReaderResult = {
    runId,
    created,
    slices: manifest.slices.length,
    slicesReadNow: 0,
    slicesAlreadyRead: 0,
    slicesTaken: 0,
    read: 0,
    malformed: 0,
    spilled: 0,
    paused: false,
    continued: false,
    fannedOut: 0,
    done: false,
  };

  const isPaused = async () => (await deps.ledger.getControl(runId))?.state === 'paused';
  if (await isPaused()) return { ...result, paused: true };

  if (manifest.slices.length === 0) {
    // Nothing to read (an empty source is a normal day): the run completes at once, with zero counts.
    await completeEmptyRun(runId, deps, now);
    return { ...result, done: true };
  }

  // Per-run streams exist before the first record is put; a share's chain was started by a reader that opened them.
  if (!request.share && deps.openStreams) await deps.openStreams(runId);

  // One listing tells which slices are read and done: each hop of a long run costs ⌈2S / 1,000⌉ LISTs, not 2S GETs.
  const markers = await deps.ledger.markerIds(runId);
  const share = request.share;
  let pending: SliceSpec[];
  if (manifest.chain) {
    // A chain is read one link at a time, in order: only its first link not read is pending (none once
    // closed), and reading it names the next. So fan-out finds one slice to share and does not split it.
    const { read, next } = await deps.ledger.openLink<SliceSpec>(runId, manifest, markers.read);
    pending = next ? [next] : [];
    result.slices = read + pending.length;
    result.slicesAlreadyRead = read;
  } else {
    const mine = share ? manifest.slices.filter((_, i) => i % share.of === share.index) : manifest.slices;
    pending = mine.filter((slice) => !markers.read.has(slice.id));
    result.slicesAlreadyRead = mine.length - pending.length;
  }
  // The trigger (not a share) puts again the markers of slices read but not done.
  if (!share && !created && markers.read.size > 0) await resendMarkers(runId, markers, deps);

  const fanOut = Math.min(deps.fanOut ?? 1, pending.length);
  if (!share && fanOut > 1 && deps.continueRun) {
    // Fan-out: each share is read by its own chain of invocations, started from this one.
    checkHop(runId, hop);
    for (let index = 0; index < fanOut; index++)
      await deps.continueRun({ runId, hop: hop + 1, share: { index, of: fanOut } });
    log('run fanned out', { runId, shares: fanOut, pending: pending.length });
    return { ...result, continued: true, fannedOut: fanOut };
  }

  let next = 0;
  let outOfTime = false;
  const worker = async () => {
    while (next < pending.length && !result.paused && !outOfTime) {
      if (deps.remainingMs && deps.remainingMs() < DEFAULTS.readerSliceTimeMarginMs) {
        outOfTime = true;
        break;
      }
      const slice = pending[next++];
      if (await isPaused()) {
        result.paused = true;
        break;
      }
      try {
        const { next: link, taken, ...counts } = await readSlice(runId, manifest.runKey, slice, source, deps, isPaused);
        if (taken) {
          // Another reader recorded the slice first and puts its marker; a chain goes on with that reader.
          result.slicesTaken += 1;
          log('slice taken by another reader', { runId, slice: slice.id, ...counts });
          continue;
        }
        // The next link is recorded (in this slice's read marker): read it next, in this invocation or the one it hands on to.
        if (link) {
          pending.push(link);
          result.slices += 1;
        }
        result.slicesReadNow += 1;
        result.read += counts.count;
        result.malformed += counts.malformed;
        result.spilled += counts.spilled;
        log('slice read', { runId, slice: slice.id, ...counts });
      } catch (error) {
        if (error instanceof RunPausedError) result.paused = true;
        else throw error;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.concurrency, pending.length)) }, worker));

  const remaining = pending.length - result.slicesReadNow - result.slicesTaken;
  if (remaining > 0 && outOfTime && !result.paused) {
    if (!deps.continueRun) throw new ChainLimitError('out of time with slices left and no way to continue the run');
    checkHop(runId, hop);
    await deps.continueRun({ runId, hop: hop + 1, ...(share ? { share } : {}) });
    result.continued = true;
  }
  result.done = remaining === 0;
  return result;
}

function checkHop(runId: string, hop: number): void {
  if (hop + 1 > DEFAULTS.readerMaxHops) {
    throw new ChainLimitError(
      `run ${runId} needed more than ${DEFAULTS.readerMaxHops} reader invocations: raise SLICE_BYTES, READER_CONCURRENCY or READER_FAN_OUT`,
    );
  }
}

async function readSlice(
  runId: string,
  runKey: string | undefined,
  slice: SliceSpec,
  source: SliceSource,
  deps: ReaderDeps,
  isPaused: () => Promise<boolean>,
): Promise<{ count: number; malformed: number; spilled: number; next?: SliceSpec | null; taken?: true }> {
  const partitionKey = partitionKeyOf(runId, slice.id);
  const spill = new Spill({ ...deps.spill });
  const producer = new StreamProducer({
    streamName: deps.recordsStream,
    port: deps.putRecords,
    aggregateBytes: DEFAULTS.aggregateBytes,
    // One seal per packed record binds every envelope in it (and, through its pointer's digest, a spilled one).
    ...(runKey === undefined ? {} : { seal: recordSealer(runKey) }),
  });
  let count = 0;
  let malformed = 0;
  const end: ChainEnd = {};
  for await (const row of readRows(source, slice, end)) {
    const id = { run: runId, slice: slice.id, pos: row.pos };
    let envelope: DataEnvelope | DeadLetterEnvelope = row.ok
      ? { v: 1, kind: 'data', id, body: row.row }
      : {
          v: 1,
          kind: 'dead-letter',
          id,
          stage: 'reader',
          reason: 'malformed-row',
          message: row.error,
          payload: row.raw,
        };
    let bytes: Uint8Array;
    try {
      bytes = encodeEnvelope(envelope);
    } catch (error) {
      // A row that parsed but cannot be encoded again (nested too deeply): its own dead letter, not the slice's end.
      if (!(error instanceof UnencodableError)) throw error;
      envelope = {
        v: 1,
        kind: 'dead-letter',
        id,
        stage: 'reader',
        reason: 'unencodable',
        message: `row ${row.pos} of slice ${slice.id} parsed, but ${error.message}`,
        payload: null,
      };
      bytes = encodeEnvelope(envelope);
    }
    if (envelope.kind === 'dead-letter') malformed += 1;
    await producer.add({ data: await spill.stage(envelope, bytes), partitionKey });
    count += 1;
    if (count % DEFAULTS.controlCheckEveryRows === 0 && (await isPaused()))
      throw new RunPausedError(`run ${runId} is paused`);
  }
  // The marker goes out only once every record before it is acknowledged: retries may reorder a batch.
  await producer.flush();
  if (source.chain && end.next === undefined)
    throw new Error(`${describeSlice(slice)}: the source read the link but named no next link nor the chain's end`);
  // The read marker comes first: it is what the stages check the end-of-slice marker against. A chain's
  // next link goes in the same PUT, so it is durable as soon as this link counts as read. It is
  // written only if absent: a reader that finds the slice recorded by another leaves that marker
  // (and the end-of-slice marker, and the next link) to it.
  const recorded = await deps.ledger.claimSliceRead({
    run: runId,
    slice: slice.id,
    count,
    malformed,
    spilled: spill.spilled,
    at: (deps.now ?? (() => new Date()))().toISOString(),
    ...(source.chain ? { next: end.next } : {}),
  });
  if (!recorded) return { count, malformed, spilled: spill.spilled, taken: true };
  await putMarker(runId, slice.id, count, deps);
  return { count, malformed, spilled: spill.spilled, ...(source.chain ? { next: end.next } : {}) };
}

/** A slice's rows; a source that fails part-way fails the slice, saying which one and why. */
async function* readRows(source: SliceSource, slice: SliceSpec, end: ChainEnd) {
  try {
    yield* source.read(slice, end);
  } catch (error) {
    if (error instanceof Error) error.message = `${describeSlice(slice)}: ${error.message}`;
    throw error;
  }
}

async function putMarker(run: string, slice: string, count: number, deps: ReaderDeps): Promise<void> {
  const producer = new StreamProducer({ streamName: deps.recordsStream, port: deps.putRecords });
  const marker: EndOfSliceEnvelope = { v: 1, kind: 'end-of-slice', run, slice, count };
  await producer.add({ data: encodeEnvelope(marker), partitionKey: partitionKeyOf(run, slice) });
  await producer.flush();
}

/**
 * A re-trigger puts the markers of slices read but not yet done again: a reader stopped between a
 * slice's read marker and its end-of-slice marker would otherwise leave the run waiting for ever.
 * A marker that arrives twice is harmless: the first true one wins.
 */
async function resendMarkers(
  run: string,
  markers: { read: Set<string>; done: Set<string> },
  deps: ReaderDeps,
): Promise<void> {
  for (const slice of markers.read) {
    if (markers.done.has(slice)) continue;
    // Only slices read but not done are read back: those in flight when the run was handed on.
    const read = await deps.ledger.getSliceRead(run, slice);
    if (read) await putMarker(run, slice, read.count, deps);
  }
}

/**
 * A run with nothing to read has nothing to deliver: it is handed on as delivered at once, and the
 * finisher completes it (zero counts, its completion event) as it completes every run.
 */
async function completeEmptyRun(run: string, deps: ReaderDeps, now: () => Date): Promise<void> {
  await markRunDelivered(deps.ledger.store, deps.ledger.bucket, run, now());
}
