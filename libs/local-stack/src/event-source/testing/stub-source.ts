import { performance } from 'node:perf_hooks';
import type { IteratorPosition, RecordsPage, ShardInfo, StreamSource } from '../kinesis-source';

/** A record of the stub shard: its sequence number is assigned at put, it becomes readable at store. */
interface StubRecord {
  sequence: bigint;
  partitionKey: string;
  data: Buffer;
  stored: boolean;
}

/**
 * A one-shard stream source that behaves as kinesalite does under load: PutRecords assigns a sequence
 * number first and stores the record a moment later, and a GetRecords that finds nothing answers
 * with an iterator positioned at "now" (the next sequence number to be assigned), past any record
 * assigned but not yet stored. Real Kinesis never skips such a record; a poller that trusts this
 * iterator does.
 */
export class LaggingStubSource implements StreamSource {
  readonly shardId = 'shardId-000000000000';
  private readonly shard: StubRecord[] = [];
  private nextSequence = 1n;
  /** GetRecords calls answered so far, and how many of them found nothing. */
  reads = 0;
  emptyReads = 0;
  /** While set, a GetRecords call waits until this promise settles or its signal aborts. */
  hold?: Promise<void>;
  /** GetRecords calls abandoned by the caller (their signal aborted). */
  abandoned = 0;
  /** How long each abandoned call had been waiting when it was abandoned, in milliseconds. */
  readonly abandonedAfterMs: number[] = [];
  /** Limits of the GetRecords calls, in call order. */
  readonly limits: number[] = [];

  /** Assigns a sequence number to a record without making it readable yet. */
  assign(partitionKey: string, data: string): bigint {
    const sequence = this.nextSequence++;
    this.shard.push({ sequence, partitionKey, data: Buffer.from(data), stored: false });
    return sequence;
  }

  /** Makes an assigned record readable. */
  store(sequence: bigint): void {
    const record = this.shard.find((r) => r.sequence === sequence);
    if (!record) throw new Error(`no record ${sequence} was assigned`);
    record.stored = true;
  }

  put(partitionKey: string, data: string): void {
    this.store(this.assign(partitionKey, data));
  }

  async streamArn(): Promise<string> {
    return 'arn:aws:kinesis:us-east-1:000000000000:stream/stub';
  }

  async listShards(): Promise<ShardInfo[]> {
    return [{ shardId: this.shardId, parentShardIds: [] }];
  }

  async shardIterator(_shardId: string, position: IteratorPosition): Promise<string> {
    switch (position.type) {
      case 'TRIM_HORIZON':
        return iterator(1n);
      case 'AFTER_SEQUENCE_NUMBER':
        return iterator(BigInt(position.sequenceNumber) + 1n);
      case 'LATEST':
        return iterator(this.nextSequence);
      default:
        throw new Error(`the stub source does not support ${position.type}`);
    }
  }

  async records(it: string, limit: number, signal: AbortSignal): Promise<RecordsPage> {
    this.limits.push(limit);
    if (this.hold) {
      const hold = this.hold;
      const began = performance.now();
      const aborted = await new Promise<boolean>((resolve) => {
        if (signal.aborted) return resolve(true);
        signal.addEventListener('abort', () => resolve(true), { once: true });
        void hold.then(() => resolve(false));
      });
      if (aborted) {
        this.abandoned += 1;
        this.abandonedAfterMs.push(performance.now() - began);
        throw Object.assign(new Error('the call was abandoned'), { name: 'AbortError' });
      }
    }
    const from = BigInt(it.slice('at:'.length));
    const found = this.shard.filter((r) => r.stored && r.sequence >= from).slice(0, limit);
    this.reads += 1;
    if (found.length === 0) this.emptyReads += 1;
    const next = found.length > 0 ? found[found.length - 1].sequence + 1n : this.nextSequence;
    return {
      records: found.map((r) => ({
        sequenceNumber: String(r.sequence),
        partitionKey: r.partitionKey,
        data: r.data,
        approximateArrivalTimestamp: new Date(),
      })),
      nextIterator: iterator(next),
      millisBehindLatest: 0,
    };
  }
}

function iterator(sequence: bigint): string {
  return `at:${sequence}`;
}
