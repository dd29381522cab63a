import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type PutObjectCommandInput,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DEFAULTS } from '@pipeline/limits';

/** The little of S3 the pipeline needs: small objects by key, listings by prefix, streamed reads. */
export interface ObjectStore {
  put(bucket: string, key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /**
   * Writes the object only if no object has the key (an S3 conditional write, `If-None-Match: *`):
   * true when this call wrote it, false when the key already existed. Of concurrent calls for one
   * key, exactly one returns true.
   */
  putIfAbsent(bucket: string, key: string, body: Uint8Array | string, contentType?: string): Promise<boolean>;
  /** Uploads a local file as it is read, never whole in memory. */
  putFile(bucket: string, key: string, path: string, contentType?: string): Promise<void>;
  /** The object's bytes, or undefined when it does not exist. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
  /**
   * The object's bytes if it holds at most `maxBytes`; its size alone when it is larger (the body is
   * not read); undefined when it does not exist. Memory stays within `maxBytes` whatever the object.
   */
  getAtMost(bucket: string, key: string, maxBytes: number): Promise<BoundedObject | undefined>;
  /** The object's bytes as a stream, for objects too large to hold. */
  stream(bucket: string, key: string): Promise<Readable>;
  /** Every object under the prefix, page by page, in key order. */
  list(bucket: string, prefix: string): AsyncIterable<{ key: string; size: number }>;
  delete(bucket: string, key: string): Promise<void>;
}

/**
 * Compare-and-swap on one object by its ETag (S3 conditional writes, `If-Match`): what a writer
 * needs to replace an object only as it read it. Apart from ObjectStore, so stores that never swap
 * need not implement it.
 */
export interface EtagWrites {
  /** The object's bytes and ETag (as S3 answers it, quoted), or undefined when it does not exist. */
  getWithEtag(bucket: string, key: string): Promise<{ bytes: Uint8Array; etag: string } | undefined>;
  /**
   * Overwrites the object only if its ETag is still `etag` (`If-Match`): true when this call wrote
   * it; false when the object has changed (412 PreconditionFailed) or is gone (404 NoSuchKey). Of
   * concurrent calls given one ETag, at most one returns true.
   */
  putIfMatch(
    bucket: string,
    key: string,
    body: Uint8Array | string,
    etag: string,
    contentType?: string,
  ): Promise<boolean>;
}

export type BoundedObject = { bytes: Uint8Array; size: number } | { bytes?: undefined; size: number };

/** Thrown when a body turns out longer than the length its response announced. */
export class ObjectSizeError extends Error {
  override readonly name = 'ObjectSizeError';
}

/** Thrown when conditional PUTs of one key kept meeting concurrent conditional writes. */
export class ConditionalWriteConflictError extends Error {
  override readonly name = 'ConditionalWriteConflictError';
}

const statusOf = (error: unknown) => (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
const isPreconditionFailed = (error: unknown) =>
  (error as { name?: string }).name === 'PreconditionFailed' || statusOf(error) === 412;
const isConditionalConflict = (error: unknown) =>
  (error as { name?: string }).name === 'ConditionalRequestConflict' || statusOf(error) === 409;

function isMissing(error: unknown): boolean {
  return error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey';
}

/**
 * A conditional PUT: true when written, false when its condition did not hold (412, or 404 for an
 * If-Match on a key that is gone). A 409 met a concurrent write of the key: PutObject's reference
 * says to retry, which then writes or is refused; a few times, with the same condition (an If-Match
 * retried with a fresh ETag would overwrite what it never read).
 */
async function putConditionally(client: S3Client, input: PutObjectCommandInput): Promise<boolean> {
  const { Bucket: bucket, Key: key } = input;
  for (let attempt = 1; ; attempt++) {
    try {
      await client.send(new PutObjectCommand(input));
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      if (input.IfMatch !== undefined && (isMissing(error) || statusOf(error) === 404)) return false;
      if (!isConditionalConflict(error)) throw error;
      if (attempt >= DEFAULTS.conditionalPutAttempts)
        throw new ConditionalWriteConflictError(
          `s3://${bucket}/${key}: ${attempt} conditional PUTs met a concurrent write of the key (409 ConditionalRequestConflict); ` +
            'check what else writes or deletes under that key',
        );
    }
  }
}

export function s3ObjectStore(client: S3Client): ObjectStore & EtagWrites {
  return {
    async put(bucket, key, body, contentType = 'application/json') {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    putIfAbsent(bucket, key, body, contentType = 'application/json') {
      return putConditionally(client, {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        IfNoneMatch: '*',
      });
    },
    putIfMatch(bucket, key, body, etag, contentType = 'application/json') {
      return putConditionally(client, {
        Bucket: bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        IfMatch: etag,
      });
    },
    async getWithEtag(bucket, key) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        const bytes = response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
        if (!response.ETag) throw new Error(`s3://${bucket}/${key}: GetObject answered without an ETag`);
        return { bytes, etag: response.ETag };
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async putFile(bucket, key, path, contentType = 'application/octet-stream') {
      const { size } = await stat(path);
      await client.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: createReadStream(path),
          ContentLength: size,
          ContentType: contentType,
        }),
      );
    },
    async get(bucket, key) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
    },
    async getAtMost(bucket, key, maxBytes) {
      let response: GetObjectCommandOutput;
      try {
        // GetObject's Content-Length is known before the body is read: one request, no HEAD.
        response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      } catch (error) {
        if (isMissing(error)) return undefined;
        throw error;
      }
      const body = response.Body as Readable | undefined;
      const size = response.ContentLength;
      if (size !== undefined && size > maxBytes) {
        body?.destroy();
        return { size };
      }
      if (!body) return { bytes: new Uint8Array(), size: 0 };
      // Read with a bound even so: a response without a length (or a lying one) cannot grow past it.
      const chunks: Buffer[] = [];
      let total = 0;
      for await (const chunk of body) {
        total += (chunk as Buffer).byteLength;
        if (total > maxBytes) {
          body.destroy();
          return { size: size !== undefined && size > total ? size : total };
        }
        chunks.push(chunk as Buffer);
      }
      if (size !== undefined && total !== size)
        throw new ObjectSizeError(`s3://${bucket}/${key}: read ${total} bytes, the response announced ${size}`);
      const bytes = Buffer.concat(chunks, total);
      return { bytes, size: total };
    },
    async stream(bucket, key) {
      const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return response.Body as Readable;
    },
    async *list(bucket, prefix) {
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
        );
        for (const object of page.Contents ?? []) yield { key: object.Key!, size: object.Size ?? 0 };
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    },
    async delete(bucket, key) {
      await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
    },
  };
}

/** Reads a JSON object; undefined when it does not exist. */
export async function getJson<T>(store: ObjectStore, bucket: string, key: string): Promise<T | undefined> {
  const bytes = await store.get(bucket, key);
  return bytes === undefined ? undefined : (JSON.parse(Buffer.from(bytes).toString('utf8')) as T);
}

export async function putJson(store: ObjectStore, bucket: string, key: string, value: unknown): Promise<void> {
  await store.put(bucket, key, JSON.stringify(value));
}
