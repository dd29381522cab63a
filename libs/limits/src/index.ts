/**
 * Every AWS limit and every project default, named once.
 *
 * AWS limits come from the service documentation; project defaults are the values a run uses when
 * the configuration says nothing. Code elsewhere imports these names rather than repeating numbers.
 */

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Kinesis Data Streams (default, non-large-record streams). */
export const KINESIS = {
  /** PutRecords: records per call. */
  maxRecordsPerPut: 500,
  /** PutRecords: data + partition keys of all records in one call. */
  maxBytesPerPut: 5 * MiB,
  /** One record: data + partition key. */
  maxRecordBytes: 1 * MiB,
  /** Partition key length in Unicode characters. */
  maxPartitionKeyLength: 256,
  /** GetRecords: records per call. */
  maxRecordsPerGet: 10_000,
  /** Provisioned shard: writes per second, in bytes and in records. */
  shardWriteBytesPerSecond: 1 * MiB,
  shardWriteRecordsPerSecond: 1_000,
  /** Provisioned shard: reads per second, shared by the consumers without enhanced fan-out. */
  shardReadBytesPerSecond: 2 * MiB,
  /** A new stream keeps records this long until IncreaseStreamRetentionPeriod (CreateStream has no retention). */
  defaultRetentionHours: 24,
  /** StartStreamEncryption: the KMS key Kinesis owns, what the CDK's `StreamEncryption.MANAGED` uses. */
  managedKeyAlias: 'alias/aws/kinesis',
  /** DeleteStream: transactions per second per account. */
  deleteStreamPerSecond: 5,
} as const;

/** Amazon Data Firehose. */
export const FIREHOSE = {
  /** PutRecordBatch: records per call. */
  maxRecordsPerBatch: 500,
  /** PutRecordBatch: bytes of all records in one call. */
  maxBytesPerBatch: 4 * MiB,
  /** One record, before base64 encoding. */
  maxRecordBytes: 1000 * KiB,
  /** S3 destination buffering: documented ranges and defaults. */
  buffering: {
    minSizeMiB: 1,
    maxSizeMiB: 128,
    defaultSizeMiB: 5,
    minIntervalSeconds: 0,
    maxIntervalSeconds: 900,
    defaultIntervalSeconds: 300,
  },
  /** Multi-record de-aggregation (JSON or delimited) splits at most this many sub-records per record. */
  maxDeaggregatedRecords: 500,
  /** Dynamic partitioning: no zero buffering; a buffer of at least 64 MiB. */
  dynamicPartitioning: { minBufferSizeMiB: 64, minBufferIntervalSeconds: 60 },
  /** Direct PUT throughput quota per delivery stream (default in us-east-1, us-west-2 and eu-west-1; raisable). */
  directPutBytesPerSecond: 5 * MiB,
  directPutRecordsPerSecond: 500_000,
  directPutRequestsPerSecond: 2_000,
  /** With dynamic partitioning a batch may reach S3 up to 1.5 × the buffer interval after it was put. */
  deliveryDelayFactor: 1.5,
} as const;

/** Amazon S3. */
export const S3 = {
  /** ListObjectsV2: keys per page at most (and by default). */
  maxKeysPerList: 1000,
  /** An object key: at most 1,024 bytes of UTF-8. */
  maxKeyBytes: 1024,
} as const;

/** Amazon SQS: documented ranges of the queue settings the finisher's queue uses. */
export const SQS = {
  maxDelaySeconds: 900,
  maxVisibilityTimeoutSeconds: 43_200,
  maxReceiveCount: 1_000,
  /** Lambda's guidance for an SQS event source: a visibility timeout of at least six times the function timeout. */
  visibilityTimeoutPerFunctionTimeout: 6,
} as const;

/** Lambda event source mapping for Kinesis: documented ranges. */
/** Amazon Athena: what a query is billed for (https://aws.amazon.com/athena/pricing/). */
export const ATHENA = {
  /** Every query is billed for at least this many bytes scanned. */
  minBytesScannedPerQuery: 10 * 1024 * 1024,
  bytesPerTb: 1024 ** 4,
} as const;

/** Amazon States Language limits (https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html). */
export const STEP_FUNCTIONS = {
  /** A state's input or a task's result, as UTF-8: the collation state machine carries markers and one row, never data. */
  maxPayloadBytes: 256 * 1024,
} as const;

export const EVENT_SOURCE_MAPPING = {
  maxBatchSize: 10_000,
  maxBatchingWindowSeconds: 300,
  minParallelizationFactor: 1,
  maxParallelizationFactor: 10,
  /** -1 means "until the record expires". */
  maxRetryAttempts: 10_000,
  minRecordAgeSeconds: 60,
  maxRecordAgeSeconds: 604_800,
  /** Synchronous invoke payload. */
  maxInvokePayloadBytes: 6 * MiB,
  /** FilterCriteria: filters per event source mapping (default quota; invocation-eventfiltering.html). */
  maxFilters: 5,
} as const;

