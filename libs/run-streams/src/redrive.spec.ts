import { countingMemoryStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { ledgerRunActivity } from './activity';
import { openRunStreams } from './open';
import { abandonedLeaseMs, recordsInFlightMs } from './plan';
import { leaseEnd, leaseHolderOf, redriveLeaseKey } from './lease';
import { openForRedrive, redriveRecordsPut, redriveThrough } from './redrive';
import { retireStreams } from './retire';
import { FakeStreams, testPlan } from './testing';

const noSleep = { sleep: async () => {} };
const HOUR = 3_600_000;
const runEnded = new Date('2026-11-25T02:30:00Z');
const later = (from: Date, ms: number) => new Date(from.getTime() + ms);

/** A run that opened the streams, completed, and whose streams the sweep retired after the window. */
async function retiredAfterRun() {
  const store = countingMemoryStore();
  const aws = new FakeStreams();
  const activity = ledgerRunActivity(store, 'results');
  await openRunStreams(testPlan(3), aws, activity, 'run-1', { ...noSleep, now: new Date('2026-11-25T02:00:00Z') });
  await putJson(store, 'results', LAYOUT.completeKey('run-1'), { detail: { completedAt: runEnded.toISOString() } });
  expect(await retireStreams(testPlan(3), aws, activity, later(runEnded, 4 * HOUR))).toMatchObject({ retired: true });
  return { store, aws, activity };
}

describe('a redrive in per-run mode', () => {
  it('opens the retired streams and mappings again, with the plan the reader uses', async () => {
    const { store, aws } = await retiredAfterRun();
    const report = await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', {
      ...noSleep,
      now: later(runEnded, 5 * HOUR),
    });
    expect(report).toMatchObject({ created: ['records', 'results'], mappingsCreated: ['processor', 'writer'] });
    expect([...aws.streams.values()].map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE']);
  });

  it('keeps the run active, however long ago it completed, until the redrive is through', async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    // A sweep long after the window, while the redrive's records travel: the run is active.
    expect(await retireStreams(testPlan(3), aws, activity, later(start, 20 * HOUR))).toEqual({
      retired: false,
      reason: 'run run-1 is still active',
    });
    expect(aws.streams.size).toBe(2);
    expect(aws.mappings.size).toBe(2);
    const through = later(start, HOUR);
    await redriveThrough(store, 'results', 'run-1', 'redrive-1', through);
    // The replay window now runs from the redrive's end, not the run's.
    expect(await retireStreams(testPlan(3), aws, activity, later(through, 3 * HOUR - 1))).toMatchObject({
      retired: false,
      reason: expect.stringContaining(later(through, 3 * HOUR).toISOString()),
    });
    expect(await retireStreams(testPlan(3), aws, activity, later(through, 3 * HOUR))).toMatchObject({
      retired: true,
      mappings: 2,
    });
  });

  it("ends with the redrive's end-of-slice marker when the tool stopped before saying it was through", async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    const done = later(start, 10 * 60_000);
    await putJson(store, 'results', LAYOUT.sliceDoneKey('run-1', 'redrive-1'), {
      run: 'run-1',
      slice: 'redrive-1',
      count: 3,
      at: done.toISOString(),
    });
    expect(await activity.uses()).toEqual([{ runId: 'run-1', slice: 'redrive-1', endedAt: done }]);
  });

  it('ends the lease of a redrive stopped before its end once its records have left the streams', async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    // The tool was stopped: no end written, no end-of-slice marker. Its lease ends after the bound.
    const bound = abandonedLeaseMs(testPlan(3));
    expect(await retireStreams(testPlan(3), aws, activity, later(start, bound + 3 * HOUR - 1))).toMatchObject({
      retired: false,
      abandoned: [{ runId: 'run-1', slice: 'redrive-1', lastActiveAt: start }],
    });
    expect(await retireStreams(testPlan(3), aws, activity, later(start, bound + 3 * HOUR))).toMatchObject({
      retired: true,
    });
    expect(await activity.uses()).toEqual([]);
  });

  it('counts from when the redrive put its last record, once it says so, not from when it started', async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    const put = later(start, 2 * HOUR);
    await redriveRecordsPut(store, 'results', 'run-1', 'redrive-1', put);
    expect(await activity.uses()).toEqual([{ runId: 'run-1', slice: 'redrive-1', lastActiveAt: put }]);
    // Past the bound from its start, within it from its last record: still active.
    const bound = abandonedLeaseMs(testPlan(3));
    expect(await retireStreams(testPlan(3), aws, activity, later(start, bound + HOUR))).toEqual({
      retired: false,
      reason: 'run run-1 is still active',
    });
  });

  it('ends, with records it did not see through, only once they are through the streams, whatever the window', async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const plan = testPlan(0);
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(plan, aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    const put = later(start, 60_000);
    await redriveRecordsPut(store, 'results', 'run-1', 'redrive-1', put);
    await redriveThrough(store, 'results', 'run-1', 'redrive-1', later(put, 1_000), { plan, since: put });
    const through = later(put, recordsInFlightMs(plan));
    expect(await retireStreams(plan, aws, activity, later(through, -1))).toEqual({
      retired: false,
      reason: `run run-1 (redrive-1) holds the streams until ${through.toISOString()}: records it put may still be in flight`,
    });
    expect(await retireStreams(plan, aws, activity, through)).toMatchObject({ retired: true });
  });

  it("leaves a later redrive's lease to that redrive", async () => {
    const { store, aws, activity } = await retiredAfterRun();
    const start = later(runEnded, 5 * HOUR);
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start });
    await openForRedrive(testPlan(3), aws, store, 'results', 'run-1', 'redrive-2', { ...noSleep, now: start });
    await redriveThrough(store, 'results', 'run-1', 'redrive-1', later(start, HOUR));
    expect(await activity.uses()).toEqual([
      { runId: 'run-1', slice: 'redrive-1', endedAt: later(start, HOUR) },
      { runId: 'run-1', slice: 'redrive-2', lastActiveAt: start },
    ]);
  });

  it("keeps the redrive's lease when the run's reader writes its own meanwhile", async () => {
    const { store: results, aws } = await retiredAfterRun();
    // The reader's PUT of its lease waits until the redrive has written its lease: the reader read
    // (or skipped reading) before the redrive wrote, and writes after it.
    let redriveWrote: () => void = () => {};
    const wrote = new Promise<void>((resolve) => {
      redriveWrote = resolve;
    });
    const isLease = (key: string) => key.startsWith(LAYOUT.streamsLeasePrefix);
    const readerStore: typeof results = {
      ...results,
      async put(bucket, key, body, contentType) {
        if (isLease(key)) await wrote;
        await results.put(bucket, key, body, contentType);
      },
    };
    const redriveStore: typeof results = {
      ...results,
      async put(bucket, key, body, contentType) {
        await results.put(bucket, key, body, contentType);
        if (isLease(key)) redriveWrote();
      },
    };
    const start = later(runEnded, 5 * HOUR);
    await Promise.all([
      ledgerRunActivity(readerStore, 'results').opened('run-1', start),
      openForRedrive(testPlan(3), aws, redriveStore, 'results', 'run-1', 'redrive-1', { ...noSleep, now: start }),
    ]);
    // The run completed long ago, but its redrive's records travel: a sweep keeps the streams.
    expect(
      await retireStreams(testPlan(3), aws, ledgerRunActivity(results, 'results'), later(start, 20 * HOUR)),
    ).toEqual({
      retired: false,
      reason: 'run run-1 is still active',
    });
  });
});

