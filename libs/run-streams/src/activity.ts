import { LAMBDA } from '@pipeline/limits';
import { type EtagWrites, getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { leaseEnd, type StreamsLease } from './lease';
import type { OpeningActivity, RunActivity, RunUse } from './retire';

/** streams/retired.json: when the sweep last deleted the streams. */
export interface StreamsRetired {
  retiredAt: string;
  replayWindowHours: number;
}

/** streams/retiring.json: a sweep is retiring the streams, since when. */
interface RetiringMark {
  since: string;
}

/** A sweep's mark older than the longest a Lambda invocation can run belongs to a sweep that is gone. */
const STALE_MARK_MS = LAMBDA.maxTimeoutSeconds * 1000;

/** A sweep's mark: when it was made. */
const markSince = (bytes: Uint8Array) =>
  new Date((JSON.parse(Buffer.from(bytes).toString('utf8')) as RetiringMark).since);
const staleMark = (since: Date, now: Date) => now.getTime() - since.getTime() > STALE_MARK_MS;

/**
 * What the reader asks of the results bucket when it opens the streams: its run's lease
 * (streams/opened/<run>.json), and whether a sweep's mark is there.
 *
 * @example await openRunStreams(plan, port, ledgerOpeningActivity(store, resultsBucket), runId, options);
 */
export function ledgerOpeningActivity(store: ObjectStore, bucket: string, clock = () => new Date()): OpeningActivity {
  return {
    async opened(runId, at) {
      const key = LAYOUT.streamsLeaseKey(runId);
      // A redrive of the run may hold the lease: a reader re-triggered meanwhile keeps its part, or
      // the run would count as ended while the redrive's records travel.
      const redrive = (await getJson<StreamsLease>(store, bucket, key))?.redrive;
      await putJson(store, bucket, key, {
        runId,
        openedAt: at.toISOString(),
        ...(redrive ? { redrive } : {}),
      } satisfies StreamsLease);
    },
    async retiringSince() {
      const found = await store.get(bucket, LAYOUT.streamsRetiringKey);
      const since = found && markSince(found);
      return since && !staleMark(since, clock()) ? since : undefined;
    },
  };
}

/**
 * Run activity from the results bucket: a lease object per run that opened the streams
 * (streams/opened/<run>.json, one PUT per run), and each run's end from the finisher's markers
 * (runs/<run>/complete.json or failed.json), or, when a redrive opened the streams again, from the
 * redrive (see leaseEnd). A sweep costs one LIST and at most three GETs per run that opened the
 * streams since they were last retired (four while a redrive is under way): not a scan of every run ever.
 *
 * The sweep's mark is made with conditional writes: put if absent, or, when the mark there is
 * stale, put only over the mark as it was read (If-Match on its ETag).
 *
 * @example const activity = ledgerRunActivity(store, resultsBucket);
 */
export function ledgerRunActivity(
  store: ObjectStore & EtagWrites,
  bucket: string,
  clock = () => new Date(),
): RunActivity {
  return {
    ...ledgerOpeningActivity(store, bucket, clock),
    async beginRetiring(at) {
      const key = LAYOUT.streamsRetiringKey;
      const body = JSON.stringify({ since: at.toISOString() } satisfies RetiringMark);
      if (await store.putIfAbsent(bucket, key, body)) return true;
      const found = await store.getWithEtag(bucket, key);
      // Removed just now by the sweep that made it: make it anew, unless another sweep does first.
      if (!found) return store.putIfAbsent(bucket, key, body);
      if (!staleMark(markSince(found.bytes), at)) return false;
      // The mark of a sweep that died: take it over as it was read (If-Match on its ETag). Of two
      // sweeps that both found it stale, one writes; the other is refused and stops.
      return store.putIfMatch(bucket, key, body, found.etag);
    },
    async endRetiring() {
      await store.delete(bucket, LAYOUT.streamsRetiringKey);
    },
    async uses() {
      const uses: RunUse[] = [];
      for await (const object of store.list(bucket, LAYOUT.streamsLeasePrefix)) {
        const runId = object.key.slice(LAYOUT.streamsLeasePrefix.length, -'.json'.length);
        uses.push({ runId, endedAt: await useEnd(store, bucket, runId) });
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

async function useEnd(store: ObjectStore, bucket: string, runId: string): Promise<Date | undefined> {
  const lease = await getJson<StreamsLease>(store, bucket, LAYOUT.streamsLeaseKey(runId));
  const ended = await endedAt(store, bucket, runId);
  const redrive = lease?.redrive;
  if (!redrive || redrive.endedAt) return leaseEnd(ended, lease);
  // A redrive whose tool stopped before saying it was through: its end-of-slice marker still says so.
  const done = await getJson<{ at?: string }>(store, bucket, LAYOUT.sliceDoneKey(runId, redrive.slice));
  return leaseEnd(
    ended,
    lease,
    done ? new Date(done.at && !Number.isNaN(Date.parse(done.at)) ? done.at : redrive.startedAt) : undefined,
  );
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

/**
 * Why a run cannot be replayed from the records stream, or undefined if it can: the stream was
 * retired (deleted by the sweep), or retired after the run and created again since, so the run's
 * records are not on it.
 *
 * @example replayBlocked('r1', 'records', { exists: false }, retired, manifest.createdAt);
 */
export function replayBlocked(
  runId: string,
  streamName: string,
  stream: { exists: boolean },
  retired: StreamsRetired | undefined,
  runCreatedAt: string | undefined,
): string | undefined {
  const results = `run ${runId}'s results are in S3 (\`collate --run ${runId}\` rebuilds its output from them)`;
  const window = retired
    ? `replay works within the replay window of ${retired.replayWindowHours} h after the last run ends: raise \`streams.replayWindowHours\` in the infra config (or \`replayWindowHours\` locally) to keep the streams longer`
    : 'raise `streams.replayWindowHours` in the infra config to keep per-run streams longer';
  if (!stream.exists)
    return `cannot replay ${runId}: the records stream ${streamName} ${retired ? `was retired at ${retired.retiredAt}` : 'does not exist'}; ${results}; ${window}`;
  if (retired && runCreatedAt && Date.parse(retired.retiredAt) > Date.parse(runCreatedAt))
    return `cannot replay ${runId}: the records stream ${streamName} was retired at ${retired.retiredAt}, after the run, and created again since, so the run's records are not on it; ${results}; ${window}`;
  return undefined;
}
