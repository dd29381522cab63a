/** Buffered, retrying Kinesis writer: the batching and retries live in @pipeline/batching. */
import { BatchSender, putRetryOptions, summarizeCodes, type FailedItem, type SendStats } from '@pipeline/batching';
import { KINESIS } from '@pipeline/limits';
import type { PutRecordsPort } from './port';
import { checkPartitionKey, recordSize, type StreamRecord } from './record';

export interface StreamProducerOptions {
  streamName: string;
  port: PutRecordsPort;
  /**
   * Pack the records of one partition key into one Kinesis record up to this many bytes, one per
   * line (the data must hold no newline: JSON text never does). 0, the default, packs nothing.
   */
  aggregateBytes?: number;
  /**
   * Seals each record as it goes out (packed or alone): `bytes` is what the seal adds, kept free
   * within `aggregateBytes`. The reader seals its records with its run key (see @pipeline/records).
   */
  seal?: { bytes: number; apply(data: Uint8Array): Uint8Array };
  /** Calls per batch, the first included. Defaults to DEFAULTS.putAttempts. */
  attempts?: number;
  /** Backoff between calls. Default DEFAULTS.backoffBaseMs / DEFAULTS.backoffCapMs. */
  baseMs?: number;
  capMs?: number;
  /**
   * Where packed records' slabs come from and go back to once a flush has written every record cut
   * from them, so a warm function reuses them batch after batch instead of leaving the garbage
   * collector a batch of buffers each time. Only for a port that keeps no record's data once its
   * call has resolved (the SDK's: the request is serialized and sent by then).
   */
  slabs?: SlabPool;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Records Kinesis still rejected after the bounded attempts; they were not written. */
export class PutRecordsError extends Error {
  override readonly name = 'PutRecordsError';

  constructor(
    readonly streamName: string,
    /** The records not written, with Kinesis' error code for each, for the caller to dead-letter or retry. */
    readonly failed: FailedItem<StreamRecord>[],
    readonly attempts: number,
    cause?: unknown,
  ) {
    super(
      `PutRecords to stream ${streamName}: ${failed.length} records not written after ${attempts} attempts ` +
        `(${summarizeCodes(failed)}); ` +
        'retry them later or dead-letter them; if throughput was exceeded, add shards or raise putAttempts',
      { cause },
    );
  }
}

/** A record whose data is JSON text (no raw newline), for `addLine`: encoded with the record it is packed in. */
export interface TextRecord {
  data: string;
  partitionKey: string;
}

const NEWLINE = 0x0a;
/** Packed records' room per slab (see StreamProducer.slab): 16 × 24 KiB at the default packing. */
const RECORDS_PER_SLAB = 16;

/**
 * Slabs a producer gives back after a flush, for the next producer of the same packing (the next
 * invocation of a warm function). Holds at most `maxSlabs`; a producer of another packing gets a new slab.
 */
export class SlabPool {
  private readonly free: Buffer[] = [];

  /** 32 slabs: 12 MiB at the default packing, the most a processor batch cuts between two flushes. */
  constructor(private readonly maxSlabs = 32) {}

  /** A slab of `bytes`, reused when one is free. */
  take(bytes: number): Buffer {
    const last = this.free[this.free.length - 1];
    return last?.byteLength === bytes ? (this.free.pop() as Buffer) : Buffer.allocUnsafeSlow(bytes);
  }

  /** Slabs no record refers to any more. */
  give(slabs: readonly Buffer[]): void {
    for (const slab of slabs) if (this.free.length < this.maxSlabs) this.free.push(slab);
  }

