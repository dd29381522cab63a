/**
 * Test harness for the local Firehose specs: a real S3 server (s3rver) in a fresh temp directory,
 * the endpoint under test, and the real FirehoseClient pointed at it. Not exported from the lib.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { GetObjectCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_S3_CREDENTIALS, type LocalServer, startLocalS3 } from '../servers';
import { type LocalFirehose, type LocalFirehoseOptions, startLocalFirehose } from './server';

export const BUCKET = 'delivery-bucket';
export const BUCKET_ARN = `arn:aws:s3:::${BUCKET}`;
export const ROLE_ARN = 'arn:aws:iam::000000000000:role/firehose';
export const REGION = 'us-east-1';

export interface Harness {
  dir: string;
  s3: S3Client;
  firehose: LocalFirehose;
  client: FirehoseClient;
  /** Keys under a prefix, sorted. */
  keys(prefix?: string): Promise<string[]>;
  body(key: string): Promise<Buffer>;
  /** Bodies of every object under a prefix, in key order. */
  bodies(prefix?: string): Promise<Buffer[]>;
  /** Closes the endpoint and starts a new one with the same S3 (and the given options). */
  restart(options?: Partial<Omit<LocalFirehoseOptions, 's3'>>): Promise<void>;
  close(): Promise<void>;
}

export function firehoseClient(endpoint: string): FirehoseClient {
  return new FirehoseClient({
    endpoint,
    region: REGION,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    // One attempt: the specs assert on exactly what the endpoint answers.
    maxAttempts: 1,
    requestHandler: new NodeHttpHandler(),
  });
}

export async function startHarness(options: Partial<Omit<LocalFirehoseOptions, 's3'>> = {}): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), 'local-firehose-'));
  const s3Server: LocalServer = await startLocalS3({ directory: join(dir, 's3'), buckets: [BUCKET] });
  const s3 = new S3Client({
    endpoint: s3Server.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
  let firehose = await startLocalFirehose({ s3, ...options });
  let client = firehoseClient(firehose.endpoint);

  const keys = async (prefix?: string): Promise<string[]> => {
    const found: string[] = [];
    let token: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({ Bucket: BUCKET, Prefix: prefix, ContinuationToken: token }),
      );
      found.push(...(page.Contents ?? []).map((object) => object.Key!));
      token = page.NextContinuationToken;
    } while (token);
    return found.sort();
  };
  const body = async (key: string): Promise<Buffer> => {
    const object = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from(await object.Body!.transformToByteArray());
  };

  const harness: Harness = {
    dir,
    s3,
    firehose,
    client,
    keys,
    body,
    bodies: async (prefix) => Promise.all((await keys(prefix)).map(body)),
    restart: async (next = {}) => {
      await harness.firehose.close();
      harness.client.destroy();
      firehose = await startLocalFirehose({ s3, ...next });
      client = firehoseClient(firehose.endpoint);
      harness.firehose = firehose;
      harness.client = client;
    },
    close: async () => {
      await harness.firehose.close().catch(() => undefined);
      harness.client.destroy();
      s3.destroy();
      await s3Server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return harness;
}

/** A minimal valid ExtendedS3DestinationConfiguration for the harness bucket. */
export function s3Destination(overrides: Record<string, unknown> = {}) {
  return { RoleARN: ROLE_ARN, BucketARN: BUCKET_ARN, ...overrides };
}

/** Bytes of a given length (distinct per `seed`), as Uint8Array for the SDK. */
export function bytes(length: number, seed = 0): Uint8Array {
  return Buffer.alloc(length, 97 + (seed % 26));
}
