import { randomUUID } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type { Context, KinesisStreamRecord } from 'aws-lambda';
import { backoffDelay } from '@pipeline/batching';
import type { CheckpointStore } from './checkpoints';
import { LAMBDA_DEFAULT_MEMORY_MB, LOCAL_POLLER, ON_FAILURE_RECORD } from './constants';
import { eventRecordBytes, laneOf, takeCount, toEventRecord, type EventRecordSource, type StreamRecord } from './event';
import { buildOnFailureRecord } from './failure-record';
import { isExpiredIterator, type IteratorPosition, type StreamSource } from './kinesis-source';
import { ShardProgress } from './progress';
import { KinesisCallTimeoutError } from './errors';
import { readBatchResponse, type BatchOutcome } from './response';
import type { Settings } from './settings';
import type { EventSourceMappingStats, OnFailureCondition } from './types';

/** What a shard consumer borrows from its mapping. */
export interface MappingRuntime {
  readonly settings: Settings;
  readonly source: StreamSource;
  readonly checkpoints: CheckpointStore;
  readonly counters: Omit<EventSourceMappingStats, 'shards' | 'lastError'>;
  readonly streamArn: string;
  readonly awsRegion: string;
  readonly functionArn: string;
  readonly invokeIdentityArn: string;
  readonly stopping: boolean;
  readonly signal: AbortSignal;
  /** Resolves when the mapping stops. */
  readonly stopped: Promise<void>;
  /**
   * Runs a Kinesis call that stop() aborts and that times out with {@link KinesisCallTimeoutError};
   * `timeouts`, the caller's consecutive timeouts, doubles the time allowed for each (up to a cap).
   */
  call<T>(fn: (signal: AbortSignal) => Promise<T>, timeouts?: number): Promise<T>;
  /** A timer that stop() cuts short. */
  pause(ms: number): Promise<void>;
  /** The retry wait: the injected sleep if any, cut short by stop(). */
  sleep(ms: number): Promise<void>;
  noteError(where: string, err: unknown): void;
}

/** A record read from the shard and waiting in its lane. */
interface Queued {
  record: StreamRecord;
  event: KinesisStreamRecord;
  bytes: number;
  /** clock() when it was read: the batching window counts from the oldest queued record. */
  readAt: number;
}

/** One partition-key lane of a shard: its queue and whether a batch of it is in flight. */
interface Lane {
  queue: Queued[];
  busy: boolean;
}

/** Records of one batch still being worked on, after bisections and partial successes. */
interface Attempt {
  records: Queued[];
  /** Retries spent; bisected halves inherit them (splitting does not consume the retry quota). */
  retries: number;
  invokeCount: number;
  lastRequestId?: string;
  lastFailure?: { functionError: boolean };
}

/**
 * Reads one shard and invokes the handler with its batches: one lane per parallelization factor,
 * one batch in flight per lane, each batch retried, bisected or discarded as Lambda does, and the
 * shard's checkpoint saved as its records complete.
 */
export class ShardConsumer {
  private readonly lanes: Lane[];
  private readonly progress = new ShardProgress();
  private readonly tasks = new Set<Promise<void>>();
  private readonly eventSource: EventRecordSource;
  private iterator?: string;
  private lastReadSequence?: string;
  private ended = false;
  /** ListShards said the shard is closed. */
  private closed = false;
  private started = false;
  private finished = false;
  private buffered = 0;
  private bufferedBytes = 0;
  private saving: Promise<void> = Promise.resolve();
  private wakePending = false;
  private wakeWaiter?: () => void;
  private loop?: Promise<void>;
  // drain() bookkeeping, in real (not injected) time: the shard is drained once a read that found
  // nothing started after the last record was read and the last batch finished.
  private lastActivityAt = performance.now();
  private lastEmptyReadStartedAt = Number.NEGATIVE_INFINITY;
  private resolveFinished!: () => void;
  private resolveIteratorReady!: () => void;
  /** Resolves once the shard is closed and every record of it is done. */
  readonly whenFinished = new Promise<void>((resolve) => (this.resolveFinished = resolve));
  /** Resolves once the shard has an iterator (or waits on its parents, or the mapping stopped). */
  readonly whenIteratorReady = new Promise<void>((resolve) => (this.resolveIteratorReady = resolve));

