import { countingMemoryStore } from '@pipeline/object-store';
import { knownSlices, linksRead } from './chain';
import { finishRun, markRunDelivered, type CheckOutputPort } from './finish';
import { RunLedger, type RunManifest, type SliceRead } from './ledger';

const BUCKET = 'results';
const RUN = 'run-chain';

/** Link n of a chain, as the cursor source makes it. */
const link = (n: number) => ({
  kind: 'cursor',
  id: `s${String(n).padStart(6, '0')}`,
  link: n,
  ...(n === 0 ? {} : { cursor: `c${n}` }),
  pageCount: 2,
});

const manifest: RunManifest<ReturnType<typeof link>> = {
  runId: RUN,
  job: 'job',
  createdAt: '2026-11-25T00:00:00.000Z',
  sourceKind: 'cursor',
  chain: true,
  slices: [link(0)],
};

/** The read marker of link n, naming link n+1, or ending the chain when `last`. */
const readOf = (n: number, last = false): SliceRead => ({
  run: RUN,
  slice: link(n).id,
  count: 10,
  malformed: 0,
  spilled: 0,
  at: 'now',
  next: last ? null : link(n + 1),
});

async function chainLedger() {
  const store = countingMemoryStore();
  const ledger = new RunLedger(store, BUCKET);
  await ledger.createManifest(manifest);
  return { store, ledger };
}

/** Reads links 0…n-1, the last one ending the chain when `closed`, and marks the first `done` of them done. */
async function readLinks(ledger: RunLedger, n: number, { closed = false, done = 0 } = {}) {
  for (let i = 0; i < n; i++) await ledger.markSliceRead(readOf(i, closed && i === n - 1));
  for (let i = 0; i < done; i++) await ledger.markSliceDone({ run: RUN, slice: link(i).id, count: 10, at: 'now' });
}

describe('knownSlices: the slices of a run whose slice list grows', () => {
  it("is a planned run's manifest as it is, never open", () => {
    const planned = { ...manifest, chain: undefined, slices: [link(0), link(1)] };
    expect(knownSlices(planned, () => undefined)).toEqual({ slices: planned.slices, open: false });
  });

  it("is a chain's first link, open, before anything is read", () => {
    expect(knownSlices(manifest, () => undefined)).toEqual({ slices: [link(0)], open: true });
  });

  it('grows by the link each read marker names, and closes at the marker that names none', () => {
    const reads = new Map([readOf(0), readOf(1)].map((r) => [r.slice, r]));
    expect(knownSlices(manifest, (id) => reads.get(id))).toEqual({ slices: [link(0), link(1), link(2)], open: true });

    reads.set(link(2).id, readOf(2, true));
    expect(knownSlices(manifest, (id) => reads.get(id))).toEqual({ slices: [link(0), link(1), link(2)], open: false });
  });

  it('stays open at a read marker that names a link out of order (no reader writes one)', () => {
    const reads = new Map([[link(0).id, { ...readOf(0), next: link(5) }]]);
    expect(knownSlices(manifest, (id) => reads.get(id))).toEqual({ slices: [link(0)], open: true });
  });

  it('counts the links read from marker ids, in order only', () => {
    expect(linksRead(new Set())).toBe(0);
    expect(linksRead(new Set(['s000000', 's000001', 'redrive-1', 's000003']))).toBe(2);
  });
});

