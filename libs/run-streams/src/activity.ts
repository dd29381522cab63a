import { getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import type { RunActivity, RunUse } from './retire';

/** streams/retired.json: when the sweep last deleted the streams. */
export interface StreamsRetired {
  retiredAt: string;
  replayWindowHours: number;
}

interface Lease {
  runId: string;
  openedAt: string;
}

/**
 * Run activity from the results bucket: a lease object per run that opened the streams
 * (streams/opened/<run>.json, one PUT per run), and each run's end from the finisher's markers
 * (runs/<run>/complete.json or failed.json). A sweep costs one LIST and at most two GETs per run
 * that opened the streams since they were last retired: not a scan of every run ever.
 *
 * @example const activity = ledgerRunActivity(store, resultsBucket);
 */
export function ledgerRunActivity(store: ObjectStore, bucket: string): RunActivity {
  return {
    async opened(runId, at) {
      await putJson(store, bucket, LAYOUT.streamsLeaseKey(runId), {
        runId,
        openedAt: at.toISOString(),
      } satisfies Lease);
    },
    async uses() {
      const uses: RunUse[] = [];
      for await (const object of store.list(bucket, LAYOUT.streamsLeasePrefix)) {
        const runId = object.key.slice(LAYOUT.streamsLeasePrefix.length, -'.json'.length);
        uses.push({ runId, endedAt: await endedAt(store, bucket, runId) });
      }
      return uses;
    },
    async forget(runIds) {
      for (const runId of runIds) await store.delete(bucket, LAYOUT.streamsLeaseKey(runId));
    },
    async retired(at, replayWindowHours) {
      await putJson(store, bucket, LAYOUT.streamsRetiredKey, {
        retiredAt: at.toISOString(),
        replayWindowHours,
      } satisfies StreamsRetired);
    },
  };
}

async function endedAt(store: ObjectStore, bucket: string, runId: string): Promise<Date | undefined> {
  const complete = await getJson<{ time?: string; detail?: { completedAt?: string } }>(
    store,
    bucket,
    LAYOUT.completeKey(runId),
  );
  const completedAt = complete?.detail?.completedAt ?? complete?.time;
  if (completedAt) return new Date(completedAt);
  const failed = await getJson<{ failedAt?: string }>(store, bucket, LAYOUT.failedKey(runId));
  return failed?.failedAt ? new Date(failed.failedAt) : undefined;
}

/** When the streams were last retired, for `replay`'s message; undefined if never. */
export function streamsRetired(store: ObjectStore, bucket: string): Promise<StreamsRetired | undefined> {
  return getJson<StreamsRetired>(store, bucket, LAYOUT.streamsRetiredKey);
}
