import { deliveryBoundSeconds } from '@pipeline/limits';
import { getJson, putJson, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { completeRun, type RunCompletedEvent } from './complete';
import { overTolerance, type RunFailureReason } from './events';
import type { RunLedger } from './ledger';

/**
 * Where a run is between "every slice done" and "complete":
 * - `running`: slices are still being read, processed or written;
 * - `delivering`: everything was handed to Firehose (runs/<run>/delivered.json), the output is not
 *   all in S3 yet, and its bound has not passed;
 * - `stalled`: the bound has passed and the output is still not all in S3 (runs/<run>/stalled.json says what is missing);
 * - `complete`: the output is in S3 and conserved (runs/<run>/complete.json, the completion event);
 * - `failed`: the output is in S3 and conserved, but with more dead letters than the job tolerates (runs/<run>/failed.json).
 */
export type DeliveryState = 'running' | 'delivering' | 'stalled' | 'complete' | 'failed';

/**
 * runs/<run>/delivered.json: the writer handed the run's last result to Firehose at `handedAt`. It
 * says when, not until when: the finisher derives the due time from the delivery stream's buffer
 * interval (its DELIVERY_BUFFER_INTERVAL_SECONDS, set from the same setting as the stream's
 * BufferingHints), so the writer needs to know nothing about the delivery stream's buffering.
 */
export interface RunDelivered {
  runId: string;
  handedAt: string;
}

/** One slice's output as found in S3 (the shape of @pipeline/collation's checkOutput). */
export interface SliceFound {
  slice: string;
  read: number;
  found: number;
  missing: number[];
}

export interface OutputFound {
  conserved: boolean;
  read: number;
  delivered: number;
  deadLettered: number;
  unexpected: number;
  slices: SliceFound[];
}

/** Reads a run's output in S3 and says which positions of which slices are there. */
export type CheckOutputPort = (runId: string, expected: { slice: string; read: number }[]) => Promise<OutputFound>;

/** runs/<run>/stalled.json */
export interface RunStalled {
  runId: string;
  handedAt: string;
  dueBy: string;
  checkedAt: string;
  /** Planned slices whose read marker is missing. */
  unreadSlices: string[];
  /** Slices with positions neither delivered nor dead-lettered, with the first missing positions. */
  missing: SliceFound[];
}

export interface FinishDeps {
  store: ObjectStore;
  bucket: string;
  ledger: RunLedger;
  checkOutput: CheckOutputPort;
  /** The delivery stream's buffer interval: the bound on the wait is derived from it (deliveryBoundSeconds). */
  bufferIntervalSeconds: number;
  now: Date;
}

/** runs/<run>/failed.json: why the run ended as failed, with its counts when they are known. */
export interface RunFailed {
  runId: string;
  reason: RunFailureReason;
  failedAt: string;
  read?: number;
  delivered?: number;
  deadLettered?: number;
  conserved?: boolean;
  slices?: number;
  spilled?: number;
  toleratedFailures?: { count?: number; percentage?: number };
  /** When the run was planned (its manifest's createdAt): collation's elapsed time starts here. */
  createdAt?: string;
}

export type FinishOutcome =
  | { runId: string; state: 'failed'; failed: RunFailed }
  | { runId: string; state: 'running' }
  | { runId: string; state: 'complete'; event: RunCompletedEvent }
  | { runId: string; state: 'delivering'; dueBy: string; found?: OutputFound }
  | { runId: string; state: 'stalled'; stalled: RunStalled };

/**
 * Records that a run's last slice is done and everything was handed to Firehose; the first time
 * counts (a replayed marker does not move `handedAt`). Returns whether it was written now.
 */
export async function markRunDelivered(
  store: ObjectStore,
  bucket: string,
  run: string,
  handedAt: Date,
): Promise<boolean> {
  if (await getJson(store, bucket, LAYOUT.deliveredKey(run))) return false;
  const delivered: RunDelivered = { runId: run, handedAt: handedAt.toISOString() };
  await putJson(store, bucket, LAYOUT.deliveredKey(run), delivered);
  return true;
}

/**
 * Completes a delivered run once its output is readable in S3: every position of every planned
 * slice (as many as its read marker counts; for a chain, every link once a read marker closed it)
 * delivered or dead-lettered. Only then is
 * runs/<run>/complete.json written — its creation is the completion event — with the counts found
 * in S3. Before the bound (1.5 buffer intervals and a margin after `handedAt`) a shortfall is
 * `delivering`; past it, `stalled`, with the missing slices and positions written down. A run
 * whose output does not balance is never completed.
 *
 * @example
 * const outcome = await finishRun('run-20261123T060000Z', { store, bucket, ledger, checkOutput, bufferIntervalSeconds: 300, now: new Date() });
 */
export async function finishRun(run: string, deps: FinishDeps): Promise<FinishOutcome> {
  const { store, bucket } = deps;
  const existing = await getJson<RunCompletedEvent>(store, bucket, LAYOUT.completeKey(run));
  if (existing) return { runId: run, state: 'complete', event: existing };
  const failed = await getJson<RunFailed>(store, bucket, LAYOUT.failedKey(run));
  if (failed?.reason === 'over-failure-threshold') return { runId: run, state: 'failed', failed };
  const delivered = await getJson<RunDelivered>(store, bucket, LAYOUT.deliveredKey(run));
  if (!delivered) return { runId: run, state: 'running' };

  const dueBy = new Date(
    new Date(delivered.handedAt).getTime() + deliveryBoundSeconds(deps.bufferIntervalSeconds) * 1000,
  );
  const status = await deps.ledger.status(run);
  // A chain whose last link is not known yet has slices still to come: not complete, not empty, not countable.
  if (status.chainOpen) return { runId: run, state: 'running' };
  if (status.manifest && status.slices.length === 0) {
    // Nothing was planned (an empty source): nothing to find in S3, and the counts balance at zero.
    const event = await completeRun(store, bucket, {
      runId: run,
      read: 0,
      delivered: 0,
      deadLettered: 0,
      conserved: true,
      slices: 0,
      spilled: 0,
      handedAt: delivered.handedAt,
      completedAt: deps.now.toISOString(),
      createdAt: status.manifest?.createdAt,
    });
    return { runId: run, state: 'complete', event };
  }
  const expected = status.slices.flatMap((s) => (s.read ? [{ slice: s.id, read: s.read.count }] : []));
  const unreadSlices = status.slices.filter((s) => !s.read).map((s) => s.id);
  // Conservation needs every slice's count, from its read marker: without all of them it cannot be checked yet.
  const found = unreadSlices.length === 0 && expected.length > 0 ? await deps.checkOutput(run, expected) : undefined;

  if (found?.conserved && overTolerance(status.manifest?.toleratedFailures, found)) {
    // Conserved, but more dead letters than the job tolerates: the run fails; collation still writes what succeeded.
    const failed: RunFailed = {
      runId: run,
      reason: 'over-failure-threshold',
      failedAt: deps.now.toISOString(),
      read: found.read,
      delivered: found.delivered,
      deadLettered: found.deadLettered,
      conserved: true,
      slices: status.slices.length,
      spilled: status.slices.reduce((sum, s) => sum + (s.read?.spilled ?? 0), 0),
      toleratedFailures: status.manifest?.toleratedFailures,
      createdAt: status.manifest?.createdAt,
    };
    await putJson(store, bucket, LAYOUT.failedKey(run), failed);
    return { runId: run, state: 'failed', failed };
  }
  if (found?.conserved) {
    const event = await completeRun(store, bucket, {
      runId: run,
      read: found.read,
      delivered: found.delivered,
      deadLettered: found.deadLettered,
      conserved: true,
      slices: status.slices.length,
      spilled: status.slices.reduce((sum, s) => sum + (s.read?.spilled ?? 0), 0),
      handedAt: delivered.handedAt,
      completedAt: deps.now.toISOString(),
      createdAt: status.manifest?.createdAt,
    });
    return { runId: run, state: 'complete', event };
  }
  if (deps.now < dueBy) return { runId: run, state: 'delivering', dueBy: dueBy.toISOString(), found };

  const stalled: RunStalled = {
    runId: run,
    handedAt: delivered.handedAt,
    dueBy: dueBy.toISOString(),
    checkedAt: deps.now.toISOString(),
    unreadSlices,
    missing: (found?.slices ?? []).filter((s) => s.found < s.read),
  };
  await putJson(store, bucket, LAYOUT.stalledKey(run), stalled);
  // The first stall fails the run (its event is emitted once); later checks only update stalled.json.
  if (!failed) {
    const marker: RunFailed = { runId: run, reason: 'stalled', failedAt: deps.now.toISOString() };
    await putJson(store, bucket, LAYOUT.failedKey(run), marker);
  }
  return { runId: run, state: 'stalled', stalled };
}

/** A run's delivery state from its markers (three small reads), for status. */
export async function deliveryState(
  store: ObjectStore,
  bucket: string,
  run: string,
): Promise<{ state: DeliveryState; stalled?: RunStalled }> {
  const [complete, failed, stalled, delivered] = await Promise.all([
    getJson(store, bucket, LAYOUT.completeKey(run)),
    getJson<RunFailed>(store, bucket, LAYOUT.failedKey(run)),
    getJson<RunStalled>(store, bucket, LAYOUT.stalledKey(run)),
    getJson(store, bucket, LAYOUT.deliveredKey(run)),
  ]);
  if (complete) return { state: 'complete' };
  if (failed?.reason === 'over-failure-threshold') return { state: 'failed' };
  if (stalled) return { state: 'stalled', stalled };
  return { state: delivered ? 'delivering' : 'running' };
}
