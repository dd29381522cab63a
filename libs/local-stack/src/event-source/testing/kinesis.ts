import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  PutRecordsCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KINESIS } from '@pipeline/limits';
import { startLocalKinesis, type LocalServer } from '../../servers';

/** Test support: a kinesalite server on loopback and a client for it. */
export interface TestKinesis {
  client: KinesisClient;
  /** Creates an ACTIVE stream (kinesalite runs with createStreamMs 0) and returns its ARN. */
  createStream(name: string, shardCount: number): Promise<string>;
  /** Puts records in order; returns each record's shard id and sequence number. */
  put(
    stream: string,
    records: readonly { key: string; data: string | Buffer }[],
  ): Promise<{ shardId: string; sequenceNumber: string }[]>;
  close(): Promise<void>;
}

export async function startTestKinesis(): Promise<TestKinesis> {
  const server: LocalServer = await startLocalKinesis();
  const client = new KinesisClient({
    endpoint: server.endpoint,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  });
  return {
    client,
    async createStream(name, shardCount) {
      await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: shardCount }));
      const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      return out.StreamDescriptionSummary?.StreamARN as string;
    },
    async put(stream, records) {
      const results: { shardId: string; sequenceNumber: string }[] = [];
      // One record per call would be slow; one call per chunk keeps the order within a shard.
      let chunk: (typeof records)[number][] = [];
      let bytes = 0;
      const flush = async () => {
        if (chunk.length === 0) return;
        const out = await client.send(
          new PutRecordsCommand({
            StreamName: stream,
            Records: chunk.map((r) => ({ PartitionKey: r.key, Data: Buffer.from(r.data) })),
          }),
        );
        if (out.FailedRecordCount) throw new Error(`PutRecords failed for ${out.FailedRecordCount} records`);
        for (const r of out.Records ?? [])
          results.push({ shardId: r.ShardId as string, sequenceNumber: r.SequenceNumber as string });
        chunk = [];
        bytes = 0;
      };
      for (const record of records) {
        const size = Buffer.byteLength(record.data) + Buffer.byteLength(record.key);
        if (chunk.length === KINESIS.maxRecordsPerPut || bytes + size > KINESIS.maxBytesPerPut) await flush();
        chunk.push(record);
        bytes += size;
      }
      await flush();
      return results;
    },
    async close() {
      client.destroy();
      await server.close();
    },
  };
}

/** Polls `condition` until it holds; fails the test with `what` after `timeoutMs`. */
export async function waitFor(condition: () => boolean, what: string, timeoutMs = 5_000): Promise<void> {
  const began = Date.now();
  while (!condition()) {
    if (Date.now() - began > timeoutMs) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** A promise the test resolves by hand. */
export function gate(): { promise: Promise<void>; open(): void } {
  let open!: () => void;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}
