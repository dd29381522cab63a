/** The one Kinesis call the producer makes, behind a small interface. */
import { PutRecordsCommand, type KinesisClient } from '@aws-sdk/client-kinesis';
import type { EntryFailure } from '@pipeline/batching';
import type { StreamRecord } from './record';

/** Puts records on a stream; resolves with the entries Kinesis rejected (index into `records`). */
export interface PutRecordsPort {
  putRecords(streamName: string, records: StreamRecord[]): Promise<EntryFailure[]>;
}

/** Kinesis answered PutRecords with something that does not match the request. */
export class UnexpectedPutRecordsResponseError extends Error {
  override readonly name = 'UnexpectedPutRecordsResponseError';
}

/**
 * PutRecordsPort over an SDK v3 Kinesis client. A call that returns 200 may still reject some
 * entries; those come back as EntryFailures with Kinesis' error code.
 *
 * @example
 * ```ts
 * const port = kinesisPutRecordsPort(kinesisClient());
 * const failures = await port.putRecords('records', [{ data, partitionKey: 'run-1/slice-0' }]);
 * ```
 */
export function kinesisPutRecordsPort(client: KinesisClient): PutRecordsPort {
  return {
    async putRecords(streamName, records) {
      const response = await client.send(
        new PutRecordsCommand({
          StreamName: streamName,
          Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
        }),
      );
      const results = response.Records ?? [];
      if (results.length !== records.length) {
        // Throwing makes the caller retry the whole call: duplicates are acceptable, losses are not.
        throw new UnexpectedPutRecordsResponseError(
          `PutRecords to stream ${streamName} returned ${results.length} results for ${records.length} records; retry the whole call (records carry ids, so duplicates are removed downstream)`,
        );
      }
      // Per-entry results are the truth (FailedRecordCount only sums them); an entry without a
      // sequence number is not known to be written, so it is retried too.
      const failures: EntryFailure[] = [];
      results.forEach((result, index) => {
        if (result.ErrorCode || !result.SequenceNumber) {
          failures.push({
            index,
            code: result.ErrorCode ?? 'MissingSequenceNumber',
            message: result.ErrorMessage ?? '',
          });
        }
      });
      return failures;
    },
  };
}
