import { openStreams } from './open';
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
