import type { KinesisClient } from '@aws-sdk/client-kinesis';
import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import type { CheckpointStore } from './checkpoints';
import type { FilterCriteria } from './filter';

/** Where a shard without a checkpoint starts (CreateEventSourceMapping `StartingPosition`). */
export type StartingPosition = 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';

/** The only `FunctionResponseTypes` value Lambda defines for streams. */
export type FunctionResponseType = 'ReportBatchItemFailures';

/**
 * A Lambda handler for Kinesis events. It receives a full Lambda `Context`, so the handlers that
 * Lambda runs can be passed as they are (callback-style handlers are not supported).
 */
export type KinesisEventHandler = (
  event: KinesisStreamEvent,
  context: Context,
) => Promise<KinesisStreamBatchResponse | void> | KinesisStreamBatchResponse | void;

/** Why a batch was given up on (`requestContext.condition` of the invocation record). */
export type OnFailureCondition = 'RetryAttemptsExhausted' | 'RecordAgeExceeded';

/**
 * What Lambda writes to an on-failure destination when it discards records of a Kinesis stream
 * (kinesis-on-failure-destination.html, "Example Amazon S3 invocation record"): the metadata that
 * SQS and SNS destinations get, plus `payload`, the invocation event as an escaped JSON string,
 * which only an S3 destination gets. Parse it with {@link parseOnFailurePayload}.
 */
export interface OnFailureRecord {
  requestContext: {
    requestId: string;
    functionArn: string;
    condition: OnFailureCondition;
    approximateInvokeCount: number;
  };
  /** Absent when the records were discarded without ever reaching the function (too old on arrival). */
  responseContext?: {
    statusCode: number;
    executedVersion: string;
    /** 'Unhandled' when the last invocation threw; absent when it returned a failure response. */
    functionError?: string;
  };
  version: string;
  /** ISO 8601, when the records were discarded. */
  timestamp: string;
  KinesisBatchInfo: {
    shardId: string;
    startSequenceNumber: string;
    endSequenceNumber: string;
    /** ISO 8601 with milliseconds. */
    approximateArrivalOfFirstRecord: string;
    approximateArrivalOfLastRecord: string;
    batchSize: number;
    streamArn: string;
  };
  /** JSON of the {@link KinesisStreamEvent} holding exactly the discarded records. */
  payload: string;
}

/** Options of {@link createEventSourceMapping}; names follow CreateEventSourceMapping's parameters. */
export interface EventSourceMappingOptions {
  kinesis: KinesisClient;
  streamName: string;
  handler: KinesisEventHandler;
  /** Name in the context and in ARNs. Default `<streamName>-consumer`. */
  functionName?: string;
  /** BatchSize, 1–10,000. Default 100 (AWS's default for Kinesis). */
  batchSize?: number;
  /** MaximumBatchingWindowInSeconds, 0–300. Default 0: invoke as soon as records are read. */
  maximumBatchingWindowInSeconds?: number;
  /** ParallelizationFactor, 1–10. Default 1. */
  parallelizationFactor?: number;
  startingPosition: StartingPosition;
  /** Required with AT_TIMESTAMP. */
  startingPositionTimestamp?: Date;
  /** BisectBatchOnFunctionError. Default false. */
  bisectBatchOnFunctionError?: boolean;
  /** MaximumRetryAttempts, -1 (until the records are too old) or 0–10,000. Default -1. */
  maximumRetryAttempts?: number;
  /** MaximumRecordAgeInSeconds, -1 (infinite) or 60–604,800. Default -1. */
  maximumRecordAgeInSeconds?: number;
  /**
   * FilterCriteria: records whose data matches none of the filters are skipped and checkpointed,
   * never sent. Only the `data` key may be filtered on, as Lambda requires for Kinesis; any other
   * key is refused with {@link EventSourceMappingConfigError}.
   */
  filterCriteria?: FilterCriteria;
  /** FunctionResponseTypes. Without 'ReportBatchItemFailures' the handler's return value is ignored. */
  functionResponseTypes?: FunctionResponseType[];
  /**
   * The on-failure destination. Delivery is retried (with backoff) until it succeeds; the records
   * are checkpointed only after that, so a failing destination holds its shard instead of losing data.
   */
  onFailure?: (record: OnFailureRecord) => Promise<void>;
  /** Where shard checkpoints live. Default: in memory (lost with the process). */
  checkpoints?: CheckpointStore;
  /** Pause between GetRecords calls on a shard that is caught up. Default 1,000 ms (Lambda's base rate). */
  pollIntervalMs?: number;
  /**
   * Time a Kinesis call gets before it is abandoned and retried; doubled after each consecutive
   * timeout of a shard (up to `LOCAL_POLLER.kinesisCallTimeoutCapMs`). Default 10,000 ms.
   */
  kinesisCallTimeoutMs?: number;
  /** How often the shard list is re-read to pick up shards created by resharding. Default 10,000 ms. */
  shardDiscoveryIntervalMs?: number;
  /** Function timeout that `getRemainingTimeInMillis` counts down from. Default 900 s. Not enforced. */
  timeoutSeconds?: number;
  /** `invokeIdentityArn` of every event record. Default `arn:aws:iam::<account>:role/<functionName>-role`. */
  invokeIdentityArn?: string;
  /** Milliseconds since the epoch: record age, batching window, timestamps. Default Date.now. */
  clock?: () => number;
  /** Waits between retries (invocation and destination). Default: a timer that stop() cancels. */
  sleep?: (ms: number) => Promise<void>;
  /** Uniform in [0, 1) for backoff jitter. Default Math.random. */
  random?: () => number;
}

