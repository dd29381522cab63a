import { readFile } from 'node:fs/promises';
import { Readable } from 'node:stream';
import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import type { ObjectSource } from '@pipeline/sources';
import type { PutRecordsPort, StreamRecord } from '@pipeline/stream-producer';

/**
 * In-memory stand-ins for S3 and Kinesis, so a stage's own CPU can be measured with no server and
 * no SDK in the way. They implement the same ports the handlers are wired with.
 */

/** An ObjectStore in a Map: what S3 would hold, nothing more (no listing pages). */
export function memoryObjectStore(): ObjectStore & { objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  const at = (bucket: string, key: string) => `${bucket}/${key}`;
  return {
    objects,
    async put(bucket, key, body) {
      objects.set(at(bucket, key), typeof body === 'string' ? Buffer.from(body) : body);
    },
    async putIfAbsent(bucket, key, body) {
      if (objects.has(at(bucket, key))) return false;
      objects.set(at(bucket, key), typeof body === 'string' ? Buffer.from(body) : body);
      return true;
    },
    async putFile(bucket, key, path) {
      objects.set(at(bucket, key), await readFile(path));
    },
    async get(bucket, key) {
      return objects.get(at(bucket, key));
    },
    async getAtMost(bucket, key, maxBytes) {
      const body = objects.get(at(bucket, key));
      if (body === undefined) return undefined;
      return body.byteLength > maxBytes ? { size: body.byteLength } : { bytes: body, size: body.byteLength };
    },
    async stream(bucket, key) {
      const body = objects.get(at(bucket, key));
      if (!body) throw new Error(`no object s3://${bucket}/${key} in the in-memory store`);
      return Readable.from([body]);
    },
    async *list(bucket, prefix) {
      const head = at(bucket, prefix);
      const entries = [...objects].filter(([k]) => k.startsWith(head)).sort(([a], [b]) => (a < b ? -1 : 1));
      for (const [k, body] of entries) yield { key: k.slice(bucket.length + 1), size: body.byteLength };
    },
    async delete(bucket, key) {
      objects.delete(at(bucket, key));
    },
  };
}

/** The reader's ObjectSource over an in-memory store: listings and byte ranges. */
export function memoryObjectSource(store: ObjectStore): ObjectSource {
  return {
    async *list(bucket, prefix) {
      for await (const o of store.list(bucket, prefix)) yield { bucket, key: o.key, size: o.size };
    },
    async getRange(bucket, key, start, endInclusive) {
      const body = (await store.get(bucket, key)) ?? new Uint8Array();
      const part = body.subarray(start, Math.min(endInclusive + 1, body.byteLength));
      return (async function* () {
        if (part.byteLength) yield part;
      })();
    },
  };
}

/** A PutRecordsPort that accepts every entry; `keep` holds them (for building events), else they are only counted. */
export function memoryPutRecordsPort(options: { keep: boolean }): PutRecordsPort & {
  records: StreamRecord[];
  count: number;
  bytes: number;
} {
  const port = {
    records: [] as StreamRecord[],
    count: 0,
    bytes: 0,
    async putRecords(_stream: string, records: StreamRecord[]) {
      port.count += records.length;
      for (const r of records) {
        port.bytes += r.data.byteLength;
        if (options.keep) port.records.push(r);
      }
      return [];
    },
  };
  return port;
}

/** A record as GetRecords returns it. */
export interface FetchedRecord {
  sequenceNumber: string;
  partitionKey: string;
  data: Uint8Array;
}

const SHARD_ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/bench';

/** The record as Lambda puts it in a Kinesis event: data in base64, eventID `<shardId>:<sequenceNumber>`. */
export function eventRecord(record: FetchedRecord, shardId: string): KinesisStreamRecord {
  return {
    kinesis: {
      kinesisSchemaVersion: '1.0',
      partitionKey: record.partitionKey,
      sequenceNumber: record.sequenceNumber,
      data: Buffer.from(record.data).toString('base64'),
      approximateArrivalTimestamp: Date.now() / 1000,
    },
    eventSource: 'aws:kinesis',
    eventVersion: '1.0',
    eventID: `${shardId}:${record.sequenceNumber}`,
    eventName: 'aws:kinesis:record',
    invokeIdentityArn: 'arn:aws:iam::000000000000:role/bench',
    awsRegion: 'us-east-1',
    eventSourceARN: SHARD_ARN,
  };
}

/**
 * Cuts a shard's records into events as the event source mapping does: up to `batchSize` records,
 * and no more than the synchronous invoke payload once serialized (always at least one record).
 */
export function toEvents(records: readonly FetchedRecord[], batchSize: number, shardId = 'shardId-000000000000') {
  const events: KinesisStreamEvent[] = [];
  let current: KinesisStreamRecord[] = [];
  let bytes = EMPTY_EVENT_BYTES;
  for (const record of records) {
    const next = eventRecord(record, shardId);
    const size = Buffer.byteLength(JSON.stringify(next)) + 1;
    if (current.length && (current.length >= batchSize || bytes + size > EVENT_SOURCE_MAPPING.maxInvokePayloadBytes)) {
      events.push({ Records: current });
      current = [];
      bytes = EMPTY_EVENT_BYTES;
    }
    current.push(next);
    bytes += size;
  }
  if (current.length) events.push({ Records: current });
  return events;
}

const EMPTY_EVENT_BYTES = Buffer.byteLength('{"Records":[]}');

/** Records the reader put, as a shard would hand them out: in order, numbered. */
export function asFetched(records: readonly StreamRecord[]): FetchedRecord[] {
  return records.map((r, i) => ({
    sequenceNumber: String(10n ** 20n + BigInt(i)),
    partitionKey: r.partitionKey,
    data: r.data,
  }));
}
