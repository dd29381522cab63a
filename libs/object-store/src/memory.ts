import { Readable } from 'node:stream';
import { S3 } from '@pipeline/limits';
import { createHash } from 'node:crypto';
import type { EtagWrites, ObjectStore } from './object-store';

/** What S3 answers as the ETag of an object put in one part without SSE-KMS: its MD5, quoted. */
const etagOf = (bytes: Uint8Array) => JSON.stringify(createHash('md5').update(bytes).digest('hex'));

/** The S3 requests a store was asked for, by request class. */
export interface StoreCalls {
  put: number;
  get: number;
  /** ListObjectsV2 pages: one per started 1,000 keys, at least one per listing. */
  list: number;
  delete: number;
}

/**
 * An ObjectStore in a Map that counts the S3 requests it stands for: for tests of call counts and
 * for simulations with no server. Listings are charged per page as S3 pages them.
 */
export function countingMemoryStore(): ObjectStore &
  EtagWrites & { calls: StoreCalls; objects: Map<string, Uint8Array> } {
  const objects = new Map<string, Uint8Array>();
  const calls: StoreCalls = { put: 0, get: 0, list: 0, delete: 0 };
  const at = (bucket: string, key: string) => `${bucket}/${key}`;
  return {
    objects,
    calls,
    async put(bucket, key, body) {
      calls.put += 1;
      objects.set(at(bucket, key), typeof body === 'string' ? Buffer.from(body) : body);
    },
    async putIfAbsent(bucket, key, body) {
      calls.put += 1;
      if (objects.has(at(bucket, key))) return false;
      objects.set(at(bucket, key), typeof body === 'string' ? Buffer.from(body) : body);
      return true;
    },
    async putIfMatch(bucket, key, body, etag) {
      calls.put += 1;
      const current = objects.get(at(bucket, key));
      if (current === undefined || etagOf(current) !== etag) return false;
      objects.set(at(bucket, key), typeof body === 'string' ? Buffer.from(body) : body);
      return true;
    },
    async getWithEtag(bucket, key) {
      calls.get += 1;
      const bytes = objects.get(at(bucket, key));
      return bytes === undefined ? undefined : { bytes, etag: etagOf(bytes) };
    },
    async putFile() {
      throw new Error('countingMemoryStore holds no files: put the bytes instead');
    },
    async get(bucket, key) {
      calls.get += 1;
      return objects.get(at(bucket, key));
    },
    async getAtMost(bucket, key, maxBytes) {
      calls.get += 1;
      const body = objects.get(at(bucket, key));
      if (body === undefined) return undefined;
      return body.byteLength > maxBytes ? { size: body.byteLength } : { bytes: body, size: body.byteLength };
    },
    async stream(bucket, key) {
      calls.get += 1;
      const body = objects.get(at(bucket, key));
      if (!body) throw new Error(`no object s3://${bucket}/${key} in the in-memory store`);
      return Readable.from([body]);
    },
    async *list(bucket, prefix) {
      const head = at(bucket, prefix);
      const keys = [...objects.keys()].filter((k) => k.startsWith(head)).sort();
      calls.list += Math.max(1, Math.ceil(keys.length / S3.maxKeysPerList));
      for (const k of keys) yield { key: k.slice(bucket.length + 1), size: objects.get(k)?.byteLength ?? 0 };
    },
    async delete(bucket, key) {
      calls.delete += 1;
      objects.delete(at(bucket, key));
    },
  };
}
