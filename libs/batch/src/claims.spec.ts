import type { RunManifest, SliceRead } from '@pipeline/run-ledger';
import { Claims } from './claims';

const RUN = 'run-1';
const read = (slice: string, extra: Partial<SliceRead> = {}): SliceRead => ({
  run: RUN,
  slice,
  count: 3,
  malformed: 0,
  spilled: 0,
  at: 'now',
  ...extra,
});
const marker = (slice: string) => ({ v: 1 as const, kind: 'end-of-slice' as const, run: RUN, slice, count: 3 });

function claims(manifest: RunManifest, reads: SliceRead[]) {
  const bySlice = new Map(reads.map((r) => [r.slice, r]));
  return new Claims({ getManifest: async () => manifest, getSliceRead: async (_run, slice) => bySlice.get(slice) });
}

describe('Claims.markerProblem for a chain run (cursor pages), whose later links are not in its manifest', () => {
  const chain: RunManifest = { runId: RUN, job: 'j', createdAt: 'now', chain: true, slices: [{ id: 's000000' }] };

  it('accepts the marker of a later link once the reader has written its read marker, naming the next or none', async () => {
    const c = claims(chain, [read('s000001', { next: { id: 's000002' } }), read('s000002', { next: null })]);
    expect(await c.markerProblem(marker('s000001'), `${RUN}/s000001`)).toBeUndefined();
    expect(await c.markerProblem(marker('s000002'), `${RUN}/s000002`)).toBeUndefined();
  });

  it('rejects a later link with no read marker, or whose read marker is not a link’s', async () => {
    const c = claims(chain, [read('s000004')]);
    expect(await c.markerProblem(marker('s000003'), `${RUN}/s000003`)).toMatch(/not in run run-1's manifest/);
    expect(await c.markerProblem(marker('s000004'), `${RUN}/s000004`)).toMatch(/not in run run-1's manifest/);
  });

  it('gives a planned run no such leeway: a slice outside its manifest is rejected, read marker or not', async () => {
    const planned: RunManifest = { ...chain, chain: undefined };
    const c = claims(planned, [read('s000001', { next: null })]);
    expect(await c.markerProblem(marker('s000001'), `${RUN}/s000001`)).toMatch(/not in run run-1's manifest/);
  });
});
