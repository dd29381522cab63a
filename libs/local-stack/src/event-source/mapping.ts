import { performance } from 'node:perf_hooks';
import { backoffDelay } from '@pipeline/batching';
import { memoryCheckpointStore, type CheckpointStore } from './checkpoints';
import { LOCAL_ACCOUNT_ID, LOCAL_POLLER } from './constants';
import { DrainTimeoutError, EventSourceMappingStoppedError, KinesisCallTimeoutError } from './errors';
import { kinesisStreamSource, type IteratorPosition, type ShardInfo, type StreamSource } from './kinesis-source';
import { resolveSettings, type Settings } from './settings';
import { ShardConsumer, type MappingRuntime } from './shard-consumer';
import type { EventSourceMapping, EventSourceMappingOptions, EventSourceMappingStats } from './types';

/**
 * Creates a local event source mapping: it polls every shard of a Kinesis stream and invokes
 * `handler` with the events Lambda would deliver, with the batching, ordering, retry, bisection,
 * record-age, partial-failure and on-failure semantics of Lambda's Kinesis event source mapping.
 * It does nothing until start().
 *
 * @example
 * ```ts
 * const mapping = createEventSourceMapping({
 *   kinesis, streamName: 'records', handler,
 *   startingPosition: 'TRIM_HORIZON', batchSize: DEFAULTS.batchSize,
 *   maximumRetryAttempts: DEFAULTS.maxRetryAttempts, bisectBatchOnFunctionError: true,
 *   functionResponseTypes: ['ReportBatchItemFailures'],
 *   onFailure: async (record) => deadLetters.push(record),
 *   checkpoints: fileCheckpointStore('.local/checkpoints/processor.json'),
 * });
 * mapping.start();
 * await mapping.drain();
 * await mapping.stop();
 * ```
 */
export function createEventSourceMapping(options: EventSourceMappingOptions): EventSourceMapping {
  return createEventSourceMappingOver(kinesisStreamSource(options.kinesis, options.streamName), options);
}

/** The same mapping over any {@link StreamSource}: the seam the poller's own tests use. */
export function createEventSourceMappingOver(
  source: StreamSource,
  options: Omit<EventSourceMappingOptions, 'kinesis'>,
): EventSourceMapping {
  const settings = resolveSettings(options);
  return new LocalEventSourceMapping(settings, source, options.checkpoints ?? memoryCheckpointStore());
}

class LocalEventSourceMapping implements EventSourceMapping, MappingRuntime {
  readonly counters = {
    recordsRead: 0,
    invocations: 0,
    recordsDelivered: 0,
    recordsSucceeded: 0,
    recordsFilteredOut: 0,
    failures: 0,
    retries: 0,
    bisections: 0,
    recordsDiscarded: 0,
    sentToOnFailure: 0,
    onFailureRecords: 0,
    onFailureErrors: 0,
    checkpoints: 0,
    inFlight: 0,
  };
  streamArn = '';
  awsRegion = '';
  functionArn = '';
  invokeIdentityArn = '';
  private readonly abort = new AbortController();
  readonly stopped: Promise<void>;
  private readonly consumers = new Map<string, ShardConsumer>();
  private started = false;
  private initialized = false;
  private stopPromise?: Promise<void>;
  private runPromise?: Promise<void>;
  private readonly readyPromise: Promise<void>;
  private resolveReady!: () => void;
  private lastError?: string;
  private storedCheckpoints: Record<string, string> = {};

  constructor(
    readonly settings: Settings,
    readonly source: StreamSource,
    readonly checkpoints: CheckpointStore,
  ) {
    this.stopped = new Promise((resolve) =>
      this.abort.signal.addEventListener('abort', () => resolve(), { once: true }),
    );
    this.readyPromise = new Promise((resolve) => (this.resolveReady = resolve));
  }

  get stopping(): boolean {
    return this.abort.signal.aborted;
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  start(): void {
    if (this.started || this.stopping) return;
    this.started = true;
    this.runPromise = this.run().catch((err) => this.noteError('mapping', err));
  }

  ready(): Promise<void> {
    return this.readyPromise;
  }

  stop(): Promise<void> {
    this.stopPromise ??= (async () => {
      this.abort.abort();
      this.resolveReady();
      await this.runPromise;
      await Promise.all([...this.consumers.values()].map((c) => c.stopped()));
    })();
    return this.stopPromise;
  }

  async drain(options: { idleMs?: number; timeoutMs?: number } = {}): Promise<void> {
    const idleMs = options.idleMs ?? 0;
    const timeoutMs = options.timeoutMs ?? LOCAL_POLLER.drainTimeoutMs;
    if (!this.started) throw new EventSourceMappingStoppedError('drain() needs a running mapping: call start() first');
    const began = performance.now();
    let quietSince: number | undefined;
    for (;;) {
      if (this.stopping) throw new EventSourceMappingStoppedError('the mapping was stopped before it drained');
      const now = performance.now();
      if (this.isDrained(began)) {
        quietSince ??= now;
        if (now - quietSince >= idleMs) return;
      } else {
        quietSince = undefined;
      }
      if (now - began >= timeoutMs) {
        const shards = [...this.consumers.values()].map((c) => c.describe()).join('; ') || 'shards not listed yet';
        const last = this.lastError ? `; last error: ${this.lastError}` : '';
        throw new DrainTimeoutError(
          `stream ${this.settings.streamName} did not drain within ${timeoutMs} ms (${shards}${last}); raise timeoutMs or look at the handler's failures`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, LOCAL_POLLER.drainCheckIntervalMs));
    }
  }

  stats(): EventSourceMappingStats {
    return {
      ...this.counters,
      shards: this.consumers.size,
      ...(this.lastError !== undefined && { lastError: this.lastError }),
    };
  }

  async call<T>(fn: (signal: AbortSignal) => Promise<T>, timeouts = 0): Promise<T> {
    const controller = new AbortController();
    const onStop = () => controller.abort();
    this.abort.signal.addEventListener('abort', onStop, { once: true });
    // An unanswered call (a lost connection, an emulator that never replies) must not hold the shard;
    // a slow one must not be abandoned forever either, so each consecutive timeout doubles the time.
    const { kinesisCallTimeoutMs } = this.settings;
    const allowedMs = Math.min(kinesisCallTimeoutMs * 2 ** timeouts, LOCAL_POLLER.kinesisCallTimeoutCapMs);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, allowedMs);
    try {
      return await fn(controller.signal);
    } catch (err) {
      if (timedOut && !this.stopping)
        throw new KinesisCallTimeoutError(
          `a Kinesis call took longer than ${allowedMs} ms and was abandoned; it is retried with more time (is the Kinesis server overloaded?)`,
        );
      throw err;
    } finally {
      clearTimeout(timer);
      this.abort.signal.removeEventListener('abort', onStop);
    }
  }