  constructor(
    private readonly rt: MappingRuntime,
    readonly shardId: string,
    private readonly parents: readonly ShardConsumer[],
    private readonly initialPosition: IteratorPosition,
  ) {
    this.lanes = Array.from({ length: rt.settings.parallelizationFactor }, () => ({ queue: [], busy: false }));
    this.eventSource = {
      shardId,
      streamArn: rt.streamArn,
      awsRegion: rt.awsRegion,
      invokeIdentityArn: rt.invokeIdentityArn,
    };
  }

  start(): void {
    this.loop ??= this.run().catch((err) => this.rt.noteError(`shard ${this.shardId}`, err));
    if (this.parents.length > 0) this.resolveIteratorReady();
  }

  /** The shard was split or merged: it takes no more records. */
  markClosed(): void {
    this.closed = true;
  }

  /** Resolves after the read loop ended and the in-flight batches and checkpoint saves are done. */
  async stopped(): Promise<void> {
    this.resolveIteratorReady();
    await this.loop;
    while (this.tasks.size > 0) await Promise.all([...this.tasks]);
    await this.saving;
  }

  /**
   * Nothing buffered or in flight, and a read that started after both `since` (performance.now())
   * and the shard's last activity found nothing: records put before `since` have all been handled.
   */
  isDrained(since: number): boolean {
    if (this.finished) return true;
    return this.started && this.buffered === 0 && this.lastEmptyReadStartedAt > Math.max(this.lastActivityAt, since);
  }

  describe(): string {
    if (this.finished) return `${this.shardId}: finished`;
    if (!this.started) return `${this.shardId}: waiting for parent shards`;
    const busy = this.lanes.filter((l) => l.busy).length;
    const caughtUp = this.lastEmptyReadStartedAt > this.lastActivityAt;
    return `${this.shardId}: ${this.buffered} records buffered or in flight, ${busy} batches in flight, ${caughtUp ? 'at the tip' : 'not yet read to the tip'}`;
  }

  private async run(): Promise<void> {
    const { rt } = this;
    if (this.parents.length > 0) {
      // Lambda finishes a parent shard before it reads the shards split or merged from it, so
      // records of one partition key stay in order across a reshard.
      await Promise.race([Promise.all(this.parents.map((p) => p.whenFinished)), rt.stopped]);
    }
    this.started = true;
    let errors = 0;
    // Consecutive Kinesis calls of this shard abandoned for taking too long: each retry gets twice
    // the time and, for a read, half the records, so a slow emulator slows the shard down instead
    // of stalling it with the same doomed call forever.
    let timeouts = 0;
    while (!rt.stopping) {
      try {
        if (!this.iterator && !this.ended) {
          this.iterator = await rt.call((s) => rt.source.shardIterator(this.shardId, this.position(), s), timeouts);
          this.resolveIteratorReady();
        }
        let readMore = false;
        if (this.iterator && this.hasRoom()) {
          const startedAt = performance.now();
          const limit = Math.max(1, Math.floor(this.readLimit() / 2 ** timeouts));
          const page = await rt.call((s) => rt.source.records(this.iterator as string, limit, s), timeouts);
          if (!page.nextIterator) this.ended = true;
          if (page.records.length > 0) {
            this.iterator = page.nextIterator;
            this.accept(page.records);
            readMore = true;
          } else {
            // At the tip, keep the iterator just read with instead of the one returned: kinesalite
            // answers an empty read with an iterator at "now", past a record whose sequence number
            // was assigned just before and stored just after, which would then never be read. Real
            // Kinesis never skips; re-reading from the same position is what it promises too. Behind
            // the tip (millisBehindLatest > 0) an empty page is a gap to step over: follow it.
            // A closed shard takes no more records, so nothing can be skipped: follow the iterator to
            // its end (kinesalite ends a closed shard only for an iterator past its closing time).
            if (this.closed || page.millisBehindLatest || !page.nextIterator) this.iterator = page.nextIterator;
            if (!page.millisBehindLatest) this.lastEmptyReadStartedAt = startedAt;
          }
        }
        errors = 0;
        timeouts = 0;
        this.dispatch();
        if (this.ended && this.buffered === 0) {
          await this.saving;
          this.finished = true;
          this.resolveFinished();
          return;
        }
        // Lambda "keeps processing batches until the function catches up with the stream"; once
        // caught up it polls at its base rate (with-kinesis.html).
        await this.waitForWake(readMore && this.hasRoom() ? 0 : this.nextDelay());
      } catch (err) {
        if (rt.stopping) break;
        if (isExpiredIterator(err)) {
          this.iterator = undefined;
          continue;
        }
        if (err instanceof KinesisCallTimeoutError) timeouts += 1;
        rt.noteError(`shard ${this.shardId}`, err);
        await rt.pause(backoffDelay(errors++, rt.settings.backoff));
      }
    }
  }

