import { createHash } from 'node:crypto';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { KINESIS_EVENT } from './constants';

/** A record as GetRecords returns it. */
export interface StreamRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
  approximateArrivalTimestamp: Date;
}

/** What every event record of one shard shares. */
export interface EventRecordSource {
  shardId: string;
  streamArn: string;
  awsRegion: string;
  invokeIdentityArn: string;
}

/**
 * The record as Lambda puts it in a Kinesis event (with-kinesis.html, "Example event"): data in
 * base64, arrival time in epoch seconds with milliseconds, eventID `<shardId>:<sequenceNumber>`.
 *
 * @example
 * ```ts
 * const event = { Records: records.map((r) => toEventRecord(r, source)) };
 * ```
 */
export function toEventRecord(record: StreamRecord, source: EventRecordSource): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: KINESIS_EVENT.kinesisSchemaVersion,
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: record.approximateArrivalTimestamp.getTime() / 1000,
    },
    eventSource: KINESIS_EVENT.eventSource,
    eventVersion: KINESIS_EVENT.eventVersion,
    eventID: `${source.shardId}:${record.sequenceNumber}`,
    eventName: KINESIS_EVENT.eventName,
    invokeIdentityArn: source.invokeIdentityArn,
    awsRegion: source.awsRegion,
    eventSourceARN: source.streamArn,
  };
}

/** Bytes of `{"Records":[]}`: what an event weighs besides its records and the commas between them. */
export const EVENT_ENVELOPE_BYTES = Buffer.byteLength(JSON.stringify({ Records: [] } satisfies KinesisStreamEvent));

/** Bytes one record adds to the serialized event (without its separating comma). */
export function eventRecordBytes(record: KinesisStreamRecord): number {
  return Buffer.byteLength(JSON.stringify(record));
}

/** Bytes of the serialized event holding records of these sizes. */
export function eventBytes(recordBytes: readonly number[]): number {
  const commas = Math.max(0, recordBytes.length - 1);
  return EVENT_ENVELOPE_BYTES + commas + recordBytes.reduce((sum, b) => sum + b, 0);
}

/**
 * How many of the queued records (sizes in event bytes, oldest first) go into the next batch: at
 * most `batchSize`, and no more than fit in `maxPayloadBytes` once serialized ("Lambda passes all of
 * the records in the batch to the function in a single call, as long as the total size of the
 * events doesn't exceed the payload limit for synchronous invocation (6 MB)", with-kinesis.html).
 * Always at least one record, so a record too big on its own still reaches the function.
 *
 * @example
 * ```ts
 * takeCount([3e6, 3e6, 3e6], 10, EVENT_SOURCE_MAPPING.maxInvokePayloadBytes); // 1
 * ```
 */
export function takeCount(recordBytes: readonly number[], batchSize: number, maxPayloadBytes: number): number {
  const limit = Math.min(batchSize, recordBytes.length);
  let total = EVENT_ENVELOPE_BYTES;
  let count = 0;
  while (count < limit) {
    const next = total + recordBytes[count] + (count > 0 ? 1 : 0);
    if (count > 0 && next > maxPayloadBytes) break;
    total = next;
    count += 1;
  }
  return count;
}

/**
 * The lane (0..lanes-1) a partition key's records go through. With a parallelization factor above 1,
 * Lambda processes several batches of a shard at once but "still ensures in-order processing at the
 * partition-key level" (with-kinesis.html): one lane per key, one batch in flight per lane.
 */
export function laneOf(partitionKey: string, lanes: number): number {
  if (lanes <= 1) return 0;
  return createHash('md5').update(partitionKey, 'utf8').digest().readUInt32BE(0) % lanes;
}
