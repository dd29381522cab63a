import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { LAYOUT } from '@pipeline/records';
import type { RunManifest } from './ledger';

/** The `source` of every event the pipeline puts on its event bus: what a user's rule matches. */
export const RUN_EVENT_SOURCE = 'slice-pipeline';

/** The run's events, one detail-type each (see README, "The run's events"). */
export const RUN_EVENT_TYPES = {
  started: 'Run Started',
  completed: 'Run Completed',
  failed: 'Run Failed',
} as const;
export type RunEventType = (typeof RUN_EVENT_TYPES)[keyof typeof RUN_EVENT_TYPES];

/** Why a run failed: its output stalled past its bound, or it had more dead letters than its job tolerates. */
export type RunFailureReason = 'stalled' | 'over-failure-threshold';

export interface RunEvent {
  source: typeof RUN_EVENT_SOURCE;
  detailType: RunEventType;
  time: string;
  detail: { runId: string; reason?: RunFailureReason; [key: string]: unknown };
}

/** Puts a run's event where users' rules see it: EventBridge in AWS, `.local/events.ndjson` locally. */
export type RunEventsPort = (event: RunEvent) => Promise<void>;

export function runEvent(detailType: RunEventType, detail: RunEvent['detail'], time: Date = new Date()): RunEvent {
  return { source: RUN_EVENT_SOURCE, detailType, time: time.toISOString(), detail };
}

/** The local adapter: one JSON line per event, appended to a file. */
export function fileRunEvents(file: string): RunEventsPort {
  return async (event) => {
    await mkdir(dirname(file), { recursive: true });
    await appendFile(file, `${JSON.stringify(event)}\n`);
  };
}

/** The PutEvents entry for an event (the shape the EventBridge API and Step Functions' putEvents take). */
export function putEventsEntry(event: RunEvent, eventBusName: string) {
  return {
    Source: event.source,
    DetailType: event.detailType,
    Detail: JSON.stringify(event.detail),
    EventBusName: eventBusName,
    Time: event.time,
  };
}

/** How many dead letters a run may have (the job's toleratedFailures, copied into the manifest). */
export interface ToleratedFailures {
  count?: number;
  percentage?: number;
}

/**
 * Whether a run's dead letters exceed what its job tolerates. Like Distributed Map, the run fails
 * only when it is over every bound set (at most `count`, or at most `percentage` % of the read
 * records); with no bound set any number is tolerated.
 *
 * @example overTolerance({ percentage: 1 }, { read: 1000, deadLettered: 11 }) // true
 */
export function overTolerance(
  tolerated: ToleratedFailures | undefined,
  counts: { read: number; deadLettered: number },
): boolean {
  if (!tolerated || (tolerated.count === undefined && tolerated.percentage === undefined)) return false;
  const withinCount = tolerated.count !== undefined && counts.deadLettered <= tolerated.count;
  const withinPercentage =
    tolerated.percentage !== undefined && counts.deadLettered * 100 <= tolerated.percentage * counts.read;
  return !withinCount && !withinPercentage;
}

/**
 * The "Run Started" event of a planned run: its id, when it was planned and where its manifest is
 * (the same detail the state machine puts in AWS from the manifest's creation).
 */
export function runStartedEvent(manifest: RunManifest, bucket: string, now: Date = new Date()): RunEvent {
  return runEvent(
    RUN_EVENT_TYPES.started,
    {
      runId: manifest.runId,
      startedAt: manifest.createdAt,
      manifest: `s3://${bucket}/${LAYOUT.manifestKey(manifest.runId)}`,
    },
    now,
  );
}
