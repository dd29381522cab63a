/**
 * Where one accepted record goes: which buffer of its delivery stream, and the bytes it adds to
 * the delivered object. Pure.
 *
 * Dynamic-partitioning failures (data that is not JSON, or a queried field that is missing) go to
 * the ErrorOutputPrefix with `!{firehose:error-output-type}` = `metadata-extraction-failed` and
 * error code `DynamicPartitioning.MetadataExtractionFailed`: the values real streams with inline
 * (jq) parsing produce (seen in deployments' tests against AWS, e.g. objects under
 * `...-metadata-extraction-failed/yyyy/MM/dd`, and in reports of "Non JSON record provided").
 * (Lambda-based partitioning uses `partitioning-failed`; the local endpoint has no Lambda.)
 * Each failed record is written as one JSON document per line in the shape Firehose documents for
 * processing failures: attemptsMade, arrivalTimestamp, errorCode, errorMessage,
 * attemptEndingTimestamp and rawData (the record, base64).
 */
import { FIREHOSE } from '@pipeline/limits';
import type { CompiledDestination } from './destination';
import { extractPartitionKeys } from './jq';

export const METADATA_EXTRACTION_FAILED = {
  errorOutputType: 'metadata-extraction-failed',
  errorCode: 'DynamicPartitioning.MetadataExtractionFailed',
} as const;

export interface RoutedRecord {
  /** Identity of the buffer within its stream: one per distinct partition, one per error type. */
  bufferKey: string;
  partitionKeys?: Record<string, string>;
  errorOutputType?: string;
  /** The bytes this record contributes to the delivered object. */
  bytes: Buffer;
  /** Epoch ms the record was accepted. */
  arrival: number;
}

const NEWLINE = Buffer.from('\n');

/**
 * Routes one record.
 *
 * @example
 * routeRecord(destination, Buffer.from('{"run":"r1"}'), Date.now()); // { bufferKey: 'data:["r1"]', partitionKeys: { run: 'r1' }, ... }
 */
export function routeRecord(destination: CompiledDestination, data: Buffer, arrival: number): RoutedRecord {
  if (destination.query === undefined) {
    return { bufferKey: 'data', bytes: withDelimiter(destination, data), arrival };
  }
  const extraction = extractPartitionKeys(destination.query, data);
  if (!extraction.ok) {
    const document = {
      attemptsMade: 1,
      arrivalTimestamp: arrival,
      errorCode: METADATA_EXTRACTION_FAILED.errorCode,
      errorMessage: extraction.message,
      attemptEndingTimestamp: arrival,
      rawData: data.toString('base64'),
    };
    return {
      bufferKey: `error:${METADATA_EXTRACTION_FAILED.errorOutputType}`,
      errorOutputType: METADATA_EXTRACTION_FAILED.errorOutputType,
      bytes: Buffer.from(`${JSON.stringify(document)}\n`),
      arrival,
    };
  }
  // Only the keys the prefix uses shape the partition ("records with the same evaluated prefix").
  const partitionKeys: Record<string, string> = {};
  for (const key of destination.partitionKeys) partitionKeys[key] = extraction.keys[key];
  return {
    bufferKey: `data:${JSON.stringify(destination.partitionKeys.map((key) => partitionKeys[key]))}`,
    partitionKeys,
    bytes: withDelimiter(destination, data),
    arrival,
  };
}

/**
 * Routes one accepted record, split first into its sub-records when the stream de-aggregates
 * (RecordDeAggregation: "JSON" splits concatenated JSON objects, whatever whitespace lies between
 * them; "DELIMITED" splits on the delimiter). Without de-aggregation a record routes as it is.
 *
 * A record of more than 500 sub-records is not split: the PutRecord / PutRecordBatch API reference
 * says "the request succeeds but the record de-aggregation doesn't work as expected and
 * transformation lambda is invoked with the complete base64 encoded data blob instead of
 * de-aggregated base64 decoded records". So it routes whole, as one record: with inline (jq)
 * partitioning several JSON documents are not one document, and the record lands under the error
 * output prefix (metadata-extraction-failed), not under any partition.
 */
export function routeRecords(destination: CompiledDestination, data: Buffer, arrival: number): RoutedRecord[] {
  if (!destination.deaggregation) return [routeRecord(destination, data, arrival)];
  const parts = splitSubRecords(destination.deaggregation, data);
  if (parts.length > FIREHOSE.maxDeaggregatedRecords) return [routeRecord(destination, data, arrival)];
  return parts.map((sub) => routeRecord(destination, sub, arrival));
}

export function splitSubRecords(
  deaggregation: NonNullable<CompiledDestination['deaggregation']>,
  data: Buffer,
): Buffer[] {
  if (deaggregation.type === 'DELIMITED') {
    const parts: Buffer[] = [];
    let start = 0;
    for (let at = data.indexOf(deaggregation.delimiter); at >= 0; at = data.indexOf(deaggregation.delimiter, start)) {
      if (at > start) parts.push(data.subarray(start, at));
      start = at + deaggregation.delimiter.length;
    }
    if (start < data.length) parts.push(data.subarray(start));
    return parts;
  }
  // JSON: walk top-level values by bracket depth, skipping strings; text that is not an object or
  // array becomes a sub-record of its own, so extraction reports it as not JSON.
  const parts: Buffer[] = [];
  let depth = 0;
  let inString = false;
  let start = -1;
  for (let i = 0; i < data.length; i++) {
    const c = data[i];
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped byte
      else if (c === 0x22) inString = false;
      continue;
    }
    if (c === 0x22) {
      inString = true;
      if (start < 0) start = i;
    } else if (c === 0x7b || c === 0x5b) {
      if (depth === 0 && start < 0) start = i;
      depth++;
    } else if (c === 0x7d || c === 0x5d) {
      depth--;
      if (depth === 0 && start >= 0) {
        parts.push(data.subarray(start, i + 1));
        start = -1;
      }
    } else if (depth === 0 && (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09)) {
      if (start >= 0) {
        parts.push(data.subarray(start, i));
        start = -1;
      }
    } else if (start < 0) start = i;
  }
  if (start >= 0) parts.push(data.subarray(start));
  return parts;
}

function withDelimiter(destination: CompiledDestination, data: Buffer): Buffer {
  return destination.appendDelimiter ? Buffer.concat([data, NEWLINE]) : data;
}
