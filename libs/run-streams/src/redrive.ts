import { getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { ledgerOpeningActivity } from './activity';
import { type RedriveStreamsLease, redriveLeaseKey } from './lease';
import { type OpenReport, openRunStreams, type WaitOptions } from './open';
import { type RunStreamsPlan, recordsInFlightMs } from './plan';
import type { StreamsPort } from './port';
import type { OpeningActivity } from './retire';

/**
 * What `redrive` calls in per-run mode before it puts any record: its own lease
 * (streams/opened/<run>/<slice>.json, see redriveLeaseKey), saying a redrive started (so a sweep
 * counts the run active however long ago it ended), then the streams and mappings, opened as the
 * reader opens them (same plan, same settings). Its lease is its own object: a reader re-triggered
 * meanwhile, or another redrive of the run, writes its own and never overwrites this one.
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
  // The reader's path (openRunStreams), with the redrive's lease for the reader's.
  const activity: OpeningActivity = {
    ...ledgerOpeningActivity(store, bucket),
    async opened(id, at) {
      await putJson(store, bucket, redriveLeaseKey(id, slice), {
        runId: id,
        slice,
        startedAt: at.toISOString(),
      } satisfies RedriveStreamsLease);
    },
  };
  return openRunStreams(plan, port, activity, runId, options);
}

/**
 * What `redrive` calls once it has put all its records, before it waits for them: its last
 * activity, so a redrive stopped from here on counts as ended when those records have left the
 * streams (see abandonedLeaseSeconds), however long ago it started.
 */
export async function redriveRecordsPut(
  store: ObjectStore,
  bucket: string,
  runId: string,
  slice: string,
  at: Date,
): Promise<void> {
  const key = redriveLeaseKey(runId, slice);
  const lease = await getJson<RedriveStreamsLease>(store, bucket, key);
  await putJson(store, bucket, key, {
    runId,
    slice,
    startedAt: lease?.startedAt ?? at.toISOString(),
    recordsPutAt: at.toISOString(),
  } satisfies RedriveStreamsLease);
}

/**
 * What `redrive` calls once it is through (its records delivered or dead-lettered anew, or it gave
 * up): its lease ends at `at`, and the replay window runs from there. Records it put without seeing
 * them through (the batches the mappings gave up on travel behind no marker of the redrive's; a
 * wait that gave up) may still be on the streams: then the lease ends only once those are through,
 * at `unseen.since` plus recordsInFlightMs(plan), even with a replay window of 0. Only this redrive
 * writes its lease, so reading it first (for when it started) races no one.
 *
 * @example await redriveThrough(store, bucket, 'r1', 'redrive-1', new Date(), { plan, since: recordsPutAt });
 */
export async function redriveThrough(
  store: ObjectStore,
  bucket: string,
  runId: string,
  slice: string,
  at: Date,
  unseen?: { plan: RunStreamsPlan; since: Date },
): Promise<void> {
  const key = redriveLeaseKey(runId, slice);
  const lease = await getJson<RedriveStreamsLease>(store, bucket, key);
  const inFlightUntil = unseen && new Date(unseen.since.getTime() + recordsInFlightMs(unseen.plan));
  const endedAt = inFlightUntil && inFlightUntil > at ? inFlightUntil : at;
  await putJson(store, bucket, key, {
    runId,
    slice,
    startedAt: lease?.startedAt ?? at.toISOString(),
    ...(lease?.recordsPutAt ? { recordsPutAt: lease.recordsPutAt } : {}),
    endedAt: endedAt.toISOString(),
  } satisfies RedriveStreamsLease);
}
