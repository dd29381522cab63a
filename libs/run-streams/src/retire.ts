import { abandonedLeaseMs, type RunStreamsPlan } from './plan';
import { ensureMapping, realSleep, type WaitOptions } from './open';
import type { StreamsPort } from './port';

/** One lease on the streams since they were last retired: a run's reader, or one of its redrives. */
export interface RunUse {
  runId: string;
  /** The redrive's slice when a redrive holds this lease; unset for the run's reader. */
  slice?: string;
  /** When it stopped needing the streams; undefined while its records are read, processed or delivered. */
  endedAt?: Date;
  /** When its holder last wrote it (reader: opened; redrive: started, or put its last record). */
  lastActiveAt?: Date;
}

/** A lease whose holder never said it ended, counted as ended after no news for abandonedLeaseMs. */
export interface AbandonedLease {
  runId: string;
  slice?: string;
  lastActiveAt: Date;
  /** When it counts as ended: its records are no longer on the streams; the replay window runs from here. */
  endedAt: Date;
}

/** What opening the streams asks of the run ledger: a lease that a sweep sees, and the sweep's mark. */
export interface OpeningActivity {
  /** Records that `runId` opens the streams; written before any stream call, so a sweep sees the run. */
  opened(runId: string, at: Date): Promise<void>;
  /** When the mark of a sweep retiring the streams was made; undefined when none is. */
  retiringSince(): Promise<Date | undefined>;
}

/**
 * What retirement asks of the run ledger: which runs used the streams, whether each has ended,
 * and a place to say the streams were retired (for `replay`'s message).
 */
export interface RunActivity extends OpeningActivity {
  uses(): Promise<RunUse[]>;
  /** Forgets the leases on streams that were retired. */
  forget(uses: RunUse[]): Promise<void>;
  retired(at: Date, replayWindowHours: number): Promise<void>;
  /**
   * Marks that a sweep is retiring the streams; false when another sweep's mark is there and not
   * stale (older than a Lambda invocation can run, so its sweep is gone), or when another sweep
   * took a stale mark over first.
   */
  beginRetiring(at: Date): Promise<boolean>;
  endRetiring(): Promise<void>;
}

export type RetireOutcome = (
  | { retired: false; reason: string }
  | { retired: true; streams: string[]; mappings: number; calls: Record<string, number> }
) & {
  /** Leases counted as ended for want of news (a reader that died, a redrive stopped before its end). */
  abandoned?: AbandonedLease[];
};

const HOUR_MS = 3_600_000;

/**
 * Deletes the run's streams once nothing needs them: every lease on them has ended (each run that
 * opened them has completed or failed, each redrive is through, or its holder has been silent for
 * longer than it and its records can use the streams — see settle), and the last ended more than the
 * replay window ago. Mappings go first (a mapping on a
 * deleted stream would only fail), then the streams. Between the two it asks the ledger again, so
 * a run that opened the streams meanwhile keeps them.
 *
 * A reader opening the streams and a sweep retiring them are fenced by two writes and two reads on
 * S3 (strongly consistent): the sweep marks `streams/retiring.json`, then reads the leases; the
 * reader writes its lease, then reads the mark. One of them sees the other's write: the sweep sees
 * the lease (and keeps the streams), or the reader sees the mark (and waits for the sweep to end
 * before it opens — see openRunStreams). Two sweeps at once: the second finds the mark and stops;
 * two that find a stale mark (its sweep died) take it over by a conditional write, so one goes on.
 *
 * Calls when it retires (default plan, two streams and two mappings): 2 DescribeStreamSummary,
 * 2 ListEventSourceMappings, 2 DeleteEventSourceMapping, 2 DeleteStream; when it keeps them: none
 * beyond the ledger's (one LIST of the leases and a few GETs per lease, see ledgerRunActivity), and
 * while a run is active 2 DescribeStreamSummary and 2 ListEventSourceMappings more (its mappings checked).
 *
 * @example await retireStreams(plan, port, activity, new Date());
 */
export async function retireStreams(
  plan: RunStreamsPlan,
  port: StreamsPort,
  activity: RunActivity,
  now: Date,
  options: Pick<WaitOptions, 'sleep'> = { sleep: realSleep },
): Promise<RetireOutcome> {
  const { uses, abandoned } = settle(plan, await activity.uses(), now);
  const keep = reasonToKeep(plan, uses, now);
  if (keep?.active) {
    // A run is using the streams: make sure its mappings are there. A sweep that failed after
    // deleting them, or whose put-back met a mapping still being deleted, is healed within the hour.
    await healMappings(plan, port, options);
  }
  if (keep) return withAbandoned({ retired: false, reason: keep.reason }, abandoned);
  if (!(await activity.beginRetiring(now)))
    return withAbandoned({ retired: false, reason: 'another sweep is retiring the streams' }, abandoned);
  try {
    return await retireMarked(plan, port, activity, now, options);
  } finally {
    // After DeleteStream: a reader waiting on the mark then finds the streams DELETING or gone.
    await activity.endRetiring();
  }
}