  /** Slabs waiting to be reused. */
  get size(): number {
    return this.free.length;
  }
}

/**
 * Writes records to one Kinesis stream in PutRecords calls within KINESIS' limits (records and bytes
 * per call, bytes per record: data + partition key), retrying only the entries Kinesis rejects, with bounded attempts and full-jitter backoff. Holds at
 * most one batch: await each `add`.
 *
 * Ordering: records go out in the order added, but a retried entry is written after the entries
 * accepted before it, so records of one partition key can be reordered. A caller that needs every
 * earlier record written before a later one (e.g. an end-of-slice marker) calls `flush()` first:
 * flush resolves only once everything added before it is written.
 *
 * @example
 * ```ts
 * const producer = new StreamProducer({ streamName: 'records', port: kinesisPutRecordsPort(kinesisClient()) });
 * for await (const record of records) await producer.add(record);
 * await producer.flush();               // every data record is written...
 * await producer.add(endOfSliceMarker); // ...before the marker
 * await producer.flush();
 * ```
 */
export class StreamProducer {
  private readonly sender: BatchSender<StreamRecord>;
  private readonly aggregateBytes: number;
  private readonly seal?: StreamProducerOptions['seal'];
  /** Lines waiting to be packed into one record, per partition key. */
  private readonly packing = new Map<string, { buffer: Buffer; bytes: number }>();
  /**
   * Packed records are cut from slabs of several records' room, not allocated one by one: an
   * ArrayBuffer per record cost the processor more than packing itself. A slab lives as long as a
   * record cut from it is referenced (until its PutRecords call is done with it).
   */
  private slab: Buffer = Buffer.alloc(0);
  private slabUsed = 0;
  private readonly slabs?: SlabPool;
  /** Slabs cut from since the last flush that wrote everything (the current one included). */
  private cut: Buffer[] = [];

  constructor(opts: StreamProducerOptions) {
    const { streamName, port } = opts;
    this.seal = opts.seal;
    this.slabs = opts.slabs;
    // Room for the seal inside each packed record.
    this.aggregateBytes = Math.max(0, (opts.aggregateBytes ?? 0) - (opts.seal?.bytes ?? 0));
    this.sender = new BatchSender<StreamRecord>({
      limits: {
        maxCount: KINESIS.maxRecordsPerPut,
        maxBytes: KINESIS.maxBytesPerPut,
        maxItemBytes: KINESIS.maxRecordBytes,
      },
      measure: recordSize,
      send: (records) => port.putRecords(streamName, records),
      retry: putRetryOptions({
        attempts: opts.attempts,
        baseMs: opts.baseMs,
        capMs: opts.capMs,
        sleep: opts.sleep,
        random: opts.random,
      }),
      failure: (failed, attempts, cause) => {
        // The error holds the records not written, whoever it reaches and whenever: from here on, no
        // slab cut so far is ever reused (this runs before any later send can start).
        this.forgetSlabs();
        return new PutRecordsError(streamName, failed, attempts, cause);
      },
    });
  }

  /** Records sent, failed, batches, calls and retried entries so far. */
  get stats(): Readonly<SendStats> {
    return this.sender.stats;
  }

  /**
   * Buffers a record, sending the buffered batch first when the record does not fit in it.
   * @throws InvalidPartitionKeyError / ItemTooLargeError (data + key over KINESIS.maxRecordBytes) before any call
   * @throws PutRecordsError when records of the batch sent are still rejected after the last attempt
   */
  async add(record: StreamRecord): Promise<void> {
    await this.addLine(record);
  }

  /**
   * `add` without a promise when nothing is sent: the caller awaits only what it returns. On a
   * processor's hot path most records are only packed. A packed line is copied into its record at
   * once; with `scratch`, the data is a view its caller reuses once this returns, so a record sent
   * as it is is copied too.
   */
  addLine(record: StreamRecord | TextRecord, scratch = false): Promise<void> | undefined {
    checkPartitionKey(record.partitionKey);
    const { data, partitionKey } = record;
    const owned = () => (typeof data === 'string' ? Buffer.from(data, 'utf8') : scratch ? Buffer.from(data) : data);
    if (this.aggregateBytes <= 0) return this.sender.add(this.sealed({ data: owned(), partitionKey }));
    // Packed records are lines: a record of this size alone, or one that would not fit, goes as it is.
    const line = (typeof data === 'string' ? Buffer.byteLength(data) : data.byteLength) + 1;
    if (line >= this.aggregateBytes) return this.sendAlone({ data: owned(), partitionKey });
    const packing = this.packing.get(partitionKey);
    if (packing && packing.bytes + line > this.aggregateBytes) {
      // The full record goes out; the line starts the next one (copied before anything is awaited).
      const full = this.unpack(partitionKey);
      this.pack(record, line);
      return full && this.sender.add(full);
    }
    this.pack(record, line, packing);
    return undefined;
  }

