import { sliceId } from '@pipeline/slices';
import type { RunManifest, SliceRead } from './ledger';

/**
 * Chains: a run whose slice count is unknown at planning time (a cursor-paginated API). Its manifest
 * lists only the first link (`chain: true`); the reader that finishes link n writes link n+1 (its
 * starting cursor) into link n's read marker, in the same PUT that marks link n read, or `next: null`
 * when link n is the last. So link n+1 is durable before link n counts as read, a crash between
 * the two loses nothing (link n is read again, into the same records), and the chain is closed
 * exactly when some read marker says `next: null`. Link n's id is `sliceId(n)`: deterministic.
 */

/** The run's slices as known now, and whether more may follow (a chain not yet closed). */
export interface KnownSlices<S extends { id: string }> {
  slices: S[];
  /** True while the chain is open: the slice list may still grow, so the run cannot be complete. */
  open: boolean;
}

/**
 * The slices of a run: a planned run's manifest as it is; a chain's first link and every link its
 * read markers name, open until a read marker ends it. Pure: `readOf` looks read markers up.
 *
 * @example
 * knownSlices(manifest, (id) => markers.read.get(id)); // { slices: [s000000, s000001], open: true }
 */
export function knownSlices<S extends { id: string }>(
  manifest: RunManifest<S>,
  readOf: (slice: string) => SliceRead | undefined,
): KnownSlices<S> {
  if (!manifest.chain) return { slices: manifest.slices, open: false };
  const slices: S[] = [];
  let link: S | undefined = manifest.slices[0];
  while (link) {
    slices.push(link);
    const next = readOf(link.id)?.next;
    if (next === null) return { slices, open: false };
    // A link not read yet (or a marker naming a link out of order, which no reader writes) keeps the chain open.
    if (next === undefined || next.id !== sliceId(slices.length)) return { slices, open: true };
    link = next as unknown as S;
  }
  return { slices, open: slices.length > 0 };
}

/** How many links of a chain are read, from the ids of the read markers: links are read in order. */
export function linksRead(readIds: ReadonlySet<string>): number {
  let n = 0;
  while (readIds.has(sliceId(n))) n += 1;
  return n;
}
