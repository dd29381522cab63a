import { getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { ledgerOpeningActivity } from './activity';
import type { StreamsLease } from './lease';
import { type OpenReport, openRunStreams, type WaitOptions } from './open';
import type { RunStreamsPlan } from './plan';
import type { StreamsPort } from './port';
import type { OpeningActivity } from './retire';

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
  // The reader's path (openRunStreams), with the lease saying a redrive started.
  const activity: OpeningActivity = {
    ...ledgerOpeningActivity(store, bucket),
    async opened(id, at) {
      await putJson(store, bucket, LAYOUT.streamsLeaseKey(id), {
        runId: id,
        openedAt: at.toISOString(),
        redrive: { slice, startedAt: at.toISOString() },
      } satisfies StreamsLease);
    },
  };
  return openRunStreams(plan, port, activity, runId, options);
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