  private position(): IteratorPosition {
    return this.lastReadSequence
      ? { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: this.lastReadSequence }
      : this.initialPosition;
  }

  private capacity(): { records: number; bytes: number } {
    const { batchSize, parallelizationFactor, maxPayloadBytes } = this.rt.settings;
    const batches = parallelizationFactor * LOCAL_POLLER.readAheadBatchesPerLane;
    return { records: batchSize * batches, bytes: maxPayloadBytes * batches };
  }

  // Bounded read-ahead: once a full batch per lane is waiting, stop reading until one completes.
  private hasRoom(): boolean {
    const cap = this.capacity();
    return this.buffered < cap.records && this.bufferedBytes < cap.bytes;
  }

  // Bound a read by bytes too, from the size of the records read so far: a read of large records
  // must not bring in far more than the read-ahead is meant to hold.
  private readLimit(): number {
    const cap = this.capacity();
    const byRecords = cap.records - this.buffered;
    if (this.averageRecordBytes === 0) return Math.min(byRecords, this.rt.settings.batchSize);
    const byBytes = Math.floor((cap.bytes - this.bufferedBytes) / this.averageRecordBytes);
    return Math.max(1, Math.min(byRecords, byBytes));
  }

  /** Running mean of the event records' bytes, for readLimit. */
  private averageRecordBytes = 0;

  private accept(records: readonly StreamRecord[]): void {
    const now = this.rt.settings.clock();
    this.progress.track(records.map((r) => r.sequenceNumber));
    const { filter } = this.rt.settings;
    const left: Queued[] = [];
    for (const record of records) {
      // "If none of your filters are satisfied, Lambda discards the record" (invocation-eventfiltering.html).
      if (filter && !filter(record.data)) {
        left.push({ record, event: toEventRecord(record, this.eventSource), bytes: 0, readAt: now });
        continue;
      }
      const event = toEventRecord(record, this.eventSource);
      const bytes = eventRecordBytes(event);
      this.lanes[laneOf(record.partitionKey, this.lanes.length)].queue.push({ record, event, bytes, readAt: now });
      this.buffered += 1;
      this.bufferedBytes += bytes;
      this.averageRecordBytes = this.averageRecordBytes === 0 ? bytes : this.averageRecordBytes * 0.9 + bytes * 0.1;
    }
    this.rt.counters.recordsRead += records.length;
    if (left.length > 0) {
      this.rt.counters.recordsFilteredOut += left.length;
      void this.complete(left, false);
    }
    this.lastReadSequence = records[records.length - 1].sequenceNumber;
    this.lastActivityAt = performance.now();
  }

  private batchLength(queue: readonly Queued[]): number {
    const { batchSize, maxPayloadBytes } = this.rt.settings;
    return takeCount(
      queue.slice(0, batchSize + 1).map((q) => q.bytes),
      batchSize,
      maxPayloadBytes,
    );
  }

  // "Lambda continues to read records from the event source until it has gathered a full batch,
  // the batching window expires, or the batch reaches the payload limit of 6 MB" (with-kinesis.html).
  private laneReady(lane: Lane): boolean {
    const { batchSize, batchingWindowMs, clock } = this.rt.settings;
    const queue = lane.queue;
    if (queue.length === 0) return false;
    if (queue.length >= batchSize || this.batchLength(queue) < queue.length) return true;
    return clock() - queue[0].readAt >= batchingWindowMs;
  }

  private nextDelay(): number {
    const { pollIntervalMs, batchingWindowMs, clock } = this.rt.settings;
    let delay = pollIntervalMs;
    for (const lane of this.lanes) {
      if (lane.busy || lane.queue.length === 0) continue;
      delay = Math.min(delay, Math.max(0, batchingWindowMs - (clock() - lane.queue[0].readAt)));
    }
    return delay;
  }

