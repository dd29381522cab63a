/** What one Kinesis record is, and how much of the PutRecords limits it uses. */
import { KINESIS } from '@pipeline/limits';

/** A record for Kinesis PutRecords. */
export interface StreamRecord {
  data: Uint8Array;
  /** 1–256 characters; records with one key stay in order on their shard. */
  partitionKey: string;
}

/** The partition key is not 1–256 characters, so Kinesis would reject the whole call. */
export class InvalidPartitionKeyError extends Error {
  override readonly name = 'InvalidPartitionKeyError';

  constructor(readonly partitionKey: string) {
    super(
      `partition key of ${partitionKey.length} characters is not between 1 and ${KINESIS.maxPartitionKeyLength} characters; ` +
        'derive the key from the run and slice ids (see @pipeline/records)',
    );
  }
}

const utf8 = new TextEncoder();

/**
 * Bytes a record counts against Kinesis' per-record and per-call limits: data plus the partition
 * key in UTF-8.
 *
 * @example
 * ```ts
 * recordSize({ data: new Uint8Array(10), partitionKey: 'é' }); // 12
 * ```
 */
export function recordSize(record: StreamRecord): number {
  return record.data.byteLength + utf8.encode(record.partitionKey).byteLength;
}

/** Throws InvalidPartitionKeyError unless the key has the length Kinesis accepts. */
export function checkPartitionKey(partitionKey: string): void {
  // String length counts UTF-16 code units: never more lenient than the service.
  if (partitionKey.length < 1 || partitionKey.length > KINESIS.maxPartitionKeyLength) {
    throw new InvalidPartitionKeyError(partitionKey);
  }
}
