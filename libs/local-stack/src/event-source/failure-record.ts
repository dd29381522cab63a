import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { ON_FAILURE_RECORD } from './constants';
import type { OnFailureCondition, OnFailureRecord } from './types';

/** What is known about the discarded records and the invocations that failed with them. */
export interface DiscardedBatch {
  condition: OnFailureCondition;
  /** Request id of the last invocation with these records (a fresh one if there was none). */
  requestId: string;
  functionArn: string;
  shardId: string;
  streamArn: string;
  /** Invocations that included these records, bisected parents included. */
  invokeCount: number;
  /** How the last invocation failed; undefined when the function never saw the records. */
  lastFailure?: { functionError: boolean };
  /** The discarded records as the function receives them, in sequence order (at least one). */
  records: readonly KinesisStreamRecord[];
  /** Milliseconds since the epoch. */
  now: number;
}

/**
 * The invocation record Lambda sends to an on-failure destination for a Kinesis stream, in the
 * shape an S3 destination receives (kinesis-on-failure-destination.html, "Example Amazon S3
 * invocation record"): requestContext, responseContext, version, timestamp, KinesisBatchInfo and
 * `payload`, the invocation event as a JSON string.
 *
 * @example
 * ```ts
 * const record = buildOnFailureRecord({ condition: 'RetryAttemptsExhausted', records, ...rest });
 * record.KinesisBatchInfo.batchSize === records.length;
 * ```
 */
export function buildOnFailureRecord(batch: DiscardedBatch): OnFailureRecord {
  const first = batch.records[0];
  const last = batch.records[batch.records.length - 1];
  const event: KinesisStreamEvent = { Records: [...batch.records] };
  return {
    requestContext: {
      requestId: batch.requestId,
      functionArn: batch.functionArn,
      condition: batch.condition,
      approximateInvokeCount: batch.invokeCount,
    },
    ...(batch.lastFailure && {
      responseContext: {
        statusCode: ON_FAILURE_RECORD.statusCode,
        executedVersion: ON_FAILURE_RECORD.executedVersion,
        ...(batch.lastFailure.functionError && { functionError: ON_FAILURE_RECORD.functionError }),
      },
    }),
    version: ON_FAILURE_RECORD.version,
    timestamp: new Date(batch.now).toISOString(),
    KinesisBatchInfo: {
      shardId: batch.shardId,
      startSequenceNumber: first.kinesis.sequenceNumber,
      endSequenceNumber: last.kinesis.sequenceNumber,
      approximateArrivalOfFirstRecord: arrivalIso(first),
      approximateArrivalOfLastRecord: arrivalIso(last),
      batchSize: batch.records.length,
      streamArn: batch.streamArn,
    },
    payload: JSON.stringify(event),
  };
}

/**
 * The invocation event inside an on-failure record's `payload`.
 *
 * @example
 * ```ts
 * const { Records } = parseOnFailurePayload(record);
 * ```
 */
export function parseOnFailurePayload(record: Pick<OnFailureRecord, 'payload'>): KinesisStreamEvent {
  return JSON.parse(record.payload) as KinesisStreamEvent;
}

function arrivalIso(record: KinesisStreamRecord): string {
  return new Date(Math.round(record.kinesis.approximateArrivalTimestamp * 1000)).toISOString();
}
