/**
 * The local Firehose's behaviour, without HTTP: delivery streams, per-partition buffers, delivery
 * to S3 on size, interval, flush or close, fault injection and the journal that makes accepted
 * records survive a killed process. `server.ts` puts the JSON 1.1 API in front of it.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { promisify } from 'node:util';
import { gzip } from 'node:zlib';
import {
  compileDestination,
  type CompiledDestination,
  defineDeliveryStream,
  describeDeliveryStream,
  type StoredDeliveryStream,
  streamNameViolations,
} from './destination';
import { FirehoseDeliveryError, resourceInUse, resourceNotFound, unknownOperation, validationError } from './errors';
import type { ObjectSink } from './object-sink';
import { evaluatePrefix, objectKeySuffix, RANDOM_STRING_LENGTH } from './prefix';
import { readPutRecord, readPutRecordBatch } from './records';
import { routeRecords, type RoutedRecord } from './routing';
import { type FirehoseStateFiles, type JournalEntry, StateFileError } from './state-files';

const gzipAsync = promisify(gzip);

/** Faults injected into PutRecordBatch, for testing how callers handle partial failure. */
export interface FirehoseFaults {
  /** Share (0..1) of the entries of each PutRecordBatch that fail with ServiceUnavailableException. */
  failShare?: number;
  /** Source of randomness deciding which entries fail; Math.random by default. */
  random?: () => number;
}

/** Caps on every stream's BufferingHints, so local runs deliver promptly. */
export interface BufferOverride {
  sizeBytes?: number;
  intervalMs?: number;
}

export interface LocalFirehoseStats {
  deliveryStreams: number;
  /** Records PutRecord/PutRecordBatch accepted. */
  recordsAccepted: number;
  /** PutRecordBatch entries failed by fault injection (never buffered). */
  recordsFailed: number;
  /** Accepted and not yet delivered. */
  recordsBuffered: number;
  /** Records in delivered objects, error output included. */
  recordsDelivered: number;
  /** Of those, records delivered under the ErrorOutputPrefix. */
  errorRecordsDelivered: number;
  objectsDelivered: number;
  /** Bytes of delivered objects as stored (after compression). */
  bytesDelivered: number;
  /** S3 writes that failed; their records were kept and retried. */
  deliveryFailures: number;
}

/** Wait before retrying an object whose S3 write failed (the SDK has already retried it). */
export const DELIVERY_RETRY_DELAY_MS = 1_000;
/** ListDeliveryStreams' Limit: default and documented range. */
const LIST_LIMIT = { default: 10, min: 1, max: 10_000 };
/** Length of the opaque RecordId; AWS's are long opaque strings too. */
const RECORD_ID_BYTES = 48;
const LIST_STREAM_TYPES = ['DirectPut', 'KinesisStreamAsSource', 'MSKAsSource', 'DatabaseAsSource'];

interface StreamEntry {
  stored: StoredDeliveryStream;
  compiled: CompiledDestination;
  buffers: Map<string, PendingObject>;
}

interface PendingObject {
  stream: StreamEntry;
  bufferKey: string;
  partitionKeys?: Record<string, string>;
  errorOutputType?: string;
  records: RoutedRecord[];
  bytes: number;
  timer?: NodeJS.Timeout;
}

export interface FirehoseEngineOptions {
  sink: ObjectSink;
  files?: FirehoseStateFiles;
  bufferOverride?: BufferOverride;
  clock?: () => number;
  faults?: FirehoseFaults;
}

export class FirehoseEngine {
  private readonly streams = new Map<string, StreamEntry>();
  private readonly inFlight = new Map<Promise<FirehoseDeliveryError | undefined>, PendingObject>();
  /** Journal writes and buffer changes run one at a time, so the journal never misses a record. */
  private serial: Promise<unknown> = Promise.resolve();
  private faults: FirehoseFaults | undefined;
  private stopped = false;
  private readonly clock: () => number;
  private readonly counters = {
    recordsAccepted: 0,
    recordsFailed: 0,
    recordsDelivered: 0,
    errorRecordsDelivered: 0,
    objectsDelivered: 0,
    bytesDelivered: 0,
    deliveryFailures: 0,
  };