  /** Appends a line to its partition key's packed record, copying its bytes in. */
  private pack(record: StreamRecord | TextRecord, line: number, packing = this.packing.get(record.partitionKey)) {
    let into = packing;
    if (!into) {
      // A packed record never holds more than aggregateBytes: room for all of it at once.
      into = { buffer: this.room(), bytes: 0 };
      this.packing.set(record.partitionKey, into);
    }
    // `bytes` counts each line with its newline: the next line starts there, after a newline.
    const at = into.bytes;
    if (at > 0) into.buffer[at - 1] = NEWLINE;
    if (typeof record.data === 'string') into.buffer.write(record.data, at, 'utf8');
    else into.buffer.set(record.data, at);
    into.bytes += line;
  }

  /** Room for one packed record, cut from the current slab (a new one when it is used up). */
  private room(): Buffer {
    const bytes = this.aggregateBytes;
    if (this.slabUsed + bytes > this.slab.byteLength) {
      const size = bytes * RECORDS_PER_SLAB;
      this.slab = this.slabs ? this.slabs.take(size) : Buffer.allocUnsafeSlow(size);
      this.slabUsed = 0;
      if (this.slabs) this.cut.push(this.slab);
    }
    const room = this.slab.subarray(this.slabUsed, this.slabUsed + bytes);
    this.slabUsed += bytes;
    return room;
  }

  private async sendAlone(record: StreamRecord): Promise<void> {
    const packed = this.unpack(record.partitionKey);
    if (packed) await this.sender.add(packed);
    await this.sender.add(this.sealed(record));
  }

  private sealed(record: StreamRecord): StreamRecord {
    return this.seal ? { data: this.seal.apply(record.data), partitionKey: record.partitionKey } : record;
  }

  /** Takes a partition key's packed record out of the packing, sealed, to be sent. */
  private unpack(partitionKey: string): StreamRecord | undefined {
    const packing = this.packing.get(partitionKey);
    if (!packing) return undefined;
    this.packing.delete(partitionKey);
    return this.sealed({ data: packing.buffer.subarray(0, packing.bytes - 1), partitionKey });
  }

  /**
   * Sends the buffered records and resolves once everything added before is written.
   * @throws PutRecordsError when records are still rejected after the last attempt
   */
  async flush(): Promise<void> {
    for (const partitionKey of [...this.packing.keys()]) {
      const packed = this.unpack(partitionKey);
      if (packed) await this.sender.add(packed);
    }
    await this.sender.flush();
    this.reuseSlabs();
  }

  /** Slabs records of a failed send may still be held in: left to the garbage collector, never reused. */
  private forgetSlabs(): void {
    this.cut = [];
    this.slab = Buffer.alloc(0);
    this.slabUsed = 0;
  }

  /** Every record cut so far is written: the slabs go back to the pool, the next record takes one again. */
  private reuseSlabs(): void {
    if (!this.slabs || this.packing.size > 0 || this.cut.length === 0) return;
    this.slabs.give(this.cut);
    this.forgetSlabs();
  }

  /** Adds every record (a stream is read one record at a time) and flushes. */
  async putAll(records: Iterable<StreamRecord> | AsyncIterable<StreamRecord>): Promise<void> {
    for await (const record of records) await this.add(record);
    await this.flush();
  }
}
