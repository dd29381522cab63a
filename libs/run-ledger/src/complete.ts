import { appendFile, mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import { putJson, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';

/** The notification a complete run emits; `detail` carries the run's counts. */
export interface RunCompletedEvent {
  source: 'slice-pipeline';
  detailType: 'Run Completed';
  time: string;
  /** The run's counts: what the slice markers say, and after collation its summary. */
  detail: {
    runId: string;
    read: number;
    delivered?: number;
    deadLettered?: number;
    conserved?: boolean;
    [key: string]: unknown;
  };
}

/**
 * Marks a run complete: a marker object beside its manifest and an event. Locally the event is a
 * line in an events file; in AWS the same event goes to EventBridge.
 */
export async function completeRun(
  store: ObjectStore,
  bucket: string,
  counts: RunCompletedEvent['detail'],
  eventsFile?: string,
): Promise<RunCompletedEvent> {
  const event: RunCompletedEvent = {
    source: 'slice-pipeline',
    detailType: 'Run Completed',
    time: new Date().toISOString(),
    detail: counts,
  };
  await putJson(store, bucket, LAYOUT.completeKey(counts.runId), event);
  if (eventsFile) {
    await mkdir(dirname(eventsFile), { recursive: true });
    await appendFile(eventsFile, `${JSON.stringify(event)}\n`);
  }
  return event;
}
