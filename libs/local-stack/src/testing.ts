import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CreateStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
  ListShardsCommand,
} from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import type { KinesisStreamEvent } from 'aws-lambda';
import { type EtagWrites, s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { LOCAL_S3_CREDENTIALS, startLocalKinesis, startLocalS3 } from './servers';

const REGION = 'us-east-1';

export interface TestStack {
  kinesis: KinesisClient;
  s3: S3Client;
  store: ObjectStore & EtagWrites;
  /** Every record on a stream, shard by shard, in order. */
  readStream(streamName: string): Promise<{ partitionKey: string; sequenceNumber: string; data: Uint8Array }[]>;
  close(): Promise<void>;
}

/**
 * Real Kinesis and S3 API servers on loopback for one test file: in-memory streams, buckets in a
 * temp folder, clients pointed at them.
 */
export async function startTestStack(
  options: { buckets?: string[]; streams?: { name: string; shards?: number }[] } = {},
): Promise<TestStack> {
  const dir = await mkdtemp(join(tmpdir(), 'test-stack-'));
  const kinesisServer = await startLocalKinesis();
  const s3Server = await startLocalS3({ directory: dir, buckets: options.buckets });
  const kinesis = new KinesisClient({
    endpoint: kinesisServer.endpoint,
    region: REGION,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    requestHandler: new NodeHttpHandler(),
  });
  // s3rver does not read aws-chunked uploads, which the SDK sends for streamed bodies unless a
  // checksum is only added when required (the SDK's standard AWS_REQUEST_CHECKSUM_CALCULATION setting).
  const s3 = new S3Client({
    endpoint: s3Server.endpoint,
    region: REGION,
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestChecksumCalculation: 'WHEN_REQUIRED',
  });
  for (const stream of options.streams ?? []) {
    await kinesis.send(new CreateStreamCommand({ StreamName: stream.name, ShardCount: stream.shards ?? 1 }));
  }
  return {
    kinesis,
    s3,
    store: s3ObjectStore(s3),
    async readStream(streamName) {
      const out: { partitionKey: string; sequenceNumber: string; data: Uint8Array }[] = [];
      const { Shards = [] } = await kinesis.send(new ListShardsCommand({ StreamName: streamName }));
      for (const shard of Shards) {
        let { ShardIterator: iterator } = await kinesis.send(
          new GetShardIteratorCommand({
            StreamName: streamName,
            ShardId: shard.ShardId!,
            ShardIteratorType: 'TRIM_HORIZON',
          }),
        );
        while (iterator) {
          const page = await kinesis.send(new GetRecordsCommand({ ShardIterator: iterator }));
          for (const r of page.Records ?? [])
            out.push({ partitionKey: r.PartitionKey!, sequenceNumber: r.SequenceNumber!, data: r.Data! });
          if (!page.Records?.length && page.MillisBehindLatest === 0) break;
          iterator = page.NextShardIterator;
        }
      }
      return out;
    },
    async close() {
      kinesis.destroy();
      s3.destroy();
      await kinesisServer.close();
      await s3Server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

let sequence = 49_000_000_000_000_000_000_000_000_000n;

/** A Kinesis event as Lambda delivers it, for handler tests. */
export function kinesisEvent(
  records: { data: Uint8Array | string; partitionKey: string }[],
  streamName = 'test-stream',
): KinesisStreamEvent {
  const arn = `arn:aws:kinesis:${REGION}:000000000000:stream/${streamName}`;
  return {
    Records: records.map((r) => {
      sequence += 1n;
      const data = typeof r.data === 'string' ? Buffer.from(r.data) : Buffer.from(r.data);
      return {
        kinesis: {
          kinesisSchemaVersion: '1.0',
          partitionKey: r.partitionKey,
          sequenceNumber: sequence.toString(),
          data: data.toString('base64'),
          approximateArrivalTimestamp: Date.now() / 1000,
        },
        eventSource: 'aws:kinesis',
        eventVersion: '1.0',
        eventID: `shardId-000000000000:${sequence}`,
        eventName: 'aws:kinesis:record',
        invokeIdentityArn: 'arn:aws:iam::000000000000:role/test',
        awsRegion: REGION,
        eventSourceARN: arn,
      };
    }),
  };
}
