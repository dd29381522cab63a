import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';

/** The little of S3 that spilling needs. */
export interface ObjectStore {
  put(bucket: string, key: string, body: Uint8Array, contentType?: string): Promise<void>;
  /** The object's bytes, or undefined when it does not exist. */
  get(bucket: string, key: string): Promise<Uint8Array | undefined>;
}

export function s3ObjectStore(client: S3Client): ObjectStore {
  return {
    async put(bucket, key, body, contentType = 'application/json') {
      await client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentType: contentType }));
    },
    async get(bucket, key) {
      try {
        const response = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
        return response.Body ? await response.Body.transformToByteArray() : new Uint8Array();
      } catch (error) {
        if (error instanceof NoSuchKey || (error as { name?: string }).name === 'NoSuchKey') return undefined;
        throw error;
      }
    },
  };
}
