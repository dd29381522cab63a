import { SOURCE_LIMITS } from './limits';
import { GetObjectCommand, paginateListObjectsV2, S3ServiceException, type S3Client } from '@aws-sdk/client-s3';

/** One object as a listing returns it. */
export interface ObjectInfo {
  bucket: string;
  key: string;
  size: number;
}

/**
 * Where source objects come from: the only I/O the source reader does, so that reading logic stays
 * apart from S3.
 */
export interface ObjectSource {
  /** Every object under `prefix`, in the order the store lists them. */
  list(bucket: string, prefix: string): AsyncIterable<ObjectInfo>;
  /**
   * Bytes `start..endInclusive` of an object, streamed. A range past the object's end is cut at its
   * end; a range that starts at or after the end yields no bytes.
   */
  getRange(bucket: string, key: string, start: number, endInclusive: number): Promise<AsyncIterable<Uint8Array>>;
}

/** A range that cannot be asked for; a bug in the caller. */
export class ObjectRangeError extends Error {
  override readonly name = 'ObjectRangeError';
}

/**
 * An {@link ObjectSource} over S3: ListObjectsV2 page by page, GetObject with a Range header, the body
 * streamed as it arrives (never buffered whole).
 *
 * @example
 * const source = s3ObjectSource(s3Client());
 * for await (const o of source.list('input', 'day=2024-01-01/')) console.log(o.key, o.size);
 */
export function s3ObjectSource(client: S3Client, opts: { pageSize?: number } = {}): ObjectSource {
  return {
    async *list(bucket, prefix) {
      const pages = paginateListObjectsV2({ client, pageSize: opts.pageSize }, { Bucket: bucket, Prefix: prefix });
      for await (const page of pages) {
        for (const object of page.Contents ?? []) {
          if (object.Key !== undefined) yield { bucket, key: object.Key, size: object.Size ?? 0 };
        }
      }
    },

    async getRange(bucket, key, start, endInclusive) {
      if (!Number.isSafeInteger(start) || !Number.isSafeInteger(endInclusive) || start < 0 || endInclusive < start) {
        throw new ObjectRangeError(`byte range ${start}-${endInclusive} of s3://${bucket}/${key} is not a valid range`);
      }
      const open = async (from: number): Promise<AsyncIterable<Uint8Array>> => {
        try {
          const response = await client.send(
            new GetObjectCommand({ Bucket: bucket, Key: key, Range: `bytes=${from}-${endInclusive}` }),
          );
          const body = response.Body as unknown;
          if (body === undefined || body === null) return empty();
          if (typeof body === 'object' && Symbol.asyncIterator in body) return body as AsyncIterable<Uint8Array>;
          throw new ObjectRangeError(`GetObject for s3://${bucket}/${key} returned a body that cannot be streamed`);
        } catch (error) {
          // S3 answers 416 for a range that starts past the end: nothing to read, not a failure.
          if (
            error instanceof S3ServiceException &&
            (error.name === 'InvalidRange' || error.$metadata.httpStatusCode === 416)
          ) {
            return empty();
          }
          throw error;
        }
      };
      return resuming(await open(start), start, endInclusive, open);
    },
  };
}

async function* empty(): AsyncIterable<Uint8Array> {}

/** A body that broke off mid-way: the connection was reset or aborted, not refused. */
function isBrokenBody(error: unknown): boolean {
  const { code, message } = error as { code?: string; message?: string };
  return code === 'ECONNRESET' || code === 'ERR_STREAM_PREMATURE_CLOSE' || message === 'aborted';
}

/**
 * Streams a range, and when its body breaks off, requests the rest from the first byte not yet
 * read: a bounded number of times (SOURCE_LIMITS.rangeReadAttempts), so a long slice survives a
 * dropped connection without being read again from its start.
 */
async function* resuming(
  body: AsyncIterable<Uint8Array>,
  start: number,
  endInclusive: number,
  open: (from: number) => Promise<AsyncIterable<Uint8Array>>,
): AsyncIterable<Uint8Array> {
  let next = start;
  for (let attempt = 1; ; attempt++) {
    try {
      for await (const chunk of body) {
        next += chunk.byteLength;
        yield chunk;
      }
      return;
    } catch (error) {
      if (!isBrokenBody(error) || attempt >= SOURCE_LIMITS.rangeReadAttempts || next > endInclusive) throw error;
      body = await open(next);
    }
  }
}
