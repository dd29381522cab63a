import { LAYOUT } from '@pipeline/records';

/** A redrive of the run that opened the streams again: it keeps the run active until it is through. */
export interface RedriveLease {
  /** The redrive's own slice: its end-of-slice marker says the writer has written its records. */
  slice: string;
  startedAt: string;
  /** Written by the redrive once it has put all its records: its last activity, if it stops after. */
  recordsPutAt?: string;
  /**
   * Written by the redrive once it is through (or gave up); unset while its records travel. Later
   * than when it was written when records it put may still be in flight (see redriveThrough).
   */
  endedAt?: string;
}

/**
 * streams/opened/<run>.json: the reader's lease, a run that opened the streams. Written whole by
 * the reader alone; a lease written by an earlier version may still carry a redrive's part.
 */
export interface StreamsLease {
  runId: string;
  openedAt: string;
  /** Only in leases written before each redrive had a lease of its own: honoured, never written. */
  redrive?: RedriveLease;
}

/** streams/opened/<run>/<slice>.json: one redrive's lease, written by that redrive alone. */
export interface RedriveStreamsLease extends RedriveLease {
  runId: string;
}

/**
 * Where a redrive's lease lives: under the reader's lease prefix (one listing finds both, one grant
 * covers both), in a folder of its run. Run and slice ids never hold `/`, so a key names its holder.
 *
 * @example redriveLeaseKey('r1', 'redrive-1') // 'streams/opened/r1/redrive-1.json'
 */
export function redriveLeaseKey(runId: string, slice: string): string {
  return `${LAYOUT.streamsLeasePrefix}${runId}/${slice}.json`;
}

/** Who holds a lease object, from its key: the run's reader, or one of its redrives. */
export function leaseHolderOf(key: string): { runId: string; slice?: string } | undefined {
  if (!key.startsWith(LAYOUT.streamsLeasePrefix) || !key.endsWith('.json')) return undefined;
  const [runId, slice, ...rest] = key.slice(LAYOUT.streamsLeasePrefix.length, -'.json'.length).split('/');
  if (!runId || rest.length > 0 || slice === '') return undefined;
  return slice === undefined ? { runId } : { runId, slice };
}

/**
 * When a lease stops needing the streams, from its run's own end (complete.json or failed.json) and
 * its redrive, if it is a redrive's: a redrive not through yet keeps the run active (undefined),
 * whatever the run's own end; one through ends at the later of the two.
 *
 * @example leaseEnd(completedAt, lease.redrive, sliceDone) // undefined while the redrive's records travel
 */
export function leaseEnd(
  runEndedAt: Date | undefined,
  redrive: RedriveLease | undefined,
  redriveSliceDoneAt?: Date,
): Date | undefined {
  if (!redrive) return runEndedAt;
  const redriveEnd = redrive.endedAt ? new Date(redrive.endedAt) : redriveSliceDoneAt;
  if (!redriveEnd) return undefined;
  if (!runEndedAt) return undefined;
  return redriveEnd > runEndedAt ? redriveEnd : runEndedAt;
}
