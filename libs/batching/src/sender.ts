/**
 * The buffered, retrying sender behind StreamProducer (Kinesis) and Deliverer (Firehose): packs
 * items into batches within a call's limits, sends each full batch with bounded retries of the
 * failed entries, and holds at most one batch in memory.
 */
import { BatchPacker, type BatchLimits } from './packer';
import { sendWithRetry, type EntryFailure, type FailedItem, type RetryOptions } from './retry';

export interface BatchSenderOptions<T> {
  limits: BatchLimits;
  /** Bytes an item counts against the limits. */
  measure: (item: T) => number;
  /** One call of the service; resolves with the entries it rejected. */
  send: (items: T[]) => Promise<EntryFailure[]>;
  retry: RetryOptions;
  /**
   * Builds the error thrown when entries are still failing after the last attempt; `cause` is the
   * error of the last call when that call failed as a whole (then every entry it carried is failed).
   */
  failure: (failed: FailedItem<T>[], attempts: number, cause?: unknown) => Error;
}

/** Counters since the sender was created. */
export interface SendStats {
  /** Items the service accepted. */
  sent: number;
  /** Items given up on (reported through the thrown error). */
  failed: number;
  /** Batches sent (each may take several calls). */
  batches: number;
  /** Calls made, retries included. */
  calls: number;
  /** Entries sent again after a failed entry or a failed call. */
  retried: number;
}

/**
 * Buffers items and sends them in batches. Await each `add` to keep memory at one batch; call
 * `flush` at the end and before any point that must see every earlier item sent. Sends run one
 * at a time, in the order their batches were closed.
 *
 * @example
 * ```ts
 * const sender = new BatchSender({ limits, measure, send, retry, failure: (failed) => new Error(`${failed.length} failed`) });
 * for await (const item of source) await sender.add(item);
 * await sender.flush();
 * ```
 */
export class BatchSender<T> {
  private readonly packer: BatchPacker<T>;
  private readonly counters: SendStats = { sent: 0, failed: 0, batches: 0, calls: 0, retried: 0 };
  /** Tail of the chain of sends, so batches go out in order even when callers do not await. */
  private tail: Promise<void> = Promise.resolve();

  constructor(private readonly opts: BatchSenderOptions<T>) {
    this.packer = new BatchPacker(opts.measure, opts.limits);
  }

  get stats(): Readonly<SendStats> {
    return { ...this.counters };
  }

  /**
   * Buffers an item; sends the buffered batch first if the item does not fit in it.
   * @throws ItemTooLargeError (before any call) when the item alone is over the per-item limit
   * @throws the `failure` error when entries of the sent batch are still failing after the last attempt
   *   (or the last call failed as a whole)
   */
  async add(item: T): Promise<void> {
    const full = this.packer.add(item);
    if (full) await this.enqueue(full);
  }

  /** Sends whatever is buffered and waits for every send started before. */
  async flush(): Promise<void> {
    const rest = this.packer.drain();
    await this.enqueue(rest ?? []);
  }

  /** Adds every item, then flushes. */
  async sendAll(items: Iterable<T> | AsyncIterable<T>): Promise<void> {
    for await (const item of items) await this.add(item);
    await this.flush();
  }

  private enqueue(batch: T[]): Promise<void> {
    const run = this.tail.then(() => this.sendBatch(batch));
    // A failed send is reported to the caller that enqueued it; later sends still go out.
    this.tail = run.catch(() => undefined);
    return run;
  }

  private async sendBatch(batch: T[]): Promise<void> {
    if (batch.length === 0) return;
    this.counters.batches += 1;
    let calls = 0;
    let lastItems: T[] = [];
    let lastError: unknown;
    const countingSend = async (items: T[]): Promise<EntryFailure[]> => {
      calls += 1;
      this.counters.calls += 1;
      if (calls > 1) this.counters.retried += items.length;
      lastItems = items;
      try {
        return await this.opts.send(items);
      } catch (error) {
        lastError = error;
        throw error;
      }
    };

    let failed: FailedItem<T>[];
    let cause: unknown;
    try {
      ({ failed } = await sendWithRetry(batch, countingSend, this.opts.retry));
    } catch (error) {
      if (error !== lastError) throw error; // a bug (e.g. a port's bad index), not a service failure
      // The last call failed as a whole: the entries it carried are the ones not written.
      cause = error;
      const { code, message } = describeCallError(error);
      failed = lastItems.map((item) => ({ item, code, message }));
    }
    this.counters.sent += batch.length - failed.length;
    this.counters.failed += failed.length;
    if (failed.length > 0) throw this.opts.failure(failed, calls, cause);
  }
}

/** Code and message of a whole-call failure, from an AWS SDK error or anything else thrown. */
function describeCallError(error: unknown): { code: string; message: string } {
  if (error instanceof Error) return { code: error.name, message: error.message };
  return { code: 'Error', message: String(error) };
}