describe('leaseEnd', () => {
  const ended = new Date('2026-11-25T03:00:00Z');

  it("is the run's own end without a redrive", () => {
    expect(leaseEnd(ended, undefined)).toEqual(ended);
    expect(leaseEnd(undefined, undefined)).toBeUndefined();
  });

  it('is undefined (active) while a redrive is under way, and the later end once it is through', () => {
    const redrive = { slice: 'redrive-1', startedAt: '2026-11-25T05:00:00Z' };
    expect(leaseEnd(ended, redrive)).toBeUndefined();
    expect(leaseEnd(ended, { ...redrive, endedAt: '2026-11-25T06:00:00.000Z' })).toEqual(
      new Date('2026-11-25T06:00:00.000Z'),
    );
    expect(leaseEnd(ended, redrive, new Date('2026-11-25T05:30:00Z'))).toEqual(new Date('2026-11-25T05:30:00Z'));
  });
});

describe('leaseHolderOf', () => {
  it("tells a run's reader lease from its redrives', run ids with dots included", () => {
    expect(leaseHolderOf(LAYOUT.streamsLeaseKey('r.1'))).toEqual({ runId: 'r.1' });
    expect(leaseHolderOf(redriveLeaseKey('r.1', 'redrive-7'))).toEqual({ runId: 'r.1', slice: 'redrive-7' });
    expect(leaseHolderOf('streams/opened/r1/a/b.json')).toBeUndefined();
    expect(leaseHolderOf('streams/retired.json')).toBeUndefined();
  });
});
