import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { getJson, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import type { RunEvent, RunFailed } from '@pipeline/run-ledger';
import { collateEndedRun, type RunSummary } from './index';
import { FIXTURE_READ, runOutputFixture } from './fixtures';

const BUCKET = 'results-bucket';
const CREATED_AT = '2026-11-25T10:00:00.000Z';
const ENDED_AT = '2026-11-25T10:02:30.000Z';

describe('collateEndedRun: a run that ended is collated and announced, once', () => {
  let stack: TestStack;
  let events: RunEvent[];
  const put = async (event: RunEvent) => {
    events.push(event);
  };
  const seed = async (run: string) => {
    for (const { key, body } of runOutputFixture(run)) await stack.store.put(BUCKET, key, body);
    await putJson(stack.store, BUCKET, LAYOUT.manifestKey(run), {
      runId: run,
      job: 'job',
      createdAt: CREATED_AT,
      source: { bucket: 'in', prefix: '' },
      slices: [{ id: 's0' }, { id: 's1' }],
    });
  };
  const counts = { read: FIXTURE_READ, delivered: 8, deadLettered: 2, conserved: true, spilled: 1, slices: 2 };

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
  });
  beforeEach(() => {
    events = [];
  });
  afterAll(() => stack.close());

  it('collates a complete run, writes summary.json with its counts and elapsed time, and puts Run Completed with them', async () => {
    await seed('run-ok');
    await putJson(stack.store, BUCKET, LAYOUT.completeKey('run-ok'), {
      source: 'slice-pipeline',
      detailType: 'Run Completed',
      time: ENDED_AT,
      detail: { runId: 'run-ok', ...counts, completedAt: ENDED_AT },
    });
    const summary = await collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-ok', events: put });
    const expected = {
      runId: 'run-ok',
      ended: 'complete',
      complete: true,
      read: 10,
      delivered: 8,
      deadLettered: 2,
      deadLetteredByReason: { 'invalid-input': 1, 'transform-failed': 1 },
      spilled: 1,
      duplicatesDropped: 3,
      elapsedSeconds: 150,
      conserved: true,
      output: { bucket: BUCKET, prefix: LAYOUT.collatedPrefix('run-ok') },
    };
    expect(summary).toMatchObject(expected);
    expect(summary?.deadLetteredByReason).toEqual(expected.deadLetteredByReason);
    expect(await getJson<RunSummary>(stack.store, BUCKET, LAYOUT.summaryKey('run-ok'))).toMatchObject(expected);
    expect(events.map((e) => e.detailType)).toEqual(['Run Completed']);
    expect(events[0].detail).toMatchObject(expected);

    // The finisher's message coming back, or a second end, announces nothing more.
    expect(await collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-ok', events: put })).toBeUndefined();
    expect(events).toHaveLength(1);
  });

  it('collates what succeeded of a run over its tolerated failures, and puts Run Failed saying why', async () => {
    await seed('run-over');
    const failed: RunFailed = { runId: 'run-over', reason: 'over-failure-threshold', failedAt: ENDED_AT, ...counts };
    await putJson(stack.store, BUCKET, LAYOUT.failedKey('run-over'), failed);
    const summary = await collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-over', events: put });
    expect(summary).toMatchObject({
      ended: 'failed',
      failureReason: 'over-failure-threshold',
      delivered: 8,
      complete: false,
    });
    const parts = [];
    for await (const o of stack.store.list(BUCKET, LAYOUT.collatedPrefix('run-over'))) parts.push(o.key);
    expect(parts.length).toBeGreaterThan(0);
    expect(events).toEqual([
      expect.objectContaining({
        detailType: 'Run Failed',
        detail: expect.objectContaining({ runId: 'run-over', reason: 'over-failure-threshold', delivered: 8 }),
      }),
    ]);
  });

  it('announces a stalled run as failed without collating it, since its output is not all in S3', async () => {
    await seed('run-stalled');
    await putJson(stack.store, BUCKET, LAYOUT.failedKey('run-stalled'), {
      runId: 'run-stalled',
      reason: 'stalled',
      failedAt: ENDED_AT,
    });
    expect(
      await collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-stalled', events: put }),
    ).toBeUndefined();
    expect(events).toEqual([
      expect.objectContaining({
        detailType: 'Run Failed',
        detail: { runId: 'run-stalled', reason: 'stalled', failedAt: ENDED_AT },
      }),
    ]);
    expect(await getJson(stack.store, BUCKET, LAYOUT.summaryKey('run-stalled'))).toBeUndefined();
  });

  it('announces a run whose summary was written before it ended (a paused run’s collation)', async () => {
    await seed('run-paused');
    await putJson(stack.store, BUCKET, LAYOUT.summaryKey('run-paused'), { runId: 'run-paused', complete: false });
    await putJson(stack.store, BUCKET, LAYOUT.completeKey('run-paused'), {
      detail: { runId: 'run-paused', ...counts, completedAt: ENDED_AT },
    });
    const summary = await collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-paused', events: put });
    expect(summary).toMatchObject({ ended: 'complete', complete: true });
    expect(events.map((e) => e.detailType)).toEqual(['Run Completed']);
  });

  it('refuses a run that has not ended, saying which markers it looked for', async () => {
    await expect(
      collateEndedRun({ store: stack.store, bucket: BUCKET, runId: 'run-running', events: put }),
    ).rejects.toThrow('neither complete.json nor failed.json');
  });
});
