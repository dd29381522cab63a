import { countingMemoryStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { ledgerRunActivity, streamsRetired } from './activity';

describe('ledgerRunActivity', () => {
  it('sees a run that opened the streams as active until the finisher marks it complete or failed', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await activity.opened('run-1', new Date('2026-11-25T02:00:00Z'));
    await activity.opened('run-2', new Date('2026-11-25T02:00:00Z'));
    expect(await activity.uses()).toEqual([
      { runId: 'run-1', endedAt: undefined },
      { runId: 'run-2', endedAt: undefined },
    ]);
    await putJson(store, 'results', LAYOUT.completeKey('run-1'), {
      time: 'x',
      detail: { completedAt: '2026-11-25T03:00:00.000Z' },
    });
    await putJson(store, 'results', LAYOUT.failedKey('run-2'), { failedAt: '2026-11-25T04:00:00.000Z' });
    expect(await activity.uses()).toEqual([
      { runId: 'run-1', endedAt: new Date('2026-11-25T03:00:00.000Z') },
      { runId: 'run-2', endedAt: new Date('2026-11-25T04:00:00.000Z') },
    ]);
  });

  it('forgets retired runs and records when the streams were retired', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await activity.opened('run-1', new Date());
    await activity.forget(['run-1']);
    await activity.retired(new Date('2026-11-25T06:00:00Z'), 3);
    expect(await activity.uses()).toEqual([]);
    expect(await streamsRetired(store, 'results')).toEqual({
      retiredAt: '2026-11-25T06:00:00.000Z',
      replayWindowHours: 3,
    });
  });
});