  constructor(private readonly options: FirehoseEngineOptions) {
    this.clock = options.clock ?? Date.now;
    this.setFaults(options.faults);
  }

  /** Loads persisted definitions and re-buffers journaled records (delivering what is due). */
  async restore(): Promise<void> {
    const files = this.options.files;
    if (!files) return;
    for (const stored of await files.loadStreams()) {
      let compiled: CompiledDestination;
      try {
        compiled = compileDestination(stored);
      } catch (error) {
        throw new StateFileError(files.stateFile, `delivery stream ${stored.name}: ${(error as Error).message}`);
      }
      this.streams.set(stored.name, { stored, compiled, buffers: new Map() });
    }
    for (const entry of await files.loadJournal()) {
      const stream = this.streams.get(entry.s);
      if (!stream) continue;
      this.addToBuffer(
        stream,
        {
          bufferKey: entry.k,
          partitionKeys: entry.p,
          errorOutputType: entry.e,
          bytes: Buffer.from(entry.d, 'base64'),
          arrival: entry.a,
        },
        false,
      );
    }
    await this.writeJournal();
    for (const stream of this.streams.values()) {
      for (const pending of [...stream.buffers.values()]) {
        if (pending.bytes >= this.sizeBytes(stream)) void this.deliver(pending);
        else this.arm(pending, Math.max(0, oldestArrival(pending) + this.intervalMs(stream) - this.clock()));
      }
    }
  }

  setFaults(faults: FirehoseFaults | undefined): void {
    const share = faults?.failShare;
    if (share !== undefined && !(share >= 0 && share <= 1))
      throw new RangeError(`failShare must be between 0 and 1, got ${share}`);
    this.faults = faults;
  }

  /** Runs one API operation; throws FirehoseApiError for what AWS answers with an error. */
  async handle(
    operation: string,
    input: Record<string, unknown>,
    context: { region: string },
  ): Promise<Record<string, unknown>> {
    switch (operation) {
      case 'CreateDeliveryStream':
        return this.createDeliveryStream(input, context.region);
      case 'DescribeDeliveryStream':
        return {
          DeliveryStreamDescription: describeDeliveryStream(this.requireStream(input.DeliveryStreamName).stored),
        };
      case 'ListDeliveryStreams':
        return this.listDeliveryStreams(input);
      case 'DeleteDeliveryStream':
        return this.deleteDeliveryStream(input);
      case 'PutRecord':
        return this.putRecord(input);
      case 'PutRecordBatch':
        return this.putRecordBatch(input);
      default:
        throw unknownOperation(`Firehose_20150804.${operation}`);
    }
  }

  /** Delivers every buffer now; rejects with FirehoseDeliveryError if an S3 write failed (records kept). */
  async flush(): Promise<void> {
    for (const stream of this.streams.values()) {
      for (const pending of [...stream.buffers.values()]) void this.deliver(pending);
    }
    const results = await Promise.all([...this.inFlight.keys()]);
    await this.exclusive(async () => undefined);
    const failure = results.find((result) => result !== undefined);
    if (failure) throw failure;
  }

  /** Stops timers; buffered records stay in the journal (if any) for the next start. */
  stop(): void {
    this.stopped = true;
    for (const stream of this.streams.values()) {
      for (const pending of stream.buffers.values()) clearTimeout(pending.timer);
    }
  }

  stats(): LocalFirehoseStats {
    let recordsBuffered = 0;
    for (const stream of this.streams.values()) {
      for (const pending of stream.buffers.values()) recordsBuffered += pending.records.length;
    }
    for (const pending of this.inFlight.values()) recordsBuffered += pending.records.length;
    return { deliveryStreams: this.streams.size, recordsBuffered, ...this.counters };
  }

