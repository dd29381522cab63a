/** Buffered, retrying Firehose writer: the batching and retries live in @pipeline/batching. */
import { BatchSender, putRetryOptions, summarizeCodes, type FailedItem, type SendStats } from '@pipeline/batching';
import { FIREHOSE } from '@pipeline/limits';
import type { DeliveryPort } from './port';

export interface DelivererOptions {
  deliveryStreamName: string;
  port: DeliveryPort;
  /** Calls per batch, the first included. Defaults to DEFAULTS.putAttempts. */
  attempts?: number;
  /** Backoff between calls. Default DEFAULTS.backoffBaseMs / DEFAULTS.backoffCapMs. */
  baseMs?: number;
  capMs?: number;
  /** Injectable for tests. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
}

/** Records Firehose still rejected after the bounded attempts; they were not delivered. */
export class DeliveryError extends Error {
  override readonly name = 'DeliveryError';

  constructor(
    readonly deliveryStreamName: string,
    /** The records not delivered, with Firehose's error code for each, for the caller to dead-letter or retry. */
    readonly failed: FailedItem<Uint8Array>[],
    readonly attempts: number,
    cause?: unknown,
  ) {
    super(
      `PutRecordBatch to delivery stream ${deliveryStreamName}: ${failed.length} records not delivered after ${attempts} attempts ` +
        `(${summarizeCodes(failed)}); ` +
        "retry them later or dead-letter them; if Firehose is throttling, raise the stream's quota or putAttempts",
      { cause },
    );
  }
}

/** Bytes a record counts against Firehose's limits: its data, before base64 encoding. */
export const deliveryRecordSize = (record: Uint8Array): number => record.byteLength;

/**
 * Delivers records to one Firehose delivery stream in PutRecordBatch calls within FIREHOSE's limits
 * (records and bytes per call, bytes per record), retrying only the entries Firehose rejects, with
 * bounded attempts and full-jitter backoff. Holds at most one batch: await each `add`.
 *
 * Ordering: a retried entry is delivered after the entries accepted before it. A caller that needs
 * everything earlier delivered before going on (e.g. before recording a slice as done) calls
 * `flush()` first: it resolves only once everything added before it is delivered.
 *
 * @example
 * ```ts
 * const deliverer = new Deliverer({ deliveryStreamName: 'results', port: firehoseDeliveryPort(firehoseClient()) });
 * for (const result of results) await deliverer.add(encode(result));
 * await deliverer.flush();
 * ```
 */
export class Deliverer {
  private readonly sender: BatchSender<Uint8Array>;

  constructor(opts: DelivererOptions) {
    const { deliveryStreamName, port } = opts;
    this.sender = new BatchSender<Uint8Array>({
      limits: {
        maxCount: FIREHOSE.maxRecordsPerBatch,
        maxBytes: FIREHOSE.maxBytesPerBatch,
        maxItemBytes: FIREHOSE.maxRecordBytes,
      },
      measure: deliveryRecordSize,
      send: (records) => port.putRecordBatch(deliveryStreamName, records),
      retry: putRetryOptions({
        attempts: opts.attempts,
        baseMs: opts.baseMs,
        capMs: opts.capMs,
        sleep: opts.sleep,
        random: opts.random,
      }),
      failure: (failed, attempts, cause) => new DeliveryError(deliveryStreamName, failed, attempts, cause),
    });
  }

  /** Records delivered, failed, batches, calls and retried entries so far. */
  get stats(): Readonly<SendStats> {
    return this.sender.stats;
  }

  /**
   * Buffers a record, sending the buffered batch first when the record does not fit in it.
   * @throws ItemTooLargeError (record over FIREHOSE.maxRecordBytes) before any call
   * @throws DeliveryError when records of the batch sent are still rejected after the last attempt
   */
  async add(record: Uint8Array): Promise<void> {
    await this.sender.add(record);
  }

  /**
   * Sends the buffered records and resolves once everything added before is delivered.
   * @throws DeliveryError when records are still rejected after the last attempt
   */
  async flush(): Promise<void> {
    await this.sender.flush();
  }

  /** Adds every record (a stream is read one record at a time) and flushes. */
  async deliverAll(records: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<void> {
    await this.sender.sendAll(records);
  }
}
