import { type OpenReport, openRunStreams, openStreams } from './open';
import { abandonedLeaseMs } from './plan';
import { retireStreams } from './retire';
import { FakeActivity, FakeStreams, testPlan } from './testing';

const noSleep = { sleep: async () => {} };
const HOUR = 3_600_000;
const ended = new Date('2026-11-25T02:30:00Z');

async function openedAndEnded(): Promise<{ aws: FakeStreams; activity: FakeActivity }> {
  const aws = new FakeStreams();
  const activity = new FakeActivity();
  await activity.opened('run-1');
  await openStreams(testPlan(3), aws, noSleep);
  activity.end('run-1', ended);
  return { aws, activity };
}

describe('retireStreams', () => {
  it('keeps the streams while a run is active', async () => {
    const { aws, activity } = await openedAndEnded();
    await activity.opened('run-2');
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR));
    expect(outcome).toEqual({ retired: false, reason: 'run run-2 is still active' });
    expect(aws.streams.size).toBe(2);
    expect(aws.mappings.size).toBe(2);
  });

  it('keeps the streams until the replay window after the last run has passed', async () => {
    const { aws, activity } = await openedAndEnded();
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 3 * HOUR - 1));
    expect(outcome.retired).toBe(false);
    expect(outcome).toMatchObject({ reason: expect.stringContaining('2026-11-25T05:30:00.000Z') });
    expect(aws.log.filter((l) => l.startsWith('Delete'))).toEqual([]);
  });

  it('deletes the mappings, then the streams, once the window has passed, and forgets the runs', async () => {
    const { aws, activity } = await openedAndEnded();
    aws.log.length = 0;
    const now = new Date(ended.getTime() + 3 * HOUR);
    const outcome = await retireStreams(testPlan(3), aws, activity, now);
    expect(outcome).toMatchObject({ retired: true, streams: ['records', 'results'], mappings: 2 });
    const deletes = aws.log.filter((l) => l.startsWith('Delete'));
    expect(deletes.map((l) => l.split(' ')[0])).toEqual([
      'DeleteEventSourceMapping',
      'DeleteEventSourceMapping',
      'DeleteStream',
      'DeleteStream',
    ]);
    expect(aws.mappings.size).toBe(0);
    expect([...aws.streams.values()].map((s) => s.status)).toEqual(['DELETING', 'DELETING']);
    expect(activity.leases.size).toBe(0);
    expect(activity.retiredAt).toEqual(now);
    if (outcome.retired) expect(Object.values(outcome.calls).reduce((a, b) => a + b, 0)).toBe(8);
  });

  it('keeps the streams, and puts the mappings back, when a run opens them during the sweep', async () => {
    const { aws, activity } = await openedAndEnded();
    activity.onUses = (count) => {
      if (count === 2) activity.leases.set('run-2', undefined);
    };
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR));
    expect(outcome).toMatchObject({ retired: false, reason: expect.stringContaining('run run-2 is still active') });
    expect(aws.streams.size).toBe(2);
    expect([...aws.streams.values()].every((s) => s.status === 'ACTIVE')).toBe(true);
    expect(aws.mappings.size).toBe(2);
  });

  it('makes a reader that opens the streams while they are being deleted wait for the sweep, then create them anew', async () => {
    const { aws, activity } = await openedAndEnded();
    const order: string[] = [];
    activity.onRetiring = (marked) => {
      order.push(marked ? 'sweep marks' : 'sweep unmarks');
    };
    // The reader comes in after the sweep's last look at the leases, just before its first DeleteStream,
    // and goes as far as it can (until it opened the streams, or until it waits) before the sweep goes on.
    let reader: Promise<OpenReport> | undefined;
    aws.before = async (call) => {
      if (call !== 'DeleteStream' || reader) return;
      order.push('reader opens');
      let waiting: () => void = () => {};
      const readerWaits = new Promise<void>((resolve) => {
        waiting = resolve;
      });
      const sleep = () => {
        waiting();
        return new Promise<void>((resolve) => setImmediate(resolve));
      };
      reader = openRunStreams(testPlan(3), aws, activity, 'run-2', { sleep, now: new Date() }).then((report) => {
        order.push('reader opened');
        return report;
      });
      await Promise.race([reader, readerWaits]);
    };
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR));
    expect(outcome.retired).toBe(true);
    const report = await (reader as Promise<OpenReport>);
    expect(order).toEqual(['sweep marks', 'reader opens', 'sweep unmarks', 'reader opened']);
    // Without the wait it would have found them ACTIVE and put its records on streams about to go.
    expect(report.created).toEqual(['records', 'results']);
    expect([...aws.streams.values()].map((s) => s.status)).toEqual(['ACTIVE', 'ACTIVE']);
    expect(aws.mappings.size).toBe(2);
    expect([...activity.leases.keys()]).toEqual(['run-2']);
  });

  it('puts a mapping back though Lambda still holds the deleted one for a while (a create meets a conflict)', async () => {
    const { aws, activity } = await openedAndEnded();
    aws.mappingDeletingLooks = 3;
    activity.onUses = (count) => {
      if (count === 2) activity.leases.set('run-2', undefined);
    };
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR), noSleep);
    expect(outcome).toMatchObject({ retired: false, reason: expect.stringContaining('mappings were put back') });
    const live = [...aws.mappings.values()].filter((m) => m.state !== 'Deleting');
    expect(live.map((m) => m.functionName).sort()).toEqual(['processor', 'writer']);
  });

  it('gives up with what to check when a conflicting mapping never goes', async () => {
    const { aws, activity } = await openedAndEnded();
    aws.mappingDeletingLooks = 1_000;
    activity.onUses = (count) => {
      if (count === 2) activity.leases.set('run-2', undefined);
    };
    await expect(
      retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR), noSleep),
    ).rejects.toThrow(/could not be created.*list-event-source-mappings/);
  });

  it('puts back the mappings of an active run that an earlier sweep left without them', async () => {
    const { aws, activity } = await openedAndEnded();
    await activity.opened('run-2');
    for (const uuid of [...aws.mappings.keys()]) await aws.deleteMapping(uuid);
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR), noSleep);
    expect(outcome).toEqual({ retired: false, reason: 'run run-2 is still active' });
    expect([...aws.mappings.values()].map((m) => m.functionName).sort()).toEqual(['processor', 'writer']);
  });

  it('stops when another sweep is retiring the streams', async () => {
    const { aws, activity } = await openedAndEnded();
    activity.retiring = new Date(ended.getTime() + 10 * HOUR);
    const outcome = await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR));
    expect(outcome).toEqual({ retired: false, reason: 'another sweep is retiring the streams' });
    expect(aws.log.filter((l) => l.startsWith('Delete'))).toEqual([]);
  });

  it('removes its mark when it keeps the streams and when a call fails', async () => {
    const { aws, activity } = await openedAndEnded();
    activity.onUses = (count) => {
      if (count === 2) activity.leases.set('run-2', undefined);
    };
    await retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR));
    expect(activity.retiring).toBeUndefined();
    activity.end('run-2', ended);
    activity.onUses = () => {};
    aws.before = (call) => {
      if (call === 'DeleteStream') throw new Error('throttled');
    };
    await expect(retireStreams(testPlan(3), aws, activity, new Date(ended.getTime() + 10 * HOUR))).rejects.toThrow(
      'throttled',
    );
    expect(activity.retiring).toBeUndefined();
  });

  it('counts a lease with no news for longer than its holder and its records can use the streams as ended, and says so', async () => {
    const { aws, activity } = await openedAndEnded();
    // The reader of run-2 opened the streams and died: its run never completes.
    const silent = new Date('2026-11-25T04:00:00Z');
    await activity.opened('run-2', silent);
    const bound = abandonedLeaseMs(testPlan(3));
    const at = (ms: number) => new Date(silent.getTime() + ms);
    expect(await retireStreams(testPlan(3), aws, activity, at(bound - 1))).toEqual({
      retired: false,
      reason: 'run run-2 is still active',
    });
    // Its lease ends where its records have left the streams; the replay window runs from there.
    const abandoned = [{ runId: 'run-2', lastActiveAt: silent, endedAt: at(bound) }];
    expect(await retireStreams(testPlan(3), aws, activity, at(bound + 3 * HOUR - 1))).toEqual({
      retired: false,
      reason: `the replay window of 3 h after the last run ends at ${at(bound + 3 * HOUR).toISOString()}`,
      abandoned,
    });
    expect(await retireStreams(testPlan(3), aws, activity, at(bound + 3 * HOUR))).toMatchObject({
      retired: true,
      abandoned,
    });
    expect(aws.mappings.size).toBe(0);
    expect(activity.leases.size).toBe(0);
  });

  it('does nothing when the streams are already gone', async () => {
    const aws = new FakeStreams();
    const activity = new FakeActivity();
    const outcome = await retireStreams(testPlan(3), aws, activity, ended);
    expect(outcome).toEqual({ retired: false, reason: 'the streams do not exist' });
    expect(aws.log.filter((l) => l.startsWith('Delete'))).toEqual([]);
  });

  it('retires streams no run has opened (left over), whatever the window', async () => {
    const aws = new FakeStreams();
    await openStreams(testPlan(3), aws, noSleep);
    const outcome = await retireStreams(testPlan(3), aws, new FakeActivity(), ended);
    expect(outcome.retired).toBe(true);
  });
});
