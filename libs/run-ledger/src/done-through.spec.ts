import { countingMemoryStore } from '@pipeline/object-store';
import { RunLedger } from './ledger';

const BUCKET = 'results';
const RUN = 'run-1';

function planned(slices: number) {
  const store = countingMemoryStore();
  const ledger = new RunLedger(store, BUCKET);
  const ids = Array.from({ length: slices }, (_, i) => `s${String(i).padStart(6, '0')}`);
  return { store, ledger, ids };
}

async function plan(ledger: RunLedger, ids: string[]) {
  await ledger.createManifest({
    runId: RUN,
    job: 'job',
    createdAt: '2026-11-25T00:00:00.000Z',
    source: { bucket: 'in', prefix: '' },
    slices: ids.map((id) => ({ id })),
  });
}

/** Marks each slice done in `order` and asks after each, as the writer does; returns the answers. */
async function finishIn(ledger: RunLedger, order: string[]): Promise<boolean[]> {
  const answers: boolean[] = [];
  for (const slice of order) {
    await ledger.markSliceDone({ run: RUN, slice, count: 1, at: 'now' });
    answers.push(await ledger.allSlicesDone(RUN));
  }
  return answers;
}

describe('RunLedger.allSlicesDone: the completion check after each slice, in O(slices) over a run', () => {
  it('says done only after the last planned slice, whatever order the slices finish in', async () => {
    const { ledger, ids } = planned(5);
    await plan(ledger, ids);
    const order = [ids[3], ids[0], ids[4], ids[2], ids[1]];
    expect(await finishIn(ledger, order)).toEqual([false, false, false, false, true]);
  });

  it('does not count a slice outside the plan (a redrive’s), and an unplanned run is never done', async () => {
    const { ledger, ids } = planned(2);
    expect(await ledger.allSlicesDone(RUN)).toBe(false);
    await plan(ledger, ids);
    await ledger.markSliceDone({ run: RUN, slice: 'redrive-1', count: 3, at: 'now' });
    expect(await finishIn(ledger, [ids[0]])).toEqual([false]);
  });

  it('never lists the run, and reads at most 2 × checks + slices objects, in order and in reverse', async () => {
    for (const reverse of [false, true]) {
      const { store, ledger, ids } = planned(3000);
      await plan(ledger, ids);
      const before = { ...store.calls };
      await finishIn(ledger, reverse ? [...ids].reverse() : ids);
      const checks = ids.length;
      const gets = store.calls.get - before.get;
      // Each check: the resume point, the markers from it to the first missing one, and the manifest once.
      expect(store.calls.list - before.list).toBe(0);
      expect(gets).toBeLessThanOrEqual(2 * checks + ids.length + 1);
      // Puts: one done marker per slice, and a resume point at most per check.
      expect(store.calls.put - before.put).toBeLessThanOrEqual(ids.length + checks);
    }
  });

  it('is still right when the resume point is lost or stale: it only costs reads', async () => {
    const { store, ledger, ids } = planned(4);
    await plan(ledger, ids);
    await finishIn(ledger, ids.slice(0, 3));
    store.objects.delete(`${BUCKET}/runs/${RUN}/done-through.json`);
    expect(await finishIn(ledger, [ids[3]])).toEqual([true]);
  });

  it('reads a run’s frozen manifest once per ledger, concurrent readers sharing one read; an unplanned run is looked up again', async () => {
    const { store, ledger, ids } = planned(3);
    expect(await ledger.getManifest(RUN)).toBeUndefined();
    await plan(ledger, ids);
    const before = store.calls.get;
    const manifests = await Promise.all([ledger.getManifest(RUN), ledger.getManifest(RUN), ledger.allSlicesDone(RUN)]);
    expect(manifests[0]?.slices).toHaveLength(3);
    // One manifest read, and the completion check's resume point and first done marker.
    expect(store.calls.get - before).toBe(3);
  });
});
