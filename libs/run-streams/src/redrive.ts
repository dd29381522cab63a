import { getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { type OpenReport, openStreams, type WaitOptions } from './open';
import type { RunStreamsPlan } from './plan';
import type { StreamsPort } from './port';

/** A redrive of the run that opened the streams again: it keeps the run active until it is through. */
export interface RedriveLease {
  /** The redrive's own slice: its end-of-slice marker says the writer has written its records. */
  slice: string;
  startedAt: string;
  /** Written by the redrive once it is through (or gave up); unset while its records travel. */
  endedAt?: string;
}

/** streams/opened/<run>.json: a run that opened the streams, and the redrive that opened them again, if any. */
export interface StreamsLease {
  runId: string;
  openedAt: string;
  redrive?: RedriveLease;
}

/**
 * When a run stops needing the streams, from its own end (complete.json or failed.json) and its
 * lease: a redrive not through yet keeps the run active (undefined), whatever the run's own end;
 * one through ends the run at the later of the two.
 *
 * @example leaseEnd(completedAt, lease, sliceDone) // undefined while the redrive's records travel
 */
export function leaseEnd(
  runEndedAt: Date | undefined,
  lease: StreamsLease | undefined,
  redriveSliceDoneAt?: Date,
): Date | undefined {
  const redrive = lease?.redrive;
  if (!redrive) return runEndedAt;
  const redriveEnd = redrive.endedAt ? new Date(redrive.endedAt) : redriveSliceDoneAt;
  if (!redriveEnd) return undefined;
  if (!runEndedAt) return undefined;
  return redriveEnd > runEndedAt ? redriveEnd : runEndedAt;
}

/**
 * What `redrive` calls in per-run mode before it puts any record: the run's lease, saying a redrive
 * started (so a sweep counts the run active however long ago it ended), then the streams and
 * mappings, opened as the reader opens them (same plan, same settings).
 *
 * @example await openForRedrive(plan, port, store, bucket, 'r1', 'redrive-1', { sleep: realSleep, now: new Date() });
 */
export async function openForRedrive(
  plan: RunStreamsPlan,
  port: StreamsPort,
  store: ObjectStore,
  bucket: string,
  runId: string,
  slice: string,
  options: WaitOptions & { now: Date },
): Promise<OpenReport> {
  const at = options.now.toISOString();
  await putJson(store, bucket, LAYOUT.streamsLeaseKey(runId), {
    runId,
    openedAt: at,
    redrive: { slice, startedAt: at },
  } satisfies StreamsLease);
  return openStreams(plan, port, options);
}

/**
 * What `redrive` calls once it is through (its records delivered or dead-lettered anew, or it gave
 * up): the run counts as ended at `at`, and the replay window runs from there.
 */
export async function redriveThrough(
  store: ObjectStore,
  bucket: string,
  runId: string,
  slice: string,
  at: Date,
): Promise<void> {
  const key = LAYOUT.streamsLeaseKey(runId);
  const lease = await getJson<StreamsLease>(store, bucket, key);
  // Another redrive of the run took the lease since: its own end is its to write.
  if (lease?.redrive && lease.redrive.slice !== slice) return;
  await putJson(store, bucket, key, {
    runId,
    openedAt: lease?.openedAt ?? at.toISOString(),
    redrive: { slice, startedAt: lease?.redrive?.startedAt ?? at.toISOString(), endedAt: at.toISOString() },
  } satisfies StreamsLease);
}