  private dispatch(): void {
    if (this.rt.stopping) return;
    for (const lane of this.lanes) {
      if (lane.busy || !this.laneReady(lane)) continue;
      const batch = lane.queue.splice(0, this.batchLength(lane.queue));
      lane.busy = true;
      const task: Promise<void> = this.process(batch)
        .catch((err) => this.rt.noteError(`shard ${this.shardId}`, err))
        .finally(() => {
          lane.busy = false;
          this.buffered -= batch.length;
          this.bufferedBytes -= batch.reduce((sum, q) => sum + q.bytes, 0);
          this.tasks.delete(task);
          this.lastActivityAt = performance.now();
          this.wake();
        });
      this.tasks.add(task);
    }
  }

  /**
   * Works on one batch until every record of it is done (succeeded or discarded) or the mapping
   * stops. Records left when it stops are not checkpointed, so they are delivered again later.
   */
  private async process(batch: Queued[]): Promise<void> {
    const { rt } = this;
    const s = rt.settings;
    const attempts: Attempt[] = [{ records: batch, retries: 0, invokeCount: 0 }];
    while (attempts.length > 0 && !rt.stopping) {
      const attempt = attempts[0];

      // MaximumRecordAgeInSeconds: "The maximum age of a record that Lambda sends to your function";
      // older records are discarded, on the first delivery and between retries alike.
      const aged = this.agedCount(attempt.records);
      if (aged > 0) {
        if (!(await this.discard(attempt.records.slice(0, aged), 'RecordAgeExceeded', attempt))) return;
        attempt.records = attempt.records.slice(aged);
        if (attempt.records.length === 0) attempts.shift();
        continue;
      }

      const outcome = await this.invoke(attempt);
      if (outcome.kind === 'success') {
        await this.complete(attempt.records, true);
        attempts.shift();
        continue;
      }
      rt.counters.failures += 1;

      if (outcome.kind === 'partial') {
        // ReportBatchItemFailures: checkpoint just before the lowest failed sequence number and retry
        // from it, successes after it included. With BisectBatchOnFunctionError too, "the batch is
        // bisected at the returned sequence number and Lambda retries only the remaining records".
        await this.complete(attempt.records.slice(0, outcome.firstFailedIndex), true);
        attempt.records = attempt.records.slice(outcome.firstFailedIndex);
      } else if (s.bisectBatchOnFunctionError && attempt.records.length > 1) {
        // "If your invocation fails and BisectBatchOnFunctionError is turned on, the batch is bisected
        // regardless of your ReportBatchItemFailures setting." The halves run in order, and
        // "splitting a batch does not count towards the retry quota" (with-kinesis.html).
        const middle = Math.ceil(attempt.records.length / 2);
        attempts.splice(
          0,
          1,
          { ...attempt, records: attempt.records.slice(0, middle) },
          { ...attempt, records: attempt.records.slice(middle) },
        );
        rt.counters.bisections += 1;
        continue;
      }

      // MaximumRetryAttempts: "Discard records after the specified number of retries"; -1 retries
      // until the records are too old. Discarding lets the shard move on (no poison pill stalls it).
      if (s.maximumRetryAttempts !== -1 && attempt.retries >= s.maximumRetryAttempts) {
        if (!(await this.discard(attempt.records, 'RetryAttemptsExhausted', attempt))) return;
        attempts.shift();
        continue;
      }
      attempt.retries += 1;
      rt.counters.retries += 1;
      await rt.sleep(backoffDelay(attempt.retries - 1, s.backoff));
    }
  }

  private agedCount(records: readonly Queued[]): number {
    const { maximumRecordAgeMs, clock } = this.rt.settings;
    if (maximumRecordAgeMs === -1) return 0;
    const now = clock();
    let count = 0;
    // Arrival times rise along a shard, so the too-old records are a prefix.
    while (
      count < records.length &&
      now - records[count].record.approximateArrivalTimestamp.getTime() > maximumRecordAgeMs
    )
      count += 1;
    return count;
  }

