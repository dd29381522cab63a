import {
  DescribeStreamSummaryCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  ListShardsCommand,
  type KinesisClient,
  type ListShardsCommandInput,
} from '@aws-sdk/client-kinesis';
import { KINESIS } from '@pipeline/limits';
import type { StreamRecord } from './event';

/** A shard as the poller needs it: its id and the shards it was split or merged from. */
export interface ShardInfo {
  shardId: string;
  parentShardIds: string[];
  /** The shard has an ending sequence number: it takes no more records (split or merged). */
  closed?: boolean;
}

/** Where a shard iterator starts. */
export type IteratorPosition =
  | { type: 'TRIM_HORIZON' }
  | { type: 'LATEST' }
  | { type: 'AT_TIMESTAMP'; timestamp: Date }
  | { type: 'AFTER_SEQUENCE_NUMBER'; sequenceNumber: string };

export interface RecordsPage {
  records: StreamRecord[];
  /** Undefined once a closed shard has been read to its end. */
  nextIterator?: string;
  millisBehindLatest?: number;
}

/** The Kinesis reads the poller makes, behind an interface so the poller holds no SDK types. */
export interface StreamSource {
  streamArn(signal: AbortSignal): Promise<string>;
  listShards(signal: AbortSignal): Promise<ShardInfo[]>;
  shardIterator(shardId: string, position: IteratorPosition, signal: AbortSignal): Promise<string>;
  records(iterator: string, limit: number, signal: AbortSignal): Promise<RecordsPage>;
}

/** Thin adapter over the SDK's Kinesis client for one stream. */
export function kinesisStreamSource(client: KinesisClient, streamName: string): StreamSource {
  return {
    async streamArn(signal) {
      const out = await client.send(new DescribeStreamSummaryCommand({ StreamName: streamName }), {
        abortSignal: signal,
      });
      const arn = out.StreamDescriptionSummary?.StreamARN;
      if (!arn) throw new Error(`DescribeStreamSummary returned no StreamARN for stream ${streamName}`);
      return arn;
    },
    async listShards(signal) {
      const shards: ShardInfo[] = [];
      let input: ListShardsCommandInput = { StreamName: streamName };
      for (;;) {
        const out = await client.send(new ListShardsCommand(input), { abortSignal: signal });
        for (const shard of out.Shards ?? []) {
          if (!shard.ShardId) continue;
          const parents = [shard.ParentShardId, shard.AdjacentParentShardId].filter((id): id is string => !!id);
          const closed = !!shard.SequenceNumberRange?.EndingSequenceNumber;
          shards.push({ shardId: shard.ShardId, parentShardIds: parents, closed });
        }
        if (!out.NextToken) return shards;
        // With NextToken, ListShards rejects StreamName.
        input = { NextToken: out.NextToken };
      }
    },
    async shardIterator(shardId, position, signal) {
      const out = await client.send(
        new GetShardIteratorCommand({
          StreamName: streamName,
          ShardId: shardId,
          ShardIteratorType: position.type,
          ...(position.type === 'AT_TIMESTAMP' && { Timestamp: position.timestamp }),
          ...(position.type === 'AFTER_SEQUENCE_NUMBER' && { StartingSequenceNumber: position.sequenceNumber }),
        }),
        { abortSignal: signal },
      );
      if (!out.ShardIterator)
        throw new Error(`GetShardIterator returned no iterator for ${shardId} of stream ${streamName}`);
      return out.ShardIterator;
    },
    async records(iterator, limit, signal) {
      const out = await client.send(
        new GetRecordsCommand({
          ShardIterator: iterator,
          Limit: Math.max(1, Math.min(limit, KINESIS.maxRecordsPerGet)),
        }),
        { abortSignal: signal },
      );
      return {
        records: (out.Records ?? []).map((r) => ({
          sequenceNumber: r.SequenceNumber ?? '',
          partitionKey: r.PartitionKey ?? '',
          data: r.Data ?? new Uint8Array(),
          approximateArrivalTimestamp: r.ApproximateArrivalTimestamp ?? new Date(0),
        })),
        nextIterator: out.NextShardIterator,
        millisBehindLatest: out.MillisBehindLatest,
      };
    },
  };
}

/** GetRecords refuses an iterator older than 5 minutes; the poller then asks for a new one. */
export function isExpiredIterator(err: unknown): boolean {
  return (err as { name?: string } | null)?.name === 'ExpiredIteratorException';
}
