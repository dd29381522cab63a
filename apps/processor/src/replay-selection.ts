import type { KinesisStreamEvent } from 'aws-lambda';
import { parsePartitionKey } from '@pipeline/records';

/** One run's records of an event, and how many records of other runs were left out. */
export interface RunSelection {
  event: KinesisStreamEvent;
  skipped: number;
}

/**
 * Keeps the records of one run (partition key `<run>/<slice>`) for a replay. A Kinesis event source
 * mapping can filter only on the data key, and a packed record is not one JSON document, so a
 * replay selects its run here, in the handler: the records of other runs are acknowledged (never
 * reported as failures) and counted.
 *
 * @example selectRun(event, 'run-20260131T020000Z').skipped; // records of other runs
 */
export function selectRun(event: KinesisStreamEvent, runId: string): RunSelection {
  const Records = event.Records.filter((r) => parsePartitionKey(r.kinesis.partitionKey)?.run === runId);
  return { event: { Records }, skipped: event.Records.length - Records.length };
}