  private async invoke(attempt: Attempt): Promise<BatchOutcome> {
    const { rt } = this;
    const s = rt.settings;
    const requestId = randomUUID();
    // Fresh objects per invocation: a handler that mutates its event cannot change a retry's.
    const event = { Records: attempt.records.map((q) => ({ ...q.event, kinesis: { ...q.event.kinesis } })) };
    attempt.invokeCount += 1;
    attempt.lastRequestId = requestId;
    rt.counters.invocations += 1;
    rt.counters.recordsDelivered += attempt.records.length;
    rt.counters.inFlight += 1;
    let outcome: BatchOutcome;
    try {
      const context = this.context(requestId);
      const response: unknown = await Promise.resolve().then(() => s.handler(event, context));
      outcome = readBatchResponse(
        response,
        attempt.records.map((q) => q.record.sequenceNumber),
        s.reportBatchItemFailures,
      );
    } catch (err) {
      outcome = { kind: 'failure', reason: err instanceof Error ? err.message : String(err), functionError: true };
    } finally {
      rt.counters.inFlight -= 1;
    }
    attempt.lastFailure =
      outcome.kind === 'success' ? undefined : { functionError: outcome.kind === 'failure' && outcome.functionError };
    return outcome;
  }

  private context(requestId: string): Context {
    const s = this.rt.settings;
    const deadline = s.clock() + s.timeoutMs;
    const noop = () => undefined;
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: s.functionName,
      functionVersion: ON_FAILURE_RECORD.executedVersion,
      invokedFunctionArn: this.rt.functionArn,
      memoryLimitInMB: String(LAMBDA_DEFAULT_MEMORY_MB),
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${s.functionName}`,
      logStreamName: `local/${this.shardId}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - s.clock()),
      done: noop,
      fail: noop,
      succeed: noop,
    };
  }

  /**
   * Gives up on records: hands the invocation record to the on-failure destination (retrying until
   * it accepts it), then checkpoints past them. Returns false if the mapping stopped first.
   */
  private async discard(records: Queued[], condition: OnFailureCondition, attempt: Attempt): Promise<boolean> {
    const { rt } = this;
    const s = rt.settings;
    if (s.onFailure) {
      const record = buildOnFailureRecord({
        condition,
        requestId: attempt.lastRequestId ?? randomUUID(),
        functionArn: rt.functionArn,
        shardId: this.shardId,
        streamArn: rt.streamArn,
        invokeCount: attempt.invokeCount,
        lastFailure: attempt.lastFailure,
        records: records.map((q) => q.event),
        now: s.clock(),
      });
      for (let failed = 0; ; failed += 1) {
        try {
          await s.onFailure(record);
          break;
        } catch (err) {
          rt.counters.onFailureErrors += 1;
          rt.noteError(`on-failure destination for ${this.shardId}`, err);
          if (rt.stopping) return false;
          await rt.sleep(backoffDelay(failed, s.backoff));
          if (rt.stopping) return false;
        }
      }
      rt.counters.onFailureRecords += 1;
      rt.counters.sentToOnFailure += records.length;
    }
    rt.counters.recordsDiscarded += records.length;
    await this.complete(records, false);
    return true;
  }

  private async complete(records: readonly Queued[], succeeded: boolean): Promise<void> {
    if (records.length === 0) return;
    const { rt } = this;
    if (succeeded) rt.counters.recordsSucceeded += records.length;
    const checkpoint = this.progress.complete(records.map((q) => q.record.sequenceNumber));
    if (checkpoint === undefined) return;
    // Saves are chained so a later checkpoint never lands before an earlier one.
    this.saving = this.saving.then(() =>
      rt.checkpoints.save(this.shardId, checkpoint).then(
        () => {
          rt.counters.checkpoints += 1;
        },
        (err: unknown) => rt.noteError(`checkpoint of ${this.shardId}`, err),
      ),
    );
    await this.saving;
  }

  private wake(): void {
    this.wakePending = true;
    const waiter = this.wakeWaiter;
    this.wakeWaiter = undefined;
    waiter?.();
  }

  private waitForWake(ms: number): Promise<void> {
    if (this.wakePending || ms <= 0 || this.rt.stopping) {
      this.wakePending = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.rt.signal.removeEventListener('abort', done);
        this.wakeWaiter = undefined;
        this.wakePending = false;
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.wakeWaiter = done;
      this.rt.signal.addEventListener('abort', done, { once: true });
    });
  }
}
