import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  NoSuchKey,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';

/** The little of S3 the pipeline needs: small objects by key, listings by prefix, streamed reads. */
export interface ObjectStore {
  put(bucket: string, key: string, body: Uint8Array | string, contentType?: string): Promise<void>;
  /** Uploads a local file as it is read, never whole in memory. */
  putFile(bucket: string, key: string, path: string, contentType?: string): Promise<void>;
  /** The object's bytes, or undefined when it does not exist. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
  /** The object's bytes as a stream, for objects too large to hold. */
  stream(bucket: string, key: string): Promise<Readable>;
  /** Every object under the prefix, page by page, in key order. */
  list(bucket: string, prefix: string): AsyncIterable<{ key: string; size: number }>;
  delete(bucket: string, key: string): Promise<void>;
}

function isMissing(error: unknown): boolean {
  return error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey';
}

export function s3ObjectStore(client: S3Client): ObjectStore {
  return {
    async put(bucket, key, body, contentType = 'application/json') {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
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
