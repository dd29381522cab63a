import { LAMBDA } from '@pipeline/limits';
import { type EtagWrites, getJson, type ObjectStore, putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { leaseEnd, leaseHolderOf, type RedriveStreamsLease, redriveLeaseKey, type StreamsLease } from './lease';
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
      // The reader's own object, written whole: a redrive of the run holds a lease of its own.
      await putJson(store, bucket, LAYOUT.streamsLeaseKey(runId), {
        runId,
        openedAt: at.toISOString(),
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
 * Run activity from the results bucket: a lease object per holder — the reader of each run that
 * opened the streams since they were last retired (streams/opened/<run>.json) and each redrive that
 * opened them again (streams/opened/<run>/<slice>.json) — so no holder ever overwrites another's.
 * A lease ends with its run (runs/<run>/complete.json or failed.json) and, for a redrive, once the
 * redrive is through (see leaseEnd).
 *
 * What a sweep reads: one LIST page per 1,000 leases; per run, up to 2 GETs for its end; per lease,
 * one GET of the lease, and one more of its end-of-slice marker while a redrive is not through. With
 * R runs since the last retirement and D redrives among them: at most 2R + (R + D) + D GETs, not a
 * scan of every run ever.
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
      const ends = new Map<string, Promise<Date | undefined>>();
      const runEnd = (runId: string) => {
        if (!ends.has(runId)) ends.set(runId, endedAt(store, bucket, runId));
        return ends.get(runId) as Promise<Date | undefined>;
      };
      const uses: RunUse[] = [];
      for await (const object of store.list(bucket, LAYOUT.streamsLeasePrefix)) {
        const holder = leaseHolderOf(object.key);
        if (!holder) continue;
        const use = await useOf(store, bucket, object.key, holder, runEnd);
        // Removed since the listing (by another sweep that retired the streams): no longer a lease.
        if (use) uses.push({ ...holder, ...use });
      }
      return uses;
    },
    async forget(uses) {
      for (const { runId, slice } of uses)
        await store.delete(bucket, slice === undefined ? LAYOUT.streamsLeaseKey(runId) : redriveLeaseKey(runId, slice));
    },
    async retired(at, replayWindowHours) {
      await putJson(store, bucket, LAYOUT.streamsRetiredKey, {
        retiredAt: at.toISOString(),
        replayWindowHours,
      } satisfies StreamsRetired);
    },
  };
}

/** When one lease stops needing the streams (see leaseEnd), and when its holder last wrote it. */
async function useOf(
  store: ObjectStore,
  bucket: string,
  key: string,
  { runId, slice }: { runId: string; slice?: string },
  runEnd: (runId: string) => Promise<Date | undefined>,
): Promise<Pick<RunUse, 'endedAt' | 'lastActiveAt'> | undefined> {
  const lease =
    slice === undefined
      ? await getJson<StreamsLease>(store, bucket, key)
      : await getJson<RedriveStreamsLease>(store, bucket, key);
  if (!lease) return undefined;
  // A redrive's own lease, or the part of one in a reader's lease written by an earlier version.
  const redrive = 'redrive' in lease ? lease.redrive : 'slice' in lease ? lease : undefined;
  const lastActiveAt = latest([
    'openedAt' in lease ? lease.openedAt : undefined,
    redrive?.startedAt,
    redrive?.recordsPutAt,
  ]);
  const active = (endedAt: Date | undefined) => (endedAt ? { endedAt } : { lastActiveAt });
  const ended = await runEnd(runId);
  if (!redrive || redrive.endedAt) return active(leaseEnd(ended, redrive));
  // A redrive whose tool stopped before saying it was through: its end-of-slice marker still says so.
  const done = await getJson<{ at?: string }>(store, bucket, LAYOUT.sliceDoneKey(runId, redrive.slice));
  return active(
    leaseEnd(
      ended,
      redrive,
      done ? new Date(done.at && !Number.isNaN(Date.parse(done.at)) ? done.at : redrive.startedAt) : undefined,
    ),
  );
}

/** The latest of some ISO times, skipping missing or unreadable ones. */
function latest(times: (string | undefined)[]): Date | undefined {
  const ms = times.map((t) => (t === undefined ? Number.NaN : Date.parse(t))).filter((t) => !Number.isNaN(t));
  return ms.length ? new Date(Math.max(...ms)) : undefined;
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