  private createDeliveryStream(input: Record<string, unknown>, region: string): Promise<Record<string, unknown>> {
    return this.exclusive(async () => {
      const stored = defineDeliveryStream(input, { region, now: this.clock() });
      if (this.streams.has(stored.name)) throw resourceInUse(stored.name);
      this.streams.set(stored.name, { stored, compiled: compileDestination(stored), buffers: new Map() });
      try {
        await this.options.files?.saveStreams(this.storedStreams());
      } catch (error) {
        this.streams.delete(stored.name);
        throw error;
      }
      return { DeliveryStreamARN: stored.arn };
    });
  }

  private listDeliveryStreams(input: Record<string, unknown>): Record<string, unknown> {
    const limit = input.Limit ?? LIST_LIMIT.default;
    const violations: string[] = [];
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < LIST_LIMIT.min || limit > LIST_LIMIT.max) {
      violations.push(
        `Value '${String(limit)}' at 'limit' failed to satisfy constraint: Member must have value between ${LIST_LIMIT.min} and ${LIST_LIMIT.max}`,
      );
    }
    const type = input.DeliveryStreamType;
    if (type !== undefined && !LIST_STREAM_TYPES.includes(type as string)) {
      violations.push(
        `Value '${String(type)}' at 'deliveryStreamType' failed to satisfy constraint: Member must satisfy enum value set: [${LIST_STREAM_TYPES.join(', ')}]`,
      );
    }
    if (violations.length > 0) throw validationError(violations);
    const start = input.ExclusiveStartDeliveryStreamName as string | undefined;
    const names = [...this.streams.keys()]
      .filter(() => type === undefined || type === 'DirectPut')
      .filter((name) => start === undefined || name > start)
      .sort();
    return {
      DeliveryStreamNames: names.slice(0, limit as number),
      HasMoreDeliveryStreams: names.length > (limit as number),
    };
  }

  /** Buffered records are delivered before the stream goes (AWS may drop them; delivering is kinder locally). */
  private deleteDeliveryStream(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const stream = this.requireStream(input.DeliveryStreamName);
    return this.exclusive(async () => {
      if (this.streams.get(stream.stored.name) !== stream) throw resourceNotFound(stream.stored.name);
      for (const pending of [...stream.buffers.values()]) void this.deliver(pending);
      await Promise.all(
        [...this.inFlight].filter(([, pending]) => pending.stream === stream).map(([delivery]) => delivery),
      );
      for (const pending of stream.buffers.values()) clearTimeout(pending.timer);
      this.streams.delete(stream.stored.name);
      await this.options.files?.saveStreams(this.storedStreams());
      await this.writeJournal();
      return {};
    });
  }

  private putRecord(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const request = readPutRecord(input);
    const stream = this.requireStream(request.streamName);
    return this.exclusive(async () => {
      this.recheck(stream);
      const routed = routeRecords(stream.compiled, request.data, this.clock());
      await this.options.files?.append(journalEntries(stream, routed));
      for (const r of routed) this.addToBuffer(stream, r, true);
      this.counters.recordsAccepted += 1;
      return { RecordId: recordId(), Encrypted: false };
    });
  }

  private putRecordBatch(input: Record<string, unknown>): Promise<Record<string, unknown>> {
    const request = readPutRecordBatch(input);
    const stream = this.requireStream(request.streamName);
    return this.exclusive(async () => {
      this.recheck(stream);
      const share = this.faults?.failShare ?? 0;
      const random = this.faults?.random ?? Math.random;
      const arrival = this.clock();
      const accepted: RoutedRecord[] = [];
      const responses = request.records.map((data) => {
        if (share > 0 && random() < share) {
          return { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' };
        }
        accepted.push(...routeRecords(stream.compiled, data, arrival));
        return { RecordId: recordId() };
      });
      await this.options.files?.append(journalEntries(stream, accepted));
      for (const routed of accepted) this.addToBuffer(stream, routed, true);
      const failed = responses.filter((r) => 'ErrorCode' in r).length;
      this.counters.recordsAccepted += responses.length - failed;
      this.counters.recordsFailed += failed;
      return { FailedPutCount: failed, Encrypted: false, RequestResponses: responses };
    });
  }

  private requireStream(name: unknown): StreamEntry {
    const violations = streamNameViolations(name);
    if (violations.length > 0) throw validationError(violations);
    const stream = this.streams.get(name as string);
    if (!stream) throw resourceNotFound(name as string);
    return stream;
  }

  /** The stream may have been deleted while this call waited its turn. */
  private recheck(stream: StreamEntry): void {
    if (this.streams.get(stream.stored.name) !== stream) throw resourceNotFound(stream.stored.name);
  }

  private addToBuffer(stream: StreamEntry, routed: RoutedRecord, trigger: boolean): void {
    let pending = stream.buffers.get(routed.bufferKey);
    if (!pending) {
      pending = {
        stream,
        bufferKey: routed.bufferKey,
        partitionKeys: routed.partitionKeys,
        errorOutputType: routed.errorOutputType,
        records: [],
        bytes: 0,
      };
      stream.buffers.set(routed.bufferKey, pending);
      if (trigger) this.arm(pending, this.intervalMs(stream));
    }
    pending.records.push(routed);
    pending.bytes += routed.bytes.length;
    if (trigger && pending.bytes >= this.sizeBytes(stream)) void this.deliver(pending);
  }

  private arm(pending: PendingObject, delayMs: number): void {
    clearTimeout(pending.timer);
    if (this.stopped) return;
    pending.timer = setTimeout(() => void this.deliver(pending), delayMs);
    pending.timer.unref();
  }

  private sizeBytes(stream: StreamEntry): number {
    return Math.min(stream.compiled.sizeBytes, this.options.bufferOverride?.sizeBytes ?? Infinity);
  }

  private intervalMs(stream: StreamEntry): number {
    return Math.min(stream.compiled.intervalMs, this.options.bufferOverride?.intervalMs ?? Infinity);
  }

  /** Takes a buffer out and writes it as one object; on failure its records go back to the front. */
  private deliver(pending: PendingObject): Promise<FirehoseDeliveryError | undefined> {
    const stream = pending.stream;
    if (stream.buffers.get(pending.bufferKey) === pending) stream.buffers.delete(pending.bufferKey);
    clearTimeout(pending.timer);
    pending.timer = undefined;
    const delivery: Promise<FirehoseDeliveryError | undefined> = this.writeObject(pending).then(
      (bytes) => {
        this.inFlight.delete(delivery);
        this.counters.objectsDelivered += 1;
        this.counters.bytesDelivered += bytes;
        this.counters.recordsDelivered += pending.records.length;
        if (pending.errorOutputType !== undefined) this.counters.errorRecordsDelivered += pending.records.length;
        void this.exclusive(() => this.writeJournal());
        return undefined;
      },
      (cause: unknown) => {
        this.inFlight.delete(delivery);
        this.counters.deliveryFailures += 1;
        this.requeue(pending);
        return new FirehoseDeliveryError(stream.stored.name, stream.compiled.bucket, cause);
      },
    );
    this.inFlight.set(delivery, pending);
    return delivery;
  }

  private requeue(pending: PendingObject): void {
    const stream = pending.stream;
    if (this.streams.get(stream.stored.name) !== stream) return; // deleted: dropped, as AWS may drop them
    const current = stream.buffers.get(pending.bufferKey);
    const target = current ?? pending;
    if (current) {
      current.records = [...pending.records, ...current.records];
      current.bytes += pending.bytes;
    } else {
      stream.buffers.set(pending.bufferKey, pending);
    }
    this.arm(target, DELIVERY_RETRY_DELAY_MS);
  }

  private async writeObject(pending: PendingObject): Promise<number> {
    const { stored, compiled } = pending.stream;
    const time = oldestArrival(pending);
    const parts = pending.errorOutputType === undefined ? compiled.prefix : compiled.errorOutputPrefix;
    if (parts === undefined)
      throw new Error(`stream ${stored.name} has no ErrorOutputPrefix for ${pending.errorOutputType}`);
    const prefix = evaluatePrefix(parts, {
      time,
      partitionKeys: pending.partitionKeys,
      errorOutputType: pending.errorOutputType,
      randomString,
    });
    const key =
      prefix +
      objectKeySuffix({
        streamName: stored.name,
        version: stored.versionId,
        time,
        uuid: randomUUID(),
        extension: compiled.extension,
      });
    const raw = Buffer.concat(pending.records.map((record) => record.bytes));
    const body = compiled.gzip ? await gzipAsync(raw) : raw;
    await this.options.sink.put(compiled.bucket, key, body);
    return body.length;
  }

  /** Rewrites the journal with every record not yet delivered: in flight first (older), then buffered. */
  private async writeJournal(): Promise<void> {
    const files = this.options.files;
    if (!files) return;
    const entries: JournalEntry[] = [];
    for (const pending of this.inFlight.values()) {
      if (this.streams.get(pending.stream.stored.name) !== pending.stream) continue;
      entries.push(...journalEntries(pending.stream, pending.records));
    }
    for (const stream of this.streams.values()) {
      for (const pending of stream.buffers.values()) entries.push(...journalEntries(stream, pending.records));
    }
    await files.rewrite(entries);
  }

  private storedStreams(): StoredDeliveryStream[] {
    return [...this.streams.values()].map((stream) => stream.stored);
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.serial.then(task, task);
    this.serial = run.catch(() => undefined);
    return run;
  }
}