describe('a chain run in the ledger: open until its last link is known, complete only after it', () => {
  it('status lists the known links and says the chain is open until a read marker closes it', async () => {
    const { ledger } = await chainLedger();
    await readLinks(ledger, 2, { done: 2 });

    const open = await ledger.status(RUN);
    expect(open).toMatchObject({ chainOpen: true, slicesRead: 2, slicesDone: 2, read: 20 });
    expect(open.slices.map((s) => s.id)).toEqual(['s000000', 's000001', 's000002']);

    await ledger.markSliceRead(readOf(2, true));
    const closed = await ledger.status(RUN);
    expect(closed.chainOpen).toBeUndefined();
    expect(closed.slices).toHaveLength(3);
  });

  it('openLink resumes at the first link not read, from one listing and one read marker, and is null once closed', async () => {
    const { store, ledger } = await chainLedger();
    const ids = async () => (await ledger.markerIds(RUN)).read;

    expect(await ledger.openLink(RUN, manifest, await ids())).toEqual({ read: 0, next: link(0) });
    await readLinks(ledger, 3);
    const before = store.calls.get;
    expect(await ledger.openLink(RUN, manifest, await ids())).toEqual({ read: 3, next: link(3) });
    expect(store.calls.get - before).toBe(1);

    await ledger.markSliceRead(readOf(3, true));
    expect(await ledger.openLink(RUN, manifest, await ids())).toEqual({ read: 4, next: null });
  });

  it('openLink refuses a chain whose last read marker names no next link, rather than guess', async () => {
    const { ledger } = await chainLedger();
    await ledger.markSliceRead({ ...readOf(0), next: undefined });
    await expect(ledger.openLink(RUN, manifest, (await ledger.markerIds(RUN)).read)).rejects.toThrow(
      /names no next link/,
    );
  });

  it('allSlicesDone is false while the chain is open, even with every known link done, and true after the last', async () => {
    const { ledger } = await chainLedger();
    await readLinks(ledger, 3, { done: 3 });
    expect(await ledger.allSlicesDone(RUN)).toBe(false);

    await ledger.markSliceRead(readOf(3, true));
    expect(await ledger.allSlicesDone(RUN)).toBe(false);
    await ledger.markSliceDone({ run: RUN, slice: link(3).id, count: 10, at: 'now' });
    expect(await ledger.allSlicesDone(RUN)).toBe(true);
  });

  it('allSlicesDone over a chain never lists and reads O(links + checks) objects', async () => {
    const { store, ledger } = await chainLedger();
    const links = 500;
    await readLinks(ledger, links, { closed: true });
    const before = { ...store.calls };
    const answers: boolean[] = [];
    for (let i = 0; i < links; i++) {
      await ledger.markSliceDone({ run: RUN, slice: link(i).id, count: 10, at: 'now' });
      answers.push(await ledger.allSlicesDone(RUN));
    }
    expect(answers.indexOf(true)).toBe(links - 1);
    expect(store.calls.list - before.list).toBe(0);
    // Each check: the resume point, the done markers from it to the first missing one, the last done link's read marker.
    expect(store.calls.get - before.get).toBeLessThanOrEqual(3 * links + links + 1);
  });

  it('progress counts one link more than read while the chain is open, so a poller never sees it done', async () => {
    const { ledger } = await chainLedger();
    expect(await ledger.progress(RUN)).toEqual({ planned: 1, read: 0, done: 0, chainOpen: true });
    await readLinks(ledger, 2, { done: 2 });
    expect(await ledger.progress(RUN)).toEqual({ planned: 3, read: 2, done: 2, chainOpen: true });
    await ledger.markSliceRead(readOf(2, true));
    await ledger.markSliceDone({ run: RUN, slice: link(2).id, count: 10, at: 'now' });
    expect(await ledger.progress(RUN)).toEqual({ planned: 3, read: 3, done: 3 });
  });

  it('finishRun reports an open chain as running, even with its known links delivered and in S3', async () => {
    const { store, ledger } = await chainLedger();
    await readLinks(ledger, 2, { done: 2 });
    // Even were delivered.json there (the writer writes it only once the chain is closed and done).
    await markRunDelivered(store, BUCKET, RUN, new Date('2026-11-25T00:00:00.000Z'));
    const everything: CheckOutputPort = async (_run, expected) => {
      const read = expected.reduce((sum, e) => sum + e.read, 0);
      const slices = expected.map((e) => ({ slice: e.slice, read: e.read, found: e.read, missing: [] }));
      return { conserved: true, read, delivered: read, deadLettered: 0, unexpected: 0, slices };
    };
    const deps = { store, bucket: BUCKET, ledger, checkOutput: everything, bufferIntervalSeconds: 60 };

    expect(await finishRun(RUN, { ...deps, now: new Date('2026-11-25T00:00:01.000Z') })).toEqual({
      runId: RUN,
      state: 'running',
    });

    await readLinks(ledger, 3, { closed: true, done: 3 });
    expect(await finishRun(RUN, { ...deps, now: new Date('2026-11-25T00:00:02.000Z') })).toMatchObject({
      state: 'complete',
      event: { detail: { read: 30, delivered: 30, slices: 3, conserved: true } },
    });
  });
});
