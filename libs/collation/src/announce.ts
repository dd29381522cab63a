import { getJson, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import {
  RUN_EVENT_TYPES,
  runEvent,
  type RunCompletedEvent,
  type RunEvent,
  type RunEventsPort,
  type RunFailed,
  type RunManifest,
} from '@pipeline/run-ledger';
import { collateRun, type RunSummary } from './collate';

export interface CollateEndedRunOptions {
  store: ObjectStore;
  bucket: string;
  runId: string;
  events: RunEventsPort;
  now?: Date;
  workDir?: string;
}

/**
 * What happens once a run has ended (runs/<run>/complete.json or failed.json exists): collate its
 * output and announce it. A complete run, or one failed over its tolerated failures, is collated
 * (what succeeded is written) and its summary.json goes out as "Run Completed" or "Run Failed"; a
 * stalled run is announced as failed without collating, since its output is not all in S3.
 *
 * This is the embedded stack's collator. In AWS the collation state machine does the same from the
 * same markers, with Athena in place of collateRun (see athena.ts); summary.json and the events have
 * the same fields. Announcing twice is avoided by summary.json: a run whose summary says how it ended
 * is left alone.
 */
export async function collateEndedRun(options: CollateEndedRunOptions): Promise<RunSummary | undefined> {
  const { store, bucket, runId, events } = options;
  const now = options.now ?? new Date();
  // A summary written at the run's end means it was announced; one written before (a paused run's) does not.
  if ((await getJson<RunSummary>(store, bucket, LAYOUT.summaryKey(runId)))?.ended) return undefined;
  const complete = await getJson<RunCompletedEvent>(store, bucket, LAYOUT.completeKey(runId));
  const failed = complete ? undefined : await getJson<RunFailed>(store, bucket, LAYOUT.failedKey(runId));
  if (!complete && !failed) throw new Error(`run ${runId} has not ended: neither complete.json nor failed.json`);
  if (failed?.reason === 'stalled') {
    await events(runEvent(RUN_EVENT_TYPES.failed, { ...failed }, now));
    return undefined;
  }
  const manifest = await getJson<RunManifest>(store, bucket, LAYOUT.manifestKey(runId));
  const counts = complete ? complete.detail : (failed as RunFailed);
  const endedAt = complete ? String(complete.detail.completedAt ?? complete.time) : (failed as RunFailed).failedAt;
  const summary = await collateRun({
    store,
    bucket,
    runId,
    read: Number(counts.read ?? 0),
    spilled: Number(counts.spilled ?? 0),
    complete: Boolean(complete),
    workDir: options.workDir,
    annotations: {
      ended: complete ? 'complete' : 'failed',
      ...(failed ? { failureReason: failed.reason } : {}),
      ...(manifest ? { elapsedSeconds: elapsedSeconds(manifest.createdAt, endedAt) } : {}),
    },
  });
  const event: RunEvent = runEvent(
    complete ? RUN_EVENT_TYPES.completed : RUN_EVENT_TYPES.failed,
    { ...summary, reason: summary.failureReason },
    now,
  );
  await events(event);
  return summary;
}

function elapsedSeconds(from: string, to: string): number {
  return Math.max(0, Math.round((new Date(to).getTime() - new Date(from).getTime()) / 1000));
}
