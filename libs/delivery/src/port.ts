/** The one Firehose call the deliverer makes, behind a small interface. */
import { PutRecordBatchCommand, type FirehoseClient } from '@aws-sdk/client-firehose';
import type { EntryFailure } from '@pipeline/batching';

/** Puts records on a delivery stream; resolves with the entries Firehose rejected (index into `records`). */
export interface DeliveryPort {
  putRecordBatch(deliveryStreamName: string, records: Uint8Array[]): Promise<EntryFailure[]>;
}

/** Firehose answered PutRecordBatch with something that does not match the request. */
export class UnexpectedPutRecordBatchResponseError extends Error {
  override readonly name = 'UnexpectedPutRecordBatchResponseError';
}

/**
 * DeliveryPort over an SDK v3 Firehose client. A call that returns 200 may still reject some
 * entries (FailedPutCount); those come back as EntryFailures with Firehose's error code.
 *
 * @example
 * ```ts
 * const port = firehoseDeliveryPort(firehoseClient());
 * const failures = await port.putRecordBatch('results', [new TextEncoder().encode('{"id":"r/s/0"}\n')]);
 * ```
 */
export function firehoseDeliveryPort(client: FirehoseClient): DeliveryPort {
  return {
    async putRecordBatch(deliveryStreamName, records) {
      const response = await client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: deliveryStreamName,
          Records: records.map((data) => ({ Data: data })),
        }),
      );
      const results = response.RequestResponses ?? [];
      if (results.length !== records.length) {
        // Throwing makes the caller retry the whole call: duplicates are acceptable, losses are not.
        throw new UnexpectedPutRecordBatchResponseError(
          `PutRecordBatch to delivery stream ${deliveryStreamName} returned ${results.length} results for ${records.length} records; ` +
            'retry the whole call (records carry ids, so duplicates are removed downstream)',
        );
      }
      // Per-entry results are the truth (FailedPutCount only sums them); an entry without a
      // record id is not known to be accepted, so it is retried too.
      const failures: EntryFailure[] = [];
      results.forEach((result, index) => {
        if (result.ErrorCode || !result.RecordId) {
          failures.push({ index, code: result.ErrorCode ?? 'MissingRecordId', message: result.ErrorMessage ?? '' });
        }
      });
      return failures;
    },
  };
}
