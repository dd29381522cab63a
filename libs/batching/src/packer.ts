/**
 * Packing items into batches that respect a service's per-call limits (count and bytes) and
 * per-item limit. Pure: no I/O, no AWS.
 */

/** Limits of one call: how many items, how many bytes in all, how many bytes per item. */
export interface BatchLimits {
  /** Items per batch. */
  maxCount: number;
  /** Sum of the items' sizes in one batch. */
  maxBytes: number;
  /** Size of one item; must not exceed maxBytes. */
  maxItemBytes: number;
}

/** An item is larger than one call may carry, so no batching can send it. */
export class ItemTooLargeError extends Error {
  override readonly name = 'ItemTooLargeError';

  constructor(
    /** The item's size in bytes, as measured. */
    readonly size: number,
    /** The per-item limit in bytes. */
    readonly limit: number,
  ) {
    super(
      `item of ${size} bytes is over the limit of ${limit} bytes per item (by ${size - limit}); ` +
        'make it smaller, or spill the payload to S3 and send a pointer instead',
    );
  }
}

function checkLimits(limits: BatchLimits): void {
  const { maxCount, maxBytes, maxItemBytes } = limits;
  if (!Number.isInteger(maxCount) || maxCount < 1)
    throw new RangeError(`maxCount must be a positive integer, got ${maxCount}`);
  if (!(maxBytes > 0)) throw new RangeError(`maxBytes must be positive, got ${maxBytes}`);
  if (!(maxItemBytes > 0) || maxItemBytes > maxBytes) {
    throw new RangeError(`maxItemBytes must be positive and at most maxBytes (${maxBytes}), got ${maxItemBytes}`);
  }
}

/**
 * Incremental packer: holds at most one batch, so a producer streaming items never holds more.
 *
 * `add` returns the batch built so far when the new item would overflow it (the new item then
 * starts the next batch); `drain` returns what is left. Items keep their order.
 *
 * @example
 * ```ts
 * const packer = new BatchPacker<Uint8Array>((b) => b.byteLength, {
 *   maxCount: FIREHOSE.maxRecordsPerBatch, maxBytes: FIREHOSE.maxBytesPerBatch, maxItemBytes: FIREHOSE.maxRecordBytes,
 * });
 * for (const item of items) {
 *   const full = packer.add(item);
 *   if (full) await send(full);
 * }
 * const rest = packer.drain();
 * if (rest) await send(rest);
 * ```
 */
export class BatchPacker<T> {
  private batch: T[] = [];
  private bytes = 0;

  constructor(
    private readonly measure: (item: T) => number,
    private readonly limits: BatchLimits,
  ) {
    checkLimits(limits);
  }

  /** Items and bytes in the batch being built. */
  get pending(): { count: number; bytes: number } {
    return { count: this.batch.length, bytes: this.bytes };
  }

  /**
   * Adds an item; returns the previous batch if this item did not fit in it.
   * @throws ItemTooLargeError when the item alone is over `maxItemBytes` (nothing is added)
   */
  add(item: T): T[] | undefined {
    const size = this.measure(item);
    if (!Number.isFinite(size) || size < 0)
      throw new RangeError(`measured size must be a finite number >= 0, got ${size}`);
    if (size > this.limits.maxItemBytes) throw new ItemTooLargeError(size, this.limits.maxItemBytes);

    let full: T[] | undefined;
    const fits = this.batch.length < this.limits.maxCount && this.bytes + size <= this.limits.maxBytes;
    if (!fits) full = this.drain();
    this.batch.push(item);
    this.bytes += size;
    return full;
  }

  /** Returns the batch being built (undefined if empty) and starts a new one. */
  drain(): T[] | undefined {
    if (this.batch.length === 0) return undefined;
    const batch = this.batch;
    this.batch = [];
    this.bytes = 0;
    return batch;
  }
}

/**
 * Splits items into batches within `limits`, in order, lazily (one batch in memory at a time).
 *
 * @example
 * ```ts
 * for (const batch of packBatches(records, recordSize, {
 *   maxCount: KINESIS.maxRecordsPerPut, maxBytes: KINESIS.maxBytesPerPut, maxItemBytes: KINESIS.maxRecordBytes,
 * })) {
 *   await putRecords(batch);
 * }
 * ```
 * @throws ItemTooLargeError when an item alone is over `maxItemBytes`
 */
export function* packBatches<T>(items: Iterable<T>, measure: (item: T) => number, limits: BatchLimits): Generator<T[]> {
  const packer = new BatchPacker(measure, limits);
  for (const item of items) {
    const full = packer.add(item);
    if (full) yield full;
  }
  const rest = packer.drain();
  if (rest) yield rest;
}