/**
 * Journal entries for records, with runs of records bound for the same buffer merged into one entry
 * (their bytes are concatenated in the object anyway): a de-aggregated batch of thousands of lines is
 * one entry, not thousands. A merged entry keeps the earliest arrival, so it is never delivered late.
 */
function journalEntries(stream: StreamEntry, records: readonly RoutedRecord[]): JournalEntry[] {
  const entries: JournalEntry[] = [];
  let run: RoutedRecord[] = [];
  const close = () => {
    if (!run.length) return;
    const first = run[0];
    const merged =
      run.length === 1
        ? first
        : {
            ...first,
            bytes: Buffer.concat(run.map((r) => r.bytes)),
            arrival: run.reduce((oldest, r) => Math.min(oldest, r.arrival), Infinity),
          };
    entries.push(journalEntry(stream, merged));
    run = [];
  };
  for (const record of records) {
    if (run.length && run[0].bufferKey !== record.bufferKey) close();
    run.push(record);
  }
  close();
  return entries;
}

function journalEntry(stream: StreamEntry, routed: RoutedRecord): JournalEntry {
  const entry: JournalEntry = {
    s: stream.stored.name,
    k: routed.bufferKey,
    a: routed.arrival,
    d: routed.bytes.toString('base64'),
  };
  if (routed.partitionKeys) entry.p = routed.partitionKeys;
  if (routed.errorOutputType) entry.e = routed.errorOutputType;
  return entry;
}

function oldestArrival(pending: PendingObject): number {
  // reduce, not Math.min(...): a buffer can hold more records than a call has arguments.
  return pending.records.reduce((oldest, record) => Math.min(oldest, record.arrival), Infinity);
}

function recordId(): string {
  return randomBytes(RECORD_ID_BYTES).toString('base64url');
}

function randomString(): string {
  return randomBytes(RANDOM_STRING_LENGTH).toString('hex').slice(0, RANDOM_STRING_LENGTH);
}
