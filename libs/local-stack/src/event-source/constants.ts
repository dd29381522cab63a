/**
 * Constants of the local event source mapping that `@pipeline/limits` does not hold: the fixed
 * fields of the Lambda Kinesis event and invocation record, AWS's API defaults for an event source
 * mapping, and the local poller's own knobs.
 */

import { LAMBDA } from '@pipeline/limits';

/**
 * Fixed fields of every record in the event Lambda delivers for Kinesis
 * (https://docs.aws.amazon.com/lambda/latest/dg/with-kinesis.html, "Example event").
 */
export const KINESIS_EVENT = {
  eventSource: 'aws:kinesis',
  eventName: 'aws:kinesis:record',
  eventVersion: '1.0',
  kinesisSchemaVersion: '1.0',
} as const;

/**
 * Fixed fields of the on-failure invocation record
 * (https://docs.aws.amazon.com/lambda/latest/dg/kinesis-on-failure-destination.html).
 */
export const ON_FAILURE_RECORD = {
  version: '1.0',
  statusCode: 200,
  executedVersion: '$LATEST',
  functionError: 'Unhandled',
} as const;

/**
 * What CreateEventSourceMapping uses for a Kinesis stream when a setting is omitted
 * (API_CreateEventSourceMapping: BatchSize 100 for Kinesis, MaximumBatchingWindowInSeconds 0,
 * ParallelizationFactor 1, MaximumRetryAttempts -1 and MaximumRecordAgeInSeconds -1 = infinite,
 * BisectBatchOnFunctionError false). The project's own defaults live in `DEFAULTS` of
 * `@pipeline/limits`; callers pass those explicitly.
 */
export const AWS_ESM_DEFAULTS = {
  batchSize: 100,
  maximumBatchingWindowInSeconds: 0,
  parallelizationFactor: 1,
  maximumRetryAttempts: -1,
  maximumRecordAgeInSeconds: -1,
  bisectBatchOnFunctionError: false,
} as const;

/** Lambda's maximum function timeout; what `getRemainingTimeInMillis` counts down from by default. */
export const LAMBDA_MAX_TIMEOUT_SECONDS = LAMBDA.maxTimeoutSeconds;

/**
 * Looks (List or Get calls) a deleted mapping of the local Lambda stays `Deleting` for. Lambda keeps
 * one "several seconds" (DeleteEventSourceMapping); counting looks instead of seconds keeps tests
 * free of timing while making every caller meet the state.
 */
export const LOCAL_MAPPING_DELETING_LOOKS = 2;

/** The local poller's own settings (no AWS equivalent to copy). */
export const LOCAL_POLLER = {
  /** Lambda polls each shard "at a base rate of once per second" (with-kinesis.html). */
  pollIntervalMs: 1_000,
  /** How often the shard list is re-read to pick up shards created by resharding. */
  shardDiscoveryIntervalMs: 10_000,
  /**
   * A Kinesis call that takes longer than this is abandoned and retried (an unanswered call must not
   * stall a shard). Each consecutive timeout of a shard doubles the time allowed, up to the cap, so
   * a merely slow server (a loaded machine) is eventually waited for.
   */
  kinesisCallTimeoutMs: 10_000,
  kinesisCallTimeoutCapMs: 160_000,
  /** Records read ahead per lane, in batches: bounds memory while keeping the next batch ready. */
  readAheadBatchesPerLane: 1,
  /** drain() gives up after this long unless told otherwise. */
  drainTimeoutMs: 30_000,
  /** How often drain() looks at the shards. */
  drainCheckIntervalMs: 10,
} as const;

/** Account id used in ARNs when the stream ARN does not carry one. */
export const LOCAL_ACCOUNT_ID = '000000000000';

/** Lambda's default memory size, reported as `memoryLimitInMB` in the handler's context. */
export const LAMBDA_DEFAULT_MEMORY_MB = 128;
