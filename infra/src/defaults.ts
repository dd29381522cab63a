import { FIREHOSE } from '@pipeline/limits';
import { NAMESPACE } from '@pipeline/observability';

/**
 * AWS limits the infrastructure needs and @pipeline/limits does not name (yet). Each is checked
 * against the service documentation; configuration is validated against them.
 */
export const AWS_LIMITS = {
  /** Kinesis Data Streams retention: 24 hours to 365 days. */
  kinesisRetention: { minHours: 24, maxHours: 8_760 },
  /** Firehose dynamic partitioning needs a buffer of at least 64 MiB and does not support zero buffering. */
  dynamicPartitioning: FIREHOSE.dynamicPartitioning,
  /** Firehose's retry of records it cannot deliver or partition: 0–7,200 seconds. */
  firehosePartitioningMaxRetrySeconds: 7_200,
  /** Lambda function timeout and memory. */
  lambda: { maxTimeoutSeconds: 900, minMemoryMiB: 128, maxMemoryMiB: 10_240 },
  /** Lambda asynchronous invocation: retries 0–2, event age 60 s – 6 h. */
  lambdaAsync: { maxRetryAttempts: 2, minEventAgeSeconds: 60, maxEventAgeSeconds: 21_600 },
  /** EventBridge Scheduler retry policy: 0–185 retries, event age 60 s – 24 h. */
  scheduler: { maxRetryAttempts: 185, minEventAgeSeconds: 60, maxEventAgeSeconds: 86_400 },
  /** S3 bucket names are at most 63 characters; ours embed the environment, account and region. */
  maxBucketNameLength: 63,
} as const;

/**
 * The infrastructure's own defaults, each overridable per environment (see config.ts and
 * infra/README.md). Pipeline defaults (batch settings, shard count, retention, spill threshold)
 * come from @pipeline/limits and are not repeated here.
 */
export const INFRA_DEFAULTS = {
  /** The environment deployed when none is named. */
  envName: 'dev',
  /** Graviton: about 20 % cheaper per GB-second than x86_64, and the bundles are plain JavaScript. */
  architecture: 'arm64',
  /** Buckets, streams and log groups survive `cdk destroy` unless an environment says `destroy`. */
  removalPolicy: 'retain',
  logRetentionDays: 30,
  /** Powertools metrics namespace: the one the handlers use locally. */
  metricsNamespace: NAMESPACE,
  /** Once a day at 02:00 (EventBridge Scheduler cron: minutes hours day-of-month month day-of-week year). */
  scheduleCron: '0 2 * * ? *',
  scheduleTimezone: 'UTC',
  /** A trigger that cannot be delivered is retried twice within an hour; a repeat of a run is a no-op. */
  scheduleRetryAttempts: 2,
  scheduleMaxEventAgeSeconds: 3_600,
  /**
   * Two readers at most: the one reading and the fresh invocation it hands the run on to, which
   * may start before the first returns. Bounds the load on the source whatever triggers arrive.
   */
  readerReservedConcurrency: 2,
  readerMemoryMiB: 1_024,
  /** The reader hands a run on to a fresh invocation before its time is up; the longest invocation makes the fewest hops. */
  readerTimeoutSeconds: AWS_LIMITS.lambda.maxTimeoutSeconds,
  /** A failed hop or trigger is retried by Lambda (idempotent), then recorded in the failures bucket. */
  readerAsyncRetryAttempts: 2,
  readerAsyncMaxEventAgeSeconds: 21_600,
  consumerMemoryMiB: 512,
  /** Long enough for a full batch with a few retried PutRecords/PutRecordBatch calls. */
  consumerTimeoutSeconds: 300,
  /** Split a failing batch so one bad record cannot fail its neighbours (bisecting uses no retry). */
  bisectBatchOnError: true,
  /** A new mapping starts at the oldest record: nothing put before the mapping existed is skipped. */
  startingPosition: 'TRIM_HORIZON',
  /** Firehose: the smallest buffer dynamic partitioning accepts, flushed at Firehose's default interval. */
  firehoseBufferSizeMiB: AWS_LIMITS.dynamicPartitioning.minBufferSizeMiB,
  firehoseBufferIntervalSeconds: FIREHOSE.buffering.defaultIntervalSeconds,
  firehoseCompression: 'GZIP',
  /** How long Firehose retries a record whose partition key cannot be extracted before it goes to the error prefix. */
  firehosePartitioningRetrySeconds: 300,
  /** Records of failed batches and invocations, kept long enough to investigate and redrive. */
  failuresRetentionDays: 30,
  /**
   * Claims of `context.once` (one small object per side effect): five weeks, so a weekly job's
   * claims outlive its replays and redrives; then they expire and stop costing storage.
   */
  onceClaimRetentionDays: 35,
  accessLogsRetentionDays: 90,
  /** Alarm when the oldest unprocessed record has used up this share of its maximum age. */
  iteratorAgeAlarmShareOfMaxAge: 0.5,
  /** Alarm when delivered data is older than this many Firehose buffer intervals. */
  firehoseFreshnessAlarmIntervals: 3,
  alarmPeriodSeconds: 300,
  /** The finisher reads a run's output once per invocation: listing and streaming it takes a while for large runs. */
  finisherMemoryMiB: 512,
  finisherTimeoutSeconds: 300,
  /** Receives of a run's message before it goes to the finisher's dead-letter queue (and its alarm). */
  finisherMaxReceiveCount: 5,
} as const;