  pause(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.abort.signal.removeEventListener('abort', done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.abort.signal.addEventListener('abort', done, { once: true });
    });
  }

  sleep(ms: number): Promise<void> {
    if (this.stopping) return Promise.resolve();
    const injected = this.settings.sleep;
    if (!injected) return this.pause(ms);
    // A sleep that resolves at once (as in tests) must still let timers and I/O run between retries.
    return Promise.race([injected(ms), this.stopped]).then(() => new Promise<void>((resolve) => setImmediate(resolve)));
  }

  noteError(where: string, err: unknown): void {
    this.lastError = `${where}: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}`;
  }

  private isDrained(since: number): boolean {
    if (!this.initialized || this.consumers.size === 0) return false;
    for (const consumer of this.consumers.values()) if (!consumer.isDrained(since)) return false;
    return true;
  }

  private async run(): Promise<void> {
    for (let failures = 0; !this.stopping; failures += 1) {
      try {
        await this.initialize();
        break;
      } catch (err) {
        if (this.stopping) return;
        this.noteError(`stream ${this.settings.streamName}`, err);
        await this.pause(backoffDelay(failures, this.settings.backoff));
      }
    }
    // Resharding creates shards while the mapping runs; Lambda picks them up, so do we.
    while (!this.stopping) {
      await this.pause(this.settings.shardDiscoveryIntervalMs);
      if (this.stopping) return;
      try {
        this.addShards(await this.call((s) => this.source.listShards(s)), false);
      } catch (err) {
        if (!this.stopping) this.noteError(`listing shards of ${this.settings.streamName}`, err);
      }
    }
  }

  private async initialize(): Promise<void> {
    const s = this.settings;
    this.streamArn = await this.call((signal) => this.source.streamArn(signal));
    // arn:aws:kinesis:<region>:<account>:stream/<name>
    const [, , , region, account] = this.streamArn.split(':');
    this.awsRegion = region;
    const accountId = account || LOCAL_ACCOUNT_ID;
    this.functionArn = `arn:aws:lambda:${region}:${accountId}:function:${s.functionName}`;
    this.invokeIdentityArn = s.invokeIdentityArn ?? `arn:aws:iam::${accountId}:role/${s.functionName}-role`;
    this.storedCheckpoints = await this.checkpoints.load();
    const shards = await this.call((signal) => this.source.listShards(signal));
    const created = this.addShards(shards, true);
    this.initialized = true;
    void Promise.all(created.map((c) => c.whenIteratorReady)).then(() => this.resolveReady());
  }

  private addShards(shards: readonly ShardInfo[], atStart: boolean): ShardConsumer[] {
    const created: ShardConsumer[] = [];
    for (const shard of shards) if (shard.closed) this.consumers.get(shard.shardId)?.markClosed();
    const listed = new Set(shards.map((s) => s.shardId));
    let pending = shards.filter((s) => !this.consumers.has(s.shardId));
    // Parents first, whatever order the listing has: a child needs its parents' consumers.
    while (pending.length > 0) {
      const ready = pending.filter((s) => s.parentShardIds.every((id) => !listed.has(id) || this.consumers.has(id)));
      const batch = ready.length > 0 ? ready : pending;
      for (const shard of batch) created.push(this.addShard(shard, atStart));
      pending = pending.filter((s) => !batch.includes(s));
    }
    for (const consumer of created) consumer.start();
    return created;
  }

  private addShard(shard: ShardInfo, atStart: boolean): ShardConsumer {
    const checkpoint = this.storedCheckpoints[shard.shardId];
    let position: IteratorPosition;
    if (checkpoint) position = { type: 'AFTER_SEQUENCE_NUMBER', sequenceNumber: checkpoint };
    else if (atStart) position = this.settings.startingPosition;
    // A shard born after the mapping started holds only records the mapping has not seen.
    else position = { type: 'TRIM_HORIZON' };
    // With LATEST nothing is read from closed parents, so their children need not wait for them.
    const waitForParents = !(atStart && this.settings.startingPosition.type === 'LATEST');
    const parents = waitForParents
      ? shard.parentShardIds.map((id) => this.consumers.get(id)).filter((c): c is ShardConsumer => c !== undefined)
      : [];
    const consumer = new ShardConsumer(this, shard.shardId, parents, position);
    if (shard.closed) consumer.markClosed();
    this.consumers.set(shard.shardId, consumer);
    return consumer;
  }
}