async function retireMarked(
  plan: RunStreamsPlan,
  port: StreamsPort,
  activity: RunActivity,
  now: Date,
  options: Pick<WaitOptions, 'sleep'>,
): Promise<RetireOutcome> {
  const calls: Record<string, number> = {};
  const count = (name: string) => {
    calls[name] = (calls[name] ?? 0) + 1;
  };
  const states = new Map<string, string>();
  for (const stream of plan.streams) {
    count('DescribeStreamSummary');
    const state = await port.describeStream(stream.name);
    if (state && state.status !== 'DELETING') states.set(stream.name, state.arn);
  }
  if (states.size === 0) return { retired: false, reason: 'the streams do not exist' };
  let mappings = 0;
  for (const mapping of plan.mappings) {
    const arn = states.get(mapping.streamName);
    if (!arn) continue;
    count('ListEventSourceMappings');
    for (const found of await port.listMappings(mapping.functionName, arn)) {
      if (found.state === 'Deleting') continue;
      count('DeleteEventSourceMapping');
      await port.deleteMapping(found.uuid);
      mappings += 1;
    }
  }
  // The leases looked at after the mark was made: a reader that leases later sees the mark and waits.
  const { uses, abandoned } = settle(plan, await activity.uses(), now);
  const again = reasonToKeep(plan, uses, now);
  if (again) {
    // A run opened the streams meanwhile and may have found the mappings there: put them back.
    for (const mapping of plan.mappings) {
      const arn = states.get(mapping.streamName);
      if (arn) await ensureMapping(port, mapping, arn, options);
    }
    return withAbandoned(
      {
        retired: false,
        reason: `${again.reason}; it opened the streams during the sweep, whose mappings were put back`,
      },
      abandoned,
    );
  }
  for (const name of states.keys()) {
    count('DeleteStream');
    await port.deleteStream(name);
  }
  // Only the leases this sweep decided on: one written since belongs to a reader waiting on the mark.
  await activity.forget(uses);
  await activity.retired(now, plan.replayWindowHours);
  return withAbandoned({ retired: true, streams: [...states.keys()], mappings, calls }, abandoned);
}

/**
 * The leases with the ones whose holder went silent counted as ended: no news for
 * abandonedLeaseMs(plan) means the holder is gone and the records it put have left the streams,
 * so the lease ends there and the replay window runs from its end, as after any run.
 */
function settle(plan: RunStreamsPlan, uses: RunUse[], now: Date): { uses: RunUse[]; abandoned: AbandonedLease[] } {
  const bound = abandonedLeaseMs(plan);
  const abandoned: AbandonedLease[] = [];
  const settled = uses.map((use) => {
    if (use.endedAt || !use.lastActiveAt || now.getTime() - use.lastActiveAt.getTime() < bound) return use;
    const endedAt = new Date(use.lastActiveAt.getTime() + bound);
    abandoned.push({
      runId: use.runId,
      ...(use.slice === undefined ? {} : { slice: use.slice }),
      lastActiveAt: use.lastActiveAt,
      endedAt,
    });
    return { ...use, endedAt };
  });
  return { uses: settled, abandoned };
}

function withAbandoned<T extends RetireOutcome>(outcome: T, abandoned: AbandonedLease[]): T {
  return abandoned.length ? { ...outcome, abandoned } : outcome;
}

/** Why the streams must stay, given the leases on them (one look), if they must. */
function reasonToKeep(plan: RunStreamsPlan, uses: RunUse[], now: Date): { reason: string; active?: true } | undefined {
  const active = uses.find((u) => u.endedAt === undefined);
  if (active) return { reason: `run ${active.runId} is still active`, active: true };
  const lastEnded = Math.max(...uses.map((u) => (u.endedAt as Date).getTime()));
  const last = uses.find((u) => u.endedAt?.getTime() === lastEnded);
  if (last && lastEnded > now.getTime()) {
    // A redrive through with records it did not see through: its lease ends once they are.
    return {
      reason: `run ${last.runId}${last.slice ? ` (${last.slice})` : ''} holds the streams until ${new Date(lastEnded).toISOString()}: records it put may still be in flight`,
    };
  }
  if (uses.length && now.getTime() - lastEnded < plan.replayWindowHours * HOUR_MS) {
    const until = new Date(lastEnded + plan.replayWindowHours * HOUR_MS);
    return {
      reason: `the replay window of ${plan.replayWindowHours} h after the last run ends at ${until.toISOString()}`,
    };
  }
  return undefined;
}

/** Puts back any mapping of the plan missing on a stream that is ACTIVE. */
async function healMappings(plan: RunStreamsPlan, port: StreamsPort, options: Pick<WaitOptions, 'sleep'>) {
  for (const stream of plan.streams) {
    const state = await port.describeStream(stream.name);
    if (state?.status !== 'ACTIVE') continue;
    for (const mapping of plan.mappings.filter((m) => m.streamName === stream.name))
      await ensureMapping(port, mapping, state.arn, options);
  }
}
