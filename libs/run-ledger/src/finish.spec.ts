import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { deliveryBoundSeconds } from '@pipeline/limits';
import { getJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import {
  type CheckOutputPort,
  finishRun,
  type FinishDeps,
  markRunDelivered,
  type OutputFound,
  RunLedger,
  type RunFailed,
  type RunManifest,
} from './index';

const BUCKET = 'results-bucket';
const INTERVAL_SECONDS = 300;
const HANDED_AT = new Date('2026-11-25T10:00:00.000Z');
const DUE_BY = new Date(HANDED_AT.getTime() + deliveryBoundSeconds(INTERVAL_SECONDS) * 1000);
const before = new Date(DUE_BY.getTime() - 1);

/** An output check that reports the positions a test says are in S3. */
function outputOf(found: Record<string, number>): CheckOutputPort {
  return async (_run, expected): Promise<OutputFound> => {
    const slices = expected.map((e) => ({
      slice: e.slice,
      read: e.read,
      found: found[e.slice] ?? 0,
      missing: Array.from({ length: e.read - (found[e.slice] ?? 0) }, (_, i) => (found[e.slice] ?? 0) + i),
    }));
    const read = expected.reduce((sum, e) => sum + e.read, 0);
    const total = slices.reduce((sum, s) => sum + s.found, 0);
    return { conserved: total === read, read, delivered: total, deadLettered: 0, unexpected: 0, slices };
  };
}

describe('finishRun: a run is complete only when its output is in S3 and conserved', () => {
  let stack: TestStack;
  let ledger: RunLedger;
  let deps: (check: CheckOutputPort, now: Date) => FinishDeps;

  const plan = async (
    run: string,
    read: Record<string, number>,
    delivered = true,
    toleratedFailures?: RunManifest['toleratedFailures'],
  ) => {
    await ledger.createManifest({
      runId: run,
      job: 'job',
      createdAt: HANDED_AT.toISOString(),
      source: { bucket: 'in', prefix: '' },
      slices: Object.keys(read).map((id) => ({ id })),
      ...(toleratedFailures ? { toleratedFailures } : {}),
    });
    for (const [slice, count] of Object.entries(read)) {
      await ledger.markSliceRead({ run, slice, count, malformed: 0, spilled: 0, at: 'now' });
      await ledger.markSliceDone({ run, slice, count, at: 'now' });
    }
    if (delivered) await markRunDelivered(stack.store, BUCKET, run, HANDED_AT);
  };

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
    ledger = new RunLedger(stack.store, BUCKET);
    deps = (checkOutput, now) => ({
      store: stack.store,
      bucket: BUCKET,
      ledger,
      checkOutput,
      bufferIntervalSeconds: INTERVAL_SECONDS,
      now,
    });
  });
  afterAll(() => stack.close());

  it('completes a run that planned no slice (an empty source) at once, with zero counts', async () => {
    await plan('run-empty', {});
    const outcome = await finishRun('run-empty', deps(outputOf({}), before));
    expect(outcome).toMatchObject({
      state: 'complete',
      event: { detail: { runId: 'run-empty', read: 0, delivered: 0, deadLettered: 0, conserved: true, slices: 0 } },
    });
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-empty'))).toMatchObject({
      detailType: 'Run Completed',
    });
  });

  it('leaves a run whose slices are not all handed to Firehose running', async () => {
    await plan('run-running', { s0: 2 }, false);
    expect(await finishRun('run-running', deps(outputOf({ s0: 2 }), before))).toEqual({
      runId: 'run-running',
      state: 'running',
    });
    expect((await ledger.status('run-running')).delivery).toBe('running');
  });

  it('reports a delivered run whose output is not all in S3 as delivering until its bound, and does not complete it', async () => {
    await plan('run-delivering', { s0: 2, s1: 3 });

    const outcome = await finishRun('run-delivering', deps(outputOf({ s0: 2, s1: 1 }), before));

    expect(outcome).toMatchObject({ state: 'delivering', dueBy: DUE_BY.toISOString() });
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-delivering'))).toBeUndefined();
    expect(await ledger.status('run-delivering')).toMatchObject({ delivery: 'delivering', complete: false });
  });

  it('completes a run once every position is in S3, with the counts found there, and fires the event once', async () => {
    await plan('run-complete', { s0: 2, s1: 3 });

    const outcome = await finishRun('run-complete', deps(outputOf({ s0: 2, s1: 3 }), before));

    expect(outcome).toMatchObject({
      state: 'complete',
      event: { detailType: 'Run Completed', detail: { runId: 'run-complete', read: 5, delivered: 5, conserved: true } },
    });
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-complete'))).toMatchObject({
      detail: { handedAt: HANDED_AT.toISOString(), slices: 2 },
    });
    expect(await ledger.status('run-complete')).toMatchObject({ delivery: 'complete', complete: true });
    // Asked again (a redelivered message), it does not check or write again.
    const again = await finishRun('run-complete', deps(outputOf({}), before));
    expect(again).toMatchObject({ state: 'complete' });
  });

  it('reports a run stalled past its bound, naming the missing slices and positions, and never completes it', async () => {
    await plan('run-stalled', { s0: 2, s1: 3 });

    const outcome = await finishRun('run-stalled', deps(outputOf({ s0: 2, s1: 1 }), DUE_BY));

    expect(outcome).toMatchObject({
      state: 'stalled',
      stalled: { dueBy: DUE_BY.toISOString(), missing: [{ slice: 's1', read: 3, found: 1, missing: [1, 2] }] },
    });
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-stalled'))).toBeUndefined();
    expect(await ledger.status('run-stalled')).toMatchObject({
      delivery: 'stalled',
      complete: false,
      stalled: { missing: [{ slice: 's1' }] },
    });
  });

  it('completes a stalled run whose output arrives late', async () => {
    await plan('run-late', { s0: 1 });
    await finishRun('run-late', deps(outputOf({}), DUE_BY));

    const outcome = await finishRun('run-late', deps(outputOf({ s0: 1 }), new Date(DUE_BY.getTime() + 60_000)));

    expect(outcome.state).toBe('complete');
    expect((await ledger.status('run-late')).delivery).toBe('complete');
  });

  it('waits for the read marker of every slice before checking conservation', async () => {
    await ledger.createManifest({
      runId: 'run-unread-2',
      job: 'job',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices: [{ id: 's0' }],
    });
    await ledger.markSliceDone({ run: 'run-unread-2', slice: 's0', count: 1, at: 'now' });
    await markRunDelivered(stack.store, BUCKET, 'run-unread-2', HANDED_AT);

    expect(await finishRun('run-unread-2', deps(outputOf({ s0: 1 }), before))).toMatchObject({ state: 'delivering' });
    expect(await finishRun('run-unread-2', deps(outputOf({ s0: 1 }), DUE_BY))).toMatchObject({
      state: 'stalled',
      stalled: { unreadSlices: ['s0'] },
    });
  });

  it('keeps the first hand-over time when the last slice is marked done again (a replay)', async () => {
    expect(await markRunDelivered(stack.store, BUCKET, 'run-replayed', HANDED_AT)).toBe(true);
    expect(await markRunDelivered(stack.store, BUCKET, 'run-replayed', DUE_BY)).toBe(false);
    expect(await getJson(stack.store, BUCKET, LAYOUT.deliveredKey('run-replayed'))).toEqual({
      runId: 'run-replayed',
      handedAt: HANDED_AT.toISOString(),
    });
  });

  describe('tolerated failures (the job’s toleratedFailures, copied into the manifest)', () => {
    /** An output check that finds everything, `deadLettered` of it dead-lettered. */
    const withDeadLetters =
      (deadLettered: number): CheckOutputPort =>
      async (run, expected) => ({
        ...(await outputOf(Object.fromEntries(expected.map((e) => [e.slice, e.read])))(run, expected)),
        deadLettered,
        delivered: expected.reduce((sum, e) => sum + e.read, 0) - deadLettered,
      });

    it('fails a conserved run with more dead letters than tolerated, says why, and never completes it', async () => {
      await plan('run-over', { s0: 100 }, true, { count: 2 });
      const outcome = await finishRun('run-over', deps(withDeadLetters(3), before));
      expect(outcome).toMatchObject({
        state: 'failed',
        failed: { reason: 'over-failure-threshold', read: 100, delivered: 97, deadLettered: 3, conserved: true },
      });
      expect(await getJson<RunFailed>(stack.store, BUCKET, LAYOUT.failedKey('run-over'))).toMatchObject({
        reason: 'over-failure-threshold',
        toleratedFailures: { count: 2 },
        createdAt: HANDED_AT.toISOString(),
      });
      expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-over'))).toBeUndefined();
      expect(await ledger.status('run-over')).toMatchObject({ delivery: 'failed', complete: false });
      // Asked again (its message comes back), the run stays failed.
      expect(await finishRun('run-over', deps(withDeadLetters(0), before))).toMatchObject({ state: 'failed' });
    });

    it('completes a run whose dead letters are within either bound', async () => {
      await plan('run-within', { s0: 100 }, true, { count: 1, percentage: 5 });
      expect(await finishRun('run-within', deps(withDeadLetters(5), before))).toMatchObject({ state: 'complete' });
    });

    it('completes a run whose job sets no bound, whatever its dead letters', async () => {
      await plan('run-no-bound', { s0: 10 });
      expect(await finishRun('run-no-bound', deps(withDeadLetters(10), before))).toMatchObject({ state: 'complete' });
    });
  });

  it('marks a run failed (stalled) the first time it stalls, once, and still completes it if its output arrives', async () => {
    await plan('run-stall-fail', { s0: 2 });
    await finishRun('run-stall-fail', deps(outputOf({ s0: 1 }), DUE_BY));
    const first = await getJson<RunFailed>(stack.store, BUCKET, LAYOUT.failedKey('run-stall-fail'));
    expect(first).toMatchObject({ runId: 'run-stall-fail', reason: 'stalled', failedAt: DUE_BY.toISOString() });
    const later = new Date(DUE_BY.getTime() + 60_000);
    await finishRun('run-stall-fail', deps(outputOf({ s0: 1 }), later));
    expect(await getJson(stack.store, BUCKET, LAYOUT.failedKey('run-stall-fail'))).toEqual(first);
    expect(await finishRun('run-stall-fail', deps(outputOf({ s0: 2 }), later))).toMatchObject({ state: 'complete' });
  });
});
