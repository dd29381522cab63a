/**
 * # Local Kinesis event source mapping
 *
 * Polls a Kinesis stream (kinesalite, LocalStack or AWS, through the SDK client you pass) and invokes
 * a Lambda handler with the events Lambda's Kinesis event source mapping (ESM) would deliver, so the
 * handlers Lambda runs are the handlers the local runner calls. Behaviour follows the Lambda
 * Developer Guide (with-kinesis.html, kinesis-on-failure-destination.html,
 * services-kinesis-batchfailurereporting.html) and API_CreateEventSourceMapping.
 *
 * | Option | ESM setting | How it maps |
 * |---|---|---|
 * | `batchSize` (default 100) | BatchSize | At most this many records per invocation, and never more than the 6 MB synchronous invoke payload (`EVENT_SOURCE_MAPPING.maxInvokePayloadBytes`). |
 * | `maximumBatchingWindowInSeconds` (0) | MaximumBatchingWindowInSeconds | Waits up to this long (from the oldest buffered record) for a full batch; invokes at once when the batch or the payload is full. |
 * | `parallelizationFactor` (1) | ParallelizationFactor | Up to N batches of a shard in flight; records go to a lane by a hash of their partition key, one batch in flight per lane, so each key stays in order. |
 * | `startingPosition`, `startingPositionTimestamp` | StartingPosition(Timestamp) | TRIM_HORIZON, LATEST or AT_TIMESTAMP for shards without a checkpoint; shards created by resharding start at their beginning, after their parents are done. |
 * | `bisectBatchOnFunctionError` (false) | BisectBatchOnFunctionError | A batch that throws (or answers with an invalid response) is split in two and the halves run in order; splitting does not use up retries. |
 * | `maximumRetryAttempts` (-1) | MaximumRetryAttempts | Retries after the first invocation (with capped, jittered backoff); then the records go to `onFailure` and the shard moves on. -1: until the records are too old. |
 * | `maximumRecordAgeInSeconds` (-1) | MaximumRecordAgeInSeconds | Records older than this are never sent (first delivery or retry); they go to `onFailure` with condition RecordAgeExceeded. |
 * | `functionResponseTypes: ['ReportBatchItemFailures']` | FunctionResponseTypes | Checkpoints just before the lowest failed `itemIdentifier` and retries from it (successes after it included); null/empty/missing identifiers or an unreadable response fail the whole batch; an empty list is success. |
 * | `filterCriteria` | FilterCriteria | Only the `data` key, as Lambda allows for Kinesis (with-kinesis-filtering.html); other keys are refused. Literals, `prefix` and `exists` are matched; records that match no filter are checkpointed and never sent. |
 * | `onFailure` | DestinationConfig.OnFailure (S3) | Receives the Kinesis invocation record (requestContext, responseContext, version, timestamp, KinesisBatchInfo) plus `payload`, the event as a JSON string, as an S3 destination does. |
 * | `checkpoints` | (Lambda's internal checkpoint) | Last completed sequence number per shard; a new mapping on the same store resumes after it. In-flight records are redelivered after a crash: at-least-once. |
 * | `kinesisCallTimeoutMs` (10,000) | (none: the local poller's own) | A Kinesis call is abandoned and retried after this long; each consecutive timeout of a shard doubles it (up to `LOCAL_POLLER.kinesisCallTimeoutCapMs`) and halves the next read's `Limit`, so a slow server is waited for. |
 * | `pollIntervalMs` (1,000) | (Lambda's base polling rate, once per second) | Pause between reads of a shard that is caught up; a shard with records waiting is read again at once. |
 *
 * Every record is delivered even from kinesalite, which answers an empty GetRecords with an iterator
 * at "now" that can skip a record stored late: at the tip the poller re-reads with the iterator it had.
 *
 * Defaults are AWS's API defaults ({@link AWS_ESM_DEFAULTS}); pass the project's (`DEFAULTS` in
 * `@pipeline/limits`) explicitly. `ready()` resolves once every shard has an iterator, `drain()` once
 * everything put before the call has been handled, `stop()` after the in-flight invocations.
 *
 * Not emulated: tumbling windows, filter rules beyond literals/prefix/exists, enhanced fan-out, KPL de-aggregation (Lambda
 * does not de-aggregate either), function timeouts (`getRemainingTimeInMillis` counts down but is
 * not enforced), and expiry by stream retention (use `maximumRecordAgeInSeconds`). A failing
 * on-failure destination is retried until it accepts the record, instead of dropping it.
 *
 * @example
 * ```ts
 * const mapping = createEventSourceMapping({
 *   kinesis, streamName: 'records', handler, startingPosition: 'TRIM_HORIZON',
 *   functionResponseTypes: ['ReportBatchItemFailures'], maximumRetryAttempts: 5,
 *   onFailure: async (record) => { await deadLetters.put(record); },
 * });
 * mapping.start();
 * await mapping.drain();
 * await mapping.stop();
 * ```
 *
 * @packageDocumentation
 */

export { createEventSourceMapping } from './mapping';
export { fileCheckpointStore, memoryCheckpointStore, type CheckpointStore } from './checkpoints';
export { parseOnFailurePayload } from './failure-record';
export {
  CheckpointFileError,
  DrainTimeoutError,
  EventSourceMappingConfigError,
  EventSourceMappingStoppedError,
  KinesisCallTimeoutError,
} from './errors';
export { AWS_ESM_DEFAULTS, LOCAL_POLLER } from './constants';
export type { FilterCriteria } from './filter';
export type {
  EventSourceMapping,
  EventSourceMappingOptions,
  EventSourceMappingStats,
  FunctionResponseType,
  KinesisEventHandler,
  OnFailureCondition,
  OnFailureRecord,
  StartingPosition,
} from './types';