/** Counters since start(); records counted once per delivery, so retries count again. */
export interface EventSourceMappingStats {
  /** Shards known (including closed and waiting ones). */
  shards: number;
  /** Records read from the stream (each once). */
  recordsRead: number;
  /** Handler invocations. */
  invocations: number;
  /** Records passed to the handler, redeliveries included. */
  recordsDelivered: number;
  /** Records the filter criteria left out: checkpointed, never sent. */
  recordsFilteredOut: number;
  /** Records checkpointed after the handler succeeded with them. */
  recordsSucceeded: number;
  /** Invocations that threw, returned an invalid response or reported item failures. */
  failures: number;
  /** Re-invocations of a failed batch (or its failed remainder); bisected halves are not retries. */
  retries: number;
  /** Batches split in two after a function error. */
  bisections: number;
  /** Records given up on (retries exhausted or too old), with or without a destination. */
  recordsDiscarded: number;
  /** Records handed to the on-failure destination. */
  sentToOnFailure: number;
  /** Invocation records handed to the on-failure destination. */
  onFailureRecords: number;
  /** Failed attempts to hand an invocation record to the destination (each is retried). */
  onFailureErrors: number;
  /** Checkpoints saved. */
  checkpoints: number;
  /** Handler invocations running now. */
  inFlight: number;
  /** The last error from Kinesis, the checkpoint store or the destination, for diagnosis. */
  lastError?: string;
}

/** A running (or stopped) local event source mapping. */
export interface EventSourceMapping {
  /** Starts polling every shard. Calling it again does nothing. */
  start(): void;
  /** Resolves once every open shard has an iterator (or the mapping was stopped): records put after this are seen even with LATEST. */
  ready(): Promise<void>;
  /**
   * Stops polling, lets the in-flight invocations finish and saves their checkpoints, then
   * resolves. Batches waiting to be retried are dropped uncheckpointed, so the next mapping on the
   * same checkpoint store delivers them again (at-least-once). No timers are left behind.
   */
  stop(): Promise<void>;
  /**
   * Resolves once every shard has been read to its tip after its last activity, nothing is buffered,
   * in flight or waiting for a retry, and that has held for `idleMs` (default 0). Rejects with
   * {@link DrainTimeoutError} after `timeoutMs` (default 30 s).
   */
  drain(options?: { idleMs?: number; timeoutMs?: number }): Promise<void>;
  stats(): EventSourceMappingStats;
}
