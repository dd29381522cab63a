/**
 * Which records of one shard are done, and so where its checkpoint may stand. Records are tracked
 * in read order (sequence order); with several batches in flight (parallelization factor > 1) they
 * complete out of order, and the checkpoint only moves over an unbroken run of done records. What
 * completed beyond a gap is delivered again after a restart: at-least-once, as in Lambda.
 *
 * @example
 * ```ts
 * const progress = new ShardProgress();
 * progress.track(['1', '2', '3']);
 * progress.complete(['2']); // undefined: '1' is not done yet
 * progress.complete(['1']); // '2'
 * ```
 */
export class ShardProgress {
  private readonly order: string[] = [];
  private head = 0;
  private readonly done = new Set<string>();

  /** Starts tracking records just read, in sequence order. */
  track(sequenceNumbers: readonly string[]): void {
    for (const seq of sequenceNumbers) this.order.push(seq);
  }

  /** Marks records done; returns the new checkpoint if it moved. */
  complete(sequenceNumbers: readonly string[]): string | undefined {
    for (const seq of sequenceNumbers) this.done.add(seq);
    let checkpoint: string | undefined;
    while (this.head < this.order.length && this.done.has(this.order[this.head])) {
      checkpoint = this.order[this.head];
      this.done.delete(checkpoint);
      this.head += 1;
    }
    // Drop the consumed prefix now and then so the array does not grow with the stream.
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
    return checkpoint;
  }

  /** Records read and not yet done. */
  get outstanding(): number {
    return this.order.length - this.head;
  }
}