/** The project's defaults; each can be overridden by configuration. */
export const DEFAULTS = {
  /** Envelopes whose encoded size is over this go to the spill bucket and travel as pointers. */
  spillThresholdBytes: 256 * KiB,
  /**
   * Envelopes of one partition key are packed into one Kinesis record up to this size, one per line:
   * Kinesis bills PUT payload units of 25 KB per record, so 1 KB records packed 24 to a record cost a
   * twenty-fourth of what they would alone, and every record put, read and checkpointed is one less.
   */
  aggregateBytes: 24 * KiB,
  /** Largest spilled object a pointer may name: a consumer never reads more than this for one record. */
  maxSpilledBytes: 64 * MiB,
  /** Key prefix of spilled objects inside the spill bucket. */
  spillPrefix: 'spill/',
  /** Target size of one byte-range slice of an S3 object. */
  sliceBytes: 8 * MiB,
  /** Upper bound on a slice's size, whatever the configuration asks. */
  maxSliceBytes: 256 * MiB,
  /** Upper bound on slices in one run's plan. */
  maxSlicesPerRun: 100_000,
  /** Slices the reader reads at once: bounds the load on the source. */
  readerConcurrency: 4,
  /**
   * Reader invocations that read one run at once (fan-out): 1 reads a run in one chain of
   * invocations; more splits its slices into that many shares, each read by its own chain.
   */
  readerFanOut: 1,
  /** Upper bound on the fan-out: each share is one more concurrent reader invocation. */
  maxReaderFanOut: 16,
  /** Attempts (first try included) for entries a put reports as failed. */
  putAttempts: 8,
  /**
   * Attempts (first try included) of a conditional PUT that S3 answers 409 ConditionalRequestConflict
   * (it met a concurrent write of the key; PutObject's reference says to retry, which then writes or gets 412).
   */
  conditionalPutAttempts: 5,
  /** Backoff between attempts: full jitter on base * 2^attempt, capped. */
  backoffBaseMs: 50,
  backoffCapMs: 2_000,
  /** In-handler attempts for a transient failure of one record before it is reported as failed. */
  recordAttempts: 3,
  /**
   * Transforms the processor runs at once within a batch, unless the job says otherwise
   * (`Job.concurrency`): an I/O-bound transform (an API call) overlaps its waits, results still go
   * out in stream order.
   */
  transformConcurrency: 32,
  /**
   * Invocations in which one record may fail transiently before the processor dead-letters it as
   * retries-exhausted. Kept below maxRetryAttempts, so the processor, not the event source mapping,
   * gives up on a poison pill: the shard moves on and the record is counted.
   */
  recordInvocations: 3,
  /** Event source mapping defaults used locally and in the CDK app. */
  batchSize: 500,
  batchingWindowSeconds: 1,
  parallelizationFactor: 1,
  maxRetryAttempts: 5,
  maxRecordAgeSeconds: 3_600,
  /** The reader stops taking new slices when less time than this is left in its invocation. */
  readerSliceTimeMarginMs: 60_000,
  /** How many times a reader may hand a run on to a fresh invocation: a chain that cannot run away. */
  readerMaxHops: 100,
  /** Rows between two looks at the run's kill switch while a slice is read. */
  controlCheckEveryRows: 1_000,
  /** How long a stage trusts what it last read of a run's kill switch. */
  controlCacheMs: 5_000,
  /** Records per collation partition: the de-duplication set of one partition is what collation holds in memory. */
  collationPartitionRecords: 100_000,
  /** A run not complete this long after it was planned is reported as stalled, with its missing slices. */
  runDeadlineMinutes: 120,
  /** Records per shard: chosen so a run of one shard stays under Kinesis' 1,000 records/s. */
  shardCount: 2,
  /** Hours the streams keep records (Kinesis default); spilled objects live longer, see spillRetentionMarginDays. */
  streamRetentionHours: 24,
  spillRetentionMarginDays: 2,
  /** Local Firehose buffering: small so a local run delivers promptly. */
  localFirehoseBufferBytes: 1 * MiB,
  localFirehoseBufferIntervalMs: 500,
  /** Slack on top of Firehose's documented delivery delay before a run whose output is missing is stalled. */
  deliveryMarginSeconds: 60,
  /** How often the local runner asks the finisher whether a delivered run's output is in S3. */
  finisherPollMs: 250,
  /**
   * Streams' lifecycle: `always-on` (deployed with the stacks, billed every hour) or `per-run`
   * (created when a run starts, deleted by the hourly sweep once no run is active and the replay
   * window has passed). See README "Idle cost".
   */
  streamsLifecycle: 'always-on',
  /** Per-run streams: hours after the last run ended before the sweep deletes the streams (and `replay` stops working). */
  replayWindowHours: 3,
  /** Per-run streams: how long opening waits for a stream to become ACTIVE (or to finish DELETING). */
  streamActiveWaitMs: 5 * 60_000,
  /** Per-run streams: backoff between two looks at a stream's status. */
  streamPollBaseMs: 250,
  streamPollCapMs: 5_000,
  /** Per-run streams: creates of a mapping tried while Lambda still holds a deleted one of the same function and stream. */
  mappingCreateAttempts: 8,
  /** Per-run streams: the sweep's period (an hourly EventBridge rule); streams outlive the window by up to this. */
  streamsSweepHours: 1,
} as const;

