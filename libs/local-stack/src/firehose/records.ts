/**
 * Reading PutRecord / PutRecordBatch requests, with Firehose's limits checked the way AWS checks
 * them (limits from `@pipeline/limits`):
 * - more than 500 records, or a record over 1,000 KiB (decoded), break the API model's constraints
 *   and the whole call fails with `ValidationException`, e.g. "1 validation error detected: Value
 *   '...' at 'records.97.member.data' failed to satisfy constraint: Member must have length less
 *   than or equal to 1024000" (messages reported by users of the real service);
 * - records that together exceed 4 MiB fail the call with `InvalidArgumentException` "Records
 *   size exceeds 4 MB limit" (the message users report; Kinesis' PutRecords fails the same way).
 */
import { FIREHOSE } from '@pipeline/limits';
import { invalidArgument, serializationError, validationError } from './errors';
import { streamNameViolations } from './destination';

// Padded base64: the alphabet, at most two '=' at the end, a length that is a multiple of 4.
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

export interface PutBatchRequest {
  streamName: string;
  records: Buffer[];
}

/**
 * Decodes and checks a PutRecordBatch request.
 *
 * @example
 * readPutRecordBatch({ DeliveryStreamName: 's', Records: [{ Data: 'aGk=' }] }); // { streamName: 's', records: [<hi>] }
 */
export function readPutRecordBatch(input: Record<string, unknown>): PutBatchRequest {
  const violations = streamNameViolations(input.DeliveryStreamName);
  const records = input.Records;
  const decoded: Buffer[] = [];
  if (records === undefined || records === null) {
    violations.push("Value null at 'records' failed to satisfy constraint: Member must not be null");
  } else if (!Array.isArray(records)) {
    throw serializationError('Records must be a list of {Data}');
  } else {
    if (records.length < 1) {
      violations.push(
        "Value '[]' at 'records' failed to satisfy constraint: Member must have length greater than or equal to 1",
      );
    }
    if (records.length > FIREHOSE.maxRecordsPerBatch) {
      violations.push(
        `Value '<${records.length} records>' at 'records' failed to satisfy constraint: Member must have length less than or equal to ${FIREHOSE.maxRecordsPerBatch}`,
      );
    }
    records.forEach((record: unknown, index) => {
      const data = decodeData(record, `records.${index + 1}.member.data`, violations);
      if (data) decoded.push(data);
    });
  }
  if (violations.length > 0) throw validationError(violations);
  const total = decoded.reduce((sum, data) => sum + data.length, 0);
  if (total > FIREHOSE.maxBytesPerBatch) {
    throw invalidArgument(
      `Records size exceeds 4 MB limit (${total} bytes > ${FIREHOSE.maxBytesPerBatch}); send fewer records per call`,
    );
  }
  return { streamName: input.DeliveryStreamName as string, records: decoded };
}

/** Decodes and checks a PutRecord request. */
export function readPutRecord(input: Record<string, unknown>): { streamName: string; data: Buffer } {
  const violations = streamNameViolations(input.DeliveryStreamName);
  const data = decodeData(input.Record, 'record.data', violations);
  if (violations.length > 0 || !data) throw validationError(violations);
  return { streamName: input.DeliveryStreamName as string, data };
}

function decodeData(record: unknown, at: string, violations: string[]): Buffer | undefined {
  const data = record !== null && typeof record === 'object' ? (record as { Data?: unknown }).Data : undefined;
  if (data === undefined || data === null) {
    violations.push(`Value null at '${at}' failed to satisfy constraint: Member must not be null`);
    return undefined;
  }
  if (typeof data !== 'string' || data.length % 4 !== 0 || !BASE64.test(data))
    throw serializationError(`'${at}' is not valid base64`);
  const bytes = Buffer.from(data, 'base64');
  if (bytes.length > FIREHOSE.maxRecordBytes) {
    violations.push(
      `Value 'java.nio.HeapByteBuffer[pos=0 lim=${bytes.length} cap=${bytes.length}]' at '${at}' failed to satisfy constraint: Member must have length less than or equal to ${FIREHOSE.maxRecordBytes}`,
    );
  }
  return bytes;
}
