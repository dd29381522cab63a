import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { ControlCache, RunLedger, runIdFromTime, checkRunId } from './index';

const BUCKET = 'results-bucket';

describe('RunLedger against a real S3 server', () => {
  let stack: TestStack;
  let ledger: RunLedger;
  const manifest = (runId: string, slices = ['s000000', 's000001']) => ({
    runId,
    job: 'job',
    createdAt: '2026-11-23T06:00:00.000Z',
    source: { bucket: 'in', prefix: '' },
    slices: slices.map((id) => ({ id })),
  });

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
    ledger = new RunLedger(stack.store, BUCKET);
  });
  afterAll(() => stack.close());

  it('keeps the first plan of a run when it is triggered again', async () => {
    expect(await ledger.createManifest(manifest('run-a'))).toMatchObject({ created: true });
    const again = await ledger.createManifest(manifest('run-a', ['s000000']));
    expect(again.created).toBe(false);
    expect(again.manifest.slices).toHaveLength(2);
  });

  it('counts what was read and done, and is not complete merely because every planned slice is done', async () => {
    await ledger.createManifest(manifest('run-b'));
    await ledger.markSliceRead({ run: 'run-b', slice: 's000000', count: 10, malformed: 1, spilled: 0, at: 'now' });
    await ledger.markSliceDone({ run: 'run-b', slice: 's000000', count: 10, at: 'now' });
    expect(await ledger.status('run-b')).toMatchObject({ slicesRead: 1, slicesDone: 1, read: 10, complete: false });
    await ledger.markSliceRead({ run: 'run-b', slice: 's000001', count: 5, malformed: 0, spilled: 1, at: 'now' });
    await ledger.markSliceDone({ run: 'run-b', slice: 's000001', count: 5, at: 'now' });
    // A marker of a slice outside the plan (a redrive's) does not count toward completion.
    await ledger.markSliceDone({ run: 'run-b', slice: 'redrive-1', count: 3, at: 'now' });
    expect(await ledger.allSlicesDone('run-b')).toBe(true);
    // Complete means the output is in S3: the finisher decides (finish.spec.ts).
    expect(await ledger.status('run-b')).toMatchObject({ slicesRead: 2, slicesDone: 2, read: 15, complete: false });
  });

  it("counts a slice's reads from the reader's read marker, never from a done marker's count", async () => {
    await ledger.createManifest(manifest('run-d', ['s000000']));
    await ledger.markSliceRead({ run: 'run-d', slice: 's000000', count: 7, malformed: 0, spilled: 0, at: 'now' });
    await ledger.markSliceDone({ run: 'run-d', slice: 's000000', count: 99, at: 'now' });
    expect(await ledger.status('run-d')).toMatchObject({ read: 7 });
  });

  it('keeps the first of two plans made at once, and gives both planners that plan', async () => {
    // Two readers, each finding no manifest before either writes one.
    let looked = 0;
    let bothLooked: () => void = () => undefined;
    const together = new Promise<void>((resolve) => (bothLooked = resolve));
    const planner = () => {
      let first = true;
      const store = {
        ...stack.store,
        async get(bucket: string, key: string) {
          const found = await stack.store.get(bucket, key);
          if (first) {
            first = false;
            if (++looked === 2) bothLooked();
            await together;
          }
          return found;
        },
      };
      return new RunLedger(store, BUCKET);
    };
    const [a, b] = await Promise.all([
      planner().createManifest({ ...manifest('run-twice'), runKey: 'a'.repeat(64) }),
      planner().createManifest({ ...manifest('run-twice', ['s000000']), runKey: 'b'.repeat(64) }),
    ]);
    expect([a.created, b.created].sort()).toEqual([false, true]);
    expect(b.manifest).toEqual(a.manifest);
    expect(await new RunLedger(stack.store, BUCKET).getManifest('run-twice')).toEqual(a.manifest);
  });

  it('knows its own plan when S3 kept it but its answer was lost (the retried PUT met it)', async () => {
    const lostAnswer = { ...stack.store, putIfAbsent: lostAnswerPut };
    const planned = { ...manifest('run-lost-answer'), runKey: 'c'.repeat(64) };
    expect(await new RunLedger(lostAnswer, BUCKET).createManifest(planned)).toEqual({
      manifest: planned,
      created: true,
    });
  });

  describe('claimSliceRead: a read marker, written only if the slice has none', () => {
    const read = (count: number) => ({
      run: 'run-claim',
      slice: 's000000',
      count,
      malformed: 0,
      spilled: 0,
      at: 'now',
    });

    it('keeps the first of two markers written at once, and never replaces it', async () => {
      const claims = await Promise.all([ledger.claimSliceRead(read(10)), ledger.claimSliceRead(read(11))]);
      expect(claims.sort()).toEqual([false, true]);
      const kept = (await ledger.getSliceRead('run-claim', 's000000'))!.count;
      expect(await ledger.claimSliceRead(read(12))).toBe(false);
      expect((await ledger.getSliceRead('run-claim', 's000000'))!.count).toBe(kept);
    });

    it("knows its own marker when S3 kept it but its answer was lost, and not another reader's", async () => {
      const lost = new RunLedger({ ...stack.store, putIfAbsent: lostAnswerPut }, BUCKET);
      expect(await lost.claimSliceRead({ ...read(5), slice: 's000001' })).toBe(true);
      expect(await lost.claimSliceRead({ ...read(5), slice: 's000001' })).toBe(false);
    });
  });

  /** A conditional PUT that S3 applied, answered as the SDK's retry of it would be: 412. */
  async function lostAnswerPut(bucket: string, key: string, body: string | Uint8Array) {
    await stack.store.putIfAbsent(bucket, key, body);
    return false;
  }

  it('reads the kill switch at most once per interval per run', async () => {
    let reads = 0;
    let now = 0;
    const counting = { getControl: async (run: string) => (reads++, ledger.getControl(run)) };
    const cache = new ControlCache(counting, 1_000, () => now);
    await ledger.setControl('run-c', { state: 'paused', at: 'now' });
    expect(await cache.isPaused('run-c')).toBe(true);
    await ledger.setControl('run-c', { state: 'running', at: 'now' });
    expect(await cache.isPaused('run-c')).toBe(true);
    expect(reads).toBe(1);
    now = 1_000;
    expect(await cache.isPaused('run-c')).toBe(false);
    expect(reads).toBe(2);
  });
});

describe('Run ids', () => {
  it('come from the scheduled time, to the second', () => {
    expect(runIdFromTime('2026-11-23T06:00:00.999Z')).toBe('run-20261123T060000Z');
    expect(() => runIdFromTime('yesterday')).toThrow(/not a date/);
  });

  it('from a caller are checked', () => {
    expect(checkRunId('backfill-2026.11')).toBe('backfill-2026.11');
    expect(() => checkRunId('a b')).toThrow(/run id "a b" is invalid/);
  });
});