/** Bounds on identifiers, so that a partition key (run + slice) always fits Kinesis' limit. */
export const IDS = {
  maxRunIdLength: 100,
  maxSliceIdLength: 100,
} as const;

/** AWS Lambda. */
export const LAMBDA = {
  /**
   * Recursive loop detection: "If your function is invoked more than 16 times in the same chain of
   * requests, then Lambda automatically stops the next function invocation in that request chain"
   * unless the function's recursive loop setting is Allow (invocation-recursion.html).
   */
  maxRecursiveChainInvocations: 16,
  /** The longest an invocation can run: 900 seconds (gettingstarted-limits.html). */
  maxTimeoutSeconds: 900,
} as const;

/** A function's recursive loop detection setting (CloudFormation `RecursiveLoop`); AWS's default is Terminate. */
export type RecursiveLoopSetting = 'Allow' | 'Terminate';

/**
 * Each function's recursive loop setting: what the CDK app deploys and what the local Lambda service
 * enforces. The reader hands a long run on to a fresh invocation of itself, up to
 * `DEFAULTS.readerMaxHops` times, which Terminate would stop after 16; the others never invoke a function.
 */
export const RECURSIVE_LOOP = {
  reader: 'Allow',
  processor: 'Terminate',
  writer: 'Terminate',
} as const satisfies Record<'reader' | 'processor' | 'writer', RecursiveLoopSetting>;

export * from './prices';

/**
 * How long after a run's last result was handed to Firehose its output may take to be readable in
 * S3: Firehose's documented delay (1.5 × the buffer interval with dynamic partitioning) plus a
 * margin. One formula for the CDK app (the finisher's queue delay), the writer and the local stack.
 *
 * @example deliveryBoundSeconds(300) // 510
 */
export function deliveryBoundSeconds(bufferIntervalSeconds: number): number {
  return Math.ceil(bufferIntervalSeconds * FIREHOSE.deliveryDelayFactor) + DEFAULTS.deliveryMarginSeconds;
}

/** One hop of a record through per-run streams: a stream and the event source mapping that reads it. */
export interface StreamHop {
  retentionHours: number;
  maxRecordAgeSeconds: number;
}

/**
 * Per-run streams: the longest records put at one moment can keep the streams busy. Each hop in turn
 * (records stream → processor, results stream → writer) sends a record to its function until it is
 * older than the mapping's MaximumRecordAgeInSeconds or than the stream's retention, whichever comes
 * first, in an invocation that runs at most Lambda's longest timeout; after the last hop nothing of
 * those records is on a stream. One formula for the sweep and the redrive.
 *
 * @example recordsInFlightSeconds([{ retentionHours: 24, maxRecordAgeSeconds: 3600 }]) // 4500
 */
export function recordsInFlightSeconds(hops: readonly StreamHop[]): number {
  return hops.reduce(
    (sum, hop) => sum + Math.min(hop.maxRecordAgeSeconds, hop.retentionHours * 3_600) + LAMBDA.maxTimeoutSeconds,
    0,
  );
}

/**
 * Per-run streams: how long after its last activity a lease counts as ended though its holder never
 * said so (a reader that died before its run completed, a redrive stopped before its end): the
 * longest a holder goes on putting records after writing its lease (a reader chain of
 * `DEFAULTS.readerMaxHops` invocations of Lambda's longest timeout; a redrive writes its lease again
 * once its records are put), then the longest those records stay in flight. The replay window runs
 * from there, as after any run.
 *
 * @example abandonedLeaseSeconds([records, results]) // 90,000 + 2 × (3,600 + 900) with the defaults
 */
export function abandonedLeaseSeconds(hops: readonly StreamHop[]): number {
  return DEFAULTS.readerMaxHops * LAMBDA.maxTimeoutSeconds + recordsInFlightSeconds(hops);
}
