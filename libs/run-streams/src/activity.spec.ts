import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { countingMemoryStore, type EtagWrites, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { ledgerRunActivity, replayBlocked, streamsRetired } from './activity';
import { redriveLeaseKey } from './lease';

describe('ledgerRunActivity', () => {
  it('sees a run that opened the streams as active until the finisher marks it complete or failed', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await activity.opened('run-1', new Date('2026-11-25T02:00:00Z'));
    await activity.opened('run-2', new Date('2026-11-25T02:00:00Z'));
    const opened = new Date('2026-11-25T02:00:00Z');
    expect(await activity.uses()).toEqual([
      { runId: 'run-1', lastActiveAt: opened },
      { runId: 'run-2', lastActiveAt: opened },
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

  it('keeps a redrive in flight when the run is triggered again: the run stays active', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await putJson(store, 'results', LAYOUT.completeKey('run-1'), {
      detail: { completedAt: '2026-11-25T03:00:00.000Z' },
    });
    await putJson(store, 'results', redriveLeaseKey('run-1', 'redrive-1'), {
      runId: 'run-1',
      slice: 'redrive-1',
      startedAt: '2026-11-25T09:00:00.000Z',
    });
    await activity.opened('run-1', new Date('2026-11-25T09:05:00Z'));
    expect(await activity.uses()).toEqual([
      { runId: 'run-1', endedAt: new Date('2026-11-25T03:00:00.000Z') },
      { runId: 'run-1', slice: 'redrive-1', lastActiveAt: new Date('2026-11-25T09:00:00.000Z') },
    ]);
  });

  it("honours the redrive's part of a lease written before each redrive had its own", async () => {
    const store = countingMemoryStore();
    await putJson(store, 'results', LAYOUT.completeKey('run-1'), {
      detail: { completedAt: '2026-11-25T03:00:00.000Z' },
    });
    await putJson(store, 'results', LAYOUT.streamsLeaseKey('run-1'), {
      runId: 'run-1',
      openedAt: '2026-11-25T02:00:00.000Z',
      redrive: { slice: 'redrive-1', startedAt: '2026-11-25T09:00:00.000Z' },
    });
    expect(await ledgerRunActivity(store, 'results').uses()).toEqual([
      { runId: 'run-1', lastActiveAt: new Date('2026-11-25T09:00:00.000Z') },
    ]);
  });

  it("knows each lease's last activity: when the reader opened, or the redrive started or put its last record", async () => {
    const store = countingMemoryStore();
    await putJson(store, 'results', redriveLeaseKey('run-1', 'redrive-1'), {
      runId: 'run-1',
      slice: 'redrive-1',
      startedAt: '2026-11-25T09:00:00.000Z',
      recordsPutAt: '2026-11-25T09:40:00.000Z',
    });
    expect(await ledgerRunActivity(store, 'results').uses()).toEqual([
      { runId: 'run-1', slice: 'redrive-1', lastActiveAt: new Date('2026-11-25T09:40:00.000Z') },
    ]);
  });

  it('a reader writes its lease without reading it, and a sweep reads each run’s end once', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await activity.opened('run-1', new Date('2026-11-25T02:00:00Z'));
    expect(store.calls).toMatchObject({ put: 1, get: 0 });
    for (const slice of ['redrive-1', 'redrive-2'])
      await putJson(store, 'results', redriveLeaseKey('run-1', slice), {
        runId: 'run-1',
        slice,
        startedAt: '2026-11-25T09:00:00.000Z',
        endedAt: '2026-11-25T10:00:00.000Z',
      });
    await putJson(store, 'results', LAYOUT.completeKey('run-1'), {
      detail: { completedAt: '2026-11-25T03:00:00.000Z' },
    });
    const before = { ...store.calls };
    const uses = await activity.uses();
    expect(uses.map((u) => u.slice)).toEqual([undefined, 'redrive-1', 'redrive-2']);
    // 3 leases read, and run-1's complete.json once (found, so no failed.json).
    expect(store.calls.get - before.get).toBe(3 + 1);
    expect(store.calls.list - before.list).toBe(1);
    await activity.forget(uses);
    expect(await activity.uses()).toEqual([]);
  });

  it('skips a lease removed between the listing and its read', async () => {
    const store = countingMemoryStore();
    await ledgerRunActivity(store, 'results').opened('run-1', new Date('2026-11-25T02:00:00Z'));
    const vanishing: typeof store = {
      ...store,
      async get(bucket, key) {
        if (key === LAYOUT.streamsLeaseKey('run-1')) await store.delete(bucket, key);
        return store.get(bucket, key);
      },
    };
    expect(await ledgerRunActivity(vanishing, 'results').uses()).toEqual([]);
  });

  it('forgets retired runs and records when the streams were retired', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results');
    await activity.opened('run-1', new Date());
    await activity.forget(await activity.uses());
    await activity.retired(new Date('2026-11-25T06:00:00Z'), 3);
    expect(await activity.uses()).toEqual([]);
    expect(await streamsRetired(store, 'results')).toEqual({
      retiredAt: '2026-11-25T06:00:00.000Z',
      replayWindowHours: 3,
    });
  });
});

describe('ledgerRunActivity: the mark of a sweep retiring the streams', () => {
  const at = new Date('2026-11-25T06:00:00Z');
  const minutes = (n: number) => new Date(at.getTime() + n * 60_000);

  it('lets one sweep mark the streams at a time, and readers see the mark until it is removed', async () => {
    const store = countingMemoryStore();
    const activity = ledgerRunActivity(store, 'results', () => minutes(1));
    expect(await activity.retiringSince()).toBeUndefined();
    expect(await activity.beginRetiring(at)).toBe(true);
    expect(await activity.beginRetiring(minutes(1))).toBe(false);
    expect(await activity.retiringSince()).toEqual(at);
    await activity.endRetiring();
    expect(await activity.retiringSince()).toBeUndefined();
    expect(await activity.beginRetiring(minutes(2))).toBe(true);
  });

  it('treats a mark older than the longest Lambda invocation as left by a sweep that died', async () => {
    const store = countingMemoryStore();
    let now = minutes(15);
    const activity = ledgerRunActivity(store, 'results', () => now);
    await activity.beginRetiring(at);
    expect(await activity.retiringSince()).toEqual(at); // 15 minutes: the sweep may still be running
    now = minutes(16);
    expect(await activity.retiringSince()).toBeUndefined();
    expect(await activity.beginRetiring(minutes(16))).toBe(true);
    expect(await activity.retiringSince()).toEqual(minutes(16));
  });
});

/**
 * A store whose first `count` reads of `key` are answered only once all of them were asked: that many
 * sweeps have all read the mark before any of them writes it.
 */
function readTogether<S extends ObjectStore & EtagWrites>(store: S, key: string, count: number): S {
  const waiting: (() => void)[] = [];
  const gate = () =>
    waiting.length >= count
      ? Promise.resolve()
      : new Promise<void>((resolve) => {
          waiting.push(resolve);
          if (waiting.length === count) for (const release of waiting) release();
        });
  return {
    ...store,
    async get(bucket, k) {
      if (k === key) await gate();
      return store.get(bucket, k);
    },
    async getWithEtag(bucket, k) {
      if (k === key) await gate();
      return store.getWithEtag(bucket, k);
    },
  };
}

describe('ledgerRunActivity: two sweeps that find a stale mark', () => {
  const at = new Date('2026-11-25T06:00:00Z');
  const minutes = (n: number) => new Date(at.getTime() + n * 60_000);
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['results'] });
  });
  afterAll(() => stack.close());

  for (const [name, store] of [
    ['in memory', () => countingMemoryStore()],
    ['on the embedded S3', () => stack.store],
  ] as const) {
    it(`lets only one of them take it over (${name})`, async () => {
      const results = store();
      await putJson(results, 'results', LAYOUT.streamsRetiringKey, { since: at.toISOString() });
      const racing = readTogether(results, LAYOUT.streamsRetiringKey, 2);
      const sweeps = [minutes(20), minutes(21)];
      const took = await Promise.all(sweeps.map((now) => ledgerRunActivity(racing, 'results').beginRetiring(now)));
      expect(took.filter(Boolean)).toHaveLength(1);
      const winner = sweeps[took.indexOf(true)];
      expect(await ledgerRunActivity(results, 'results', () => minutes(22)).retiringSince()).toEqual(winner);
      await results.delete('results', LAYOUT.streamsRetiringKey);
    });
  }
});

describe('replayBlocked', () => {
  const retired = { retiredAt: '2026-11-25T06:00:00.000Z', replayWindowHours: 3 };

  it('says when the stream was retired, where the results are and which setting keeps it longer', () => {
    const message = replayBlocked('r1', 'records', { exists: false }, retired, '2026-11-25T02:00:00Z');
    expect(message).toContain('was retired at 2026-11-25T06:00:00.000Z');
    expect(message).toContain('results are in S3');
    expect(message).toContain('replay window of 3 h');
    expect(message).toContain('streams.replayWindowHours');
  });

  it('refuses a run whose stream was retired after it, even once a later run created the stream again', () => {
    expect(replayBlocked('r1', 'records', { exists: true }, retired, '2026-11-25T02:00:00Z')).toContain(
      'created again since',
    );
  });

  it('lets a run put on the stream as it is now be replayed', () => {
    expect(replayBlocked('r2', 'records', { exists: true }, retired, '2026-11-26T02:00:00Z')).toBeUndefined();
    expect(replayBlocked('r2', 'records', { exists: true }, undefined, '2026-11-26T02:00:00Z')).toBeUndefined();
  });
});
