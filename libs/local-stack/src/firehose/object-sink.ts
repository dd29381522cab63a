import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** Where delivered objects are written: the only S3 call the local Firehose makes. */
export interface ObjectSink {
  put(bucket: string, key: string, body: Uint8Array): Promise<void>;
}

/**
 * An ObjectSink over an S3 client (the embedded S3 server, LocalStack or AWS).
 *
 * @example
 * const sink = s3ObjectSink(new S3Client({ endpoint, forcePathStyle: true }));
 * await sink.put('results', 'a/b', Buffer.from('x'));
 */
export function s3ObjectSink(s3: S3Client): ObjectSink {
  return {
    async put(bucket, key, body) {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
    },
  };
}
