import { Duration } from 'aws-cdk-lib';
import { RetentionDays } from 'aws-cdk-lib/aws-logs';
import { z } from 'zod';
import { DEFAULTS, deliveryBoundSeconds, EVENT_SOURCE_MAPPING, FIREHOSE, KINESIS, SQS } from '@pipeline/limits';
import { RunIdSchema } from '@pipeline/records';
import { RUN_EVENT_TYPES, type RunEventType } from '@pipeline/run-ledger';
import { AWS_LIMITS, INFRA_DEFAULTS } from './defaults';

/**
 * The infrastructure's configuration, in one typed place: every default comes from
 * @pipeline/limits (pipeline settings) or ./defaults (infrastructure settings), and an environment
 * overrides any of them through CDK context (infra/cdk.json) or PIPELINE_OVERRIDES.
 */

export const APP_NAMES = ['reader', 'processor', 'writer', 'finisher'] as const;
export type AppName = (typeof APP_NAMES)[number];

export type StartingPosition = 'TRIM_HORIZON' | 'LATEST';

/** One Kinesis event source mapping. */
export interface EventSourceSettings {
  /** Records per invocation, 1–10,000. */
  batchSize: number;
  /** Seconds the mapping may wait to fill a batch, 0–300. */
  batchingWindowSeconds: number;
  /** Concurrent batches per shard, 1–10; order is kept per partition key (one slice). */
  parallelizationFactor: number;
  bisectBatchOnError: boolean;
  /** Retries of a failed batch before it goes to the on-failure destination; bounded (0–10,000). */
  retryAttempts: number;
  /** Records older than this go to the on-failure destination; bounded (60–604,800 s). */
  maxRecordAgeSeconds: number;
  startingPosition: StartingPosition;
}

export interface ConsumerSettings {
  memoryMiB: number;
  timeoutSeconds: number;
  /** Unset: concurrency is bounded by shards × parallelization factor. */
  reservedConcurrency?: number;
  eventSource: EventSourceSettings;
}

/** A replay of the records stream through a second, replay-only processor function. */
export interface ReplaySettings {
  /** `trim-horizon`, or an ISO-8601 time to start at (AT_TIMESTAMP). */
  from: string;
  /** Replay only this run's records (the replay function skips the others: REPLAY_RUN_ID); unset: every run. */
  run?: string;
  /** Whether the replay mapping polls as soon as it is deployed; `false` deploys it disabled. */
  enabled: boolean;
}

export interface InfraConfig {
  /** Names every resource (`<envName>-pipeline-…`); lowercase letters, digits and `-`, at most 12 characters. */
  envName: string;
  architecture: 'arm64' | 'x86_64';
  /** What `cdk destroy` does to buckets, streams and log groups. */
  removalPolicy: 'retain' | 'destroy';
  logRetentionDays: number;
  /** Days the buckets' server access logs are kept. */
  accessLogsRetentionDays: number;
  /** SNS topic notified when an alarm fires or recovers; unset: alarms without actions. */
  alarmTopicArn?: string;
  metricsNamespace: string;
  streams: {
    recordsShardCount: number;
    resultsShardCount: number;
    retentionHours: number;
    /**
     * `always-on`: the shared stack deploys both streams and the stacks their mappings, billed every
     * hour. `per-run`: the reader creates them (and the mappings) when a run starts, and the
     * finisher's hourly sweep deletes them once no run is active and `replayWindowHours` have passed
     * since the last one ended. See infra/README.md, "Streams: always on or per run".
     */
    lifecycle: 'always-on' | 'per-run';
    /** Per-run streams: hours they outlive the last run, for `replay` and late redrives. */
    replayWindowHours: number;
  };
  spill: { prefix: string; thresholdBytes: number; retentionMarginDays: number };
  /** An existing bucket to read from; unset: the shared stack creates one. */
  source: { bucketName?: string; prefix: string; sliceBytes: number; readerConcurrency: number };
  failures: { retentionDays: number };
  /** Days the claims of `context.once` are kept: after that, a claimed side effect may run again. */
  once: { retentionDays: number };
  schedule: { cron: string; timezone: string; enabled: boolean; retryAttempts: number; maxEventAgeSeconds: number };
  reader: {
    memoryMiB: number;
    timeoutSeconds: number;
    reservedConcurrency: number;
    asyncRetryAttempts: number;
    asyncMaxEventAgeSeconds: number;
  };
  processor: ConsumerSettings;
  writer: ConsumerSettings;
  /** Completes runs whose output is in S3; its queue's messages come back until then, a bounded number of times. */
  finisher: { memoryMiB: number; timeoutSeconds: number; maxReceiveCount: number };
  /**
   * The run's events (Run Started, Run Completed, Run Failed) on the pipeline's event bus: which of
   * them go to the notifications topic, and the email addresses subscribed to it (each confirms).
   */
  runEvents: { notify: RunEventType[]; emails: string[] };
  /** Unset: no replay mapping. */
  replay?: ReplaySettings;
  firehose: {
    bufferSizeMiB: number;
    bufferIntervalSeconds: number;
    compression: 'GZIP' | 'UNCOMPRESSED';
    partitioningRetrySeconds: number;
  };
  alarms: {
    periodSeconds: number;
    /** Unset: a share of the mapping's maximum record age (see iteratorAgeAlarmSeconds). */
    iteratorAgeSeconds?: number;
    /** Unset: a few Firehose buffer intervals (see firehoseFreshnessAlarmSeconds). */
    firehoseFreshnessSeconds?: number;
  };
}

type DeepPartial<T> = {
  [K in keyof T]?: NonNullable<T[K]> extends object ? DeepPartial<NonNullable<T[K]>> | null : T[K] | null;
};
/** What an environment or PIPELINE_OVERRIDES may set; `null` unsets an optional setting. */
export type InfraConfigOverrides = DeepPartial<InfraConfig>;

export class InfraConfigError extends Error {
  override readonly name = 'InfraConfigError';
}

function defaultEventSource(): EventSourceSettings {
  return {
    batchSize: DEFAULTS.batchSize,
    batchingWindowSeconds: DEFAULTS.batchingWindowSeconds,
    parallelizationFactor: DEFAULTS.parallelizationFactor,
    bisectBatchOnError: INFRA_DEFAULTS.bisectBatchOnError,
    retryAttempts: DEFAULTS.maxRetryAttempts,
    maxRecordAgeSeconds: DEFAULTS.maxRecordAgeSeconds,
    startingPosition: INFRA_DEFAULTS.startingPosition,
  };
}

/**
 * Every setting at its default, for one environment.
 * @example defaultConfig('dev').processor.eventSource.batchSize; // 500
 */
export function defaultConfig(envName: string = INFRA_DEFAULTS.envName): InfraConfig {
  return {
    envName,
    architecture: INFRA_DEFAULTS.architecture,
    removalPolicy: INFRA_DEFAULTS.removalPolicy,
    logRetentionDays: INFRA_DEFAULTS.logRetentionDays,
    accessLogsRetentionDays: INFRA_DEFAULTS.accessLogsRetentionDays,
    metricsNamespace: INFRA_DEFAULTS.metricsNamespace,
    streams: {
      recordsShardCount: DEFAULTS.shardCount,
      resultsShardCount: DEFAULTS.shardCount,
      retentionHours: DEFAULTS.streamRetentionHours,
      lifecycle: DEFAULTS.streamsLifecycle,
      replayWindowHours: DEFAULTS.replayWindowHours,
    },
    spill: {
      prefix: DEFAULTS.spillPrefix,
      thresholdBytes: DEFAULTS.spillThresholdBytes,
      retentionMarginDays: DEFAULTS.spillRetentionMarginDays,
    },
    source: { prefix: '', sliceBytes: DEFAULTS.sliceBytes, readerConcurrency: DEFAULTS.readerConcurrency },
    failures: { retentionDays: INFRA_DEFAULTS.failuresRetentionDays },
    once: { retentionDays: INFRA_DEFAULTS.onceClaimRetentionDays },
    schedule: {
      cron: INFRA_DEFAULTS.scheduleCron,
      timezone: INFRA_DEFAULTS.scheduleTimezone,
      enabled: true,
      retryAttempts: INFRA_DEFAULTS.scheduleRetryAttempts,
      maxEventAgeSeconds: INFRA_DEFAULTS.scheduleMaxEventAgeSeconds,
    },
    reader: {
      memoryMiB: INFRA_DEFAULTS.readerMemoryMiB,
      timeoutSeconds: INFRA_DEFAULTS.readerTimeoutSeconds,
      reservedConcurrency: INFRA_DEFAULTS.readerReservedConcurrency,
      asyncRetryAttempts: INFRA_DEFAULTS.readerAsyncRetryAttempts,
      asyncMaxEventAgeSeconds: INFRA_DEFAULTS.readerAsyncMaxEventAgeSeconds,
    },
    processor: {
      memoryMiB: INFRA_DEFAULTS.consumerMemoryMiB,
      timeoutSeconds: INFRA_DEFAULTS.consumerTimeoutSeconds,
      eventSource: defaultEventSource(),
    },
    writer: {
      memoryMiB: INFRA_DEFAULTS.consumerMemoryMiB,
      timeoutSeconds: INFRA_DEFAULTS.consumerTimeoutSeconds,
      eventSource: defaultEventSource(),
    },
    finisher: {
      memoryMiB: INFRA_DEFAULTS.finisherMemoryMiB,
      timeoutSeconds: INFRA_DEFAULTS.finisherTimeoutSeconds,
      maxReceiveCount: INFRA_DEFAULTS.finisherMaxReceiveCount,
    },
    runEvents: { notify: [RUN_EVENT_TYPES.completed, RUN_EVENT_TYPES.failed], emails: [] },
    firehose: {
      bufferSizeMiB: INFRA_DEFAULTS.firehoseBufferSizeMiB,
      bufferIntervalSeconds: INFRA_DEFAULTS.firehoseBufferIntervalSeconds,
      compression: INFRA_DEFAULTS.firehoseCompression,
      partitioningRetrySeconds: INFRA_DEFAULTS.firehosePartitioningRetrySeconds,
    },
    alarms: { periodSeconds: INFRA_DEFAULTS.alarmPeriodSeconds },
  };
}

const int = (min: number, max: number, why?: string) =>
  z.number().refine((n) => Number.isInteger(n) && n >= min && n <= max, {
    message: `must be a whole number from ${min} to ${max}${why ? ` (${why})` : ''}`,
  });
const atLeast = (min: number) =>
  z.number().refine((n) => Number.isInteger(n) && n >= min, { message: `must be a whole number of at least ${min}` });
const positiveInt = atLeast(1);
const LOG_RETENTION_DAYS = Object.values(RetentionDays).filter((v): v is number => typeof v === 'number');
// At most 12 characters, so `<env>-pipeline-access-logs-<account>-<region>` fits S3's 63 in every region.
const ENV_NAME = /^[a-z][a-z0-9-]{0,11}$/;
const BUCKET_NAME = /^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/;

const EventSourceSchema = z.strictObject({
  batchSize: int(1, EVENT_SOURCE_MAPPING.maxBatchSize),
  batchingWindowSeconds: int(0, EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds),
  parallelizationFactor: int(
    EVENT_SOURCE_MAPPING.minParallelizationFactor,
    EVENT_SOURCE_MAPPING.maxParallelizationFactor,
  ),
  bisectBatchOnError: z.boolean(),
  retryAttempts: int(
    0,
    EVENT_SOURCE_MAPPING.maxRetryAttempts,
    'bounded: -1, retrying until the record expires, is not allowed',
  ),
  maxRecordAgeSeconds: int(
    EVENT_SOURCE_MAPPING.minRecordAgeSeconds,
    EVENT_SOURCE_MAPPING.maxRecordAgeSeconds,
    'bounded: -1, keeping records until they expire, is not allowed',
  ),
  startingPosition: z.enum(['TRIM_HORIZON', 'LATEST']),
});

const lambdaSettings = {
  memoryMiB: int(AWS_LIMITS.lambda.minMemoryMiB, AWS_LIMITS.lambda.maxMemoryMiB),
  timeoutSeconds: int(1, AWS_LIMITS.lambda.maxTimeoutSeconds),
};

const ConsumerSchema = z.strictObject({
  ...lambdaSettings,
  reservedConcurrency: positiveInt.optional(),
  eventSource: EventSourceSchema,
});

const ConfigSchema = z
  .strictObject({
    envName: z.string().regex(ENV_NAME, 'must be 1–12 lowercase letters, digits or "-", starting with a letter'),
    architecture: z.enum(['arm64', 'x86_64']),
    removalPolicy: z.enum(['retain', 'destroy']),
    logRetentionDays: z.number().refine((d) => LOG_RETENTION_DAYS.includes(d), {
      message: `must be one of CloudWatch Logs' retention periods: ${LOG_RETENTION_DAYS.join(', ')}`,
    }),
    accessLogsRetentionDays: positiveInt,
    alarmTopicArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]+$/, 'must be an SNS topic ARN')
      .optional(),
    metricsNamespace: z.string().min(1),
    streams: z.strictObject({
      recordsShardCount: positiveInt,
      resultsShardCount: positiveInt,
      retentionHours: int(AWS_LIMITS.kinesisRetention.minHours, AWS_LIMITS.kinesisRetention.maxHours),
      lifecycle: z.enum(['always-on', 'per-run']),
      replayWindowHours: int(0, AWS_LIMITS.kinesisRetention.maxHours),
    }),
    spill: z.strictObject({
      prefix: z.string().min(1).endsWith('/', 'must end with "/"'),
      thresholdBytes: int(1, KINESIS.maxRecordBytes - KINESIS.maxPartitionKeyLength),
      retentionMarginDays: positiveInt,
    }),
    source: z.strictObject({
      bucketName: z.string().regex(BUCKET_NAME, 'must be an S3 bucket name').optional(),
      prefix: z.string(),
      sliceBytes: int(1, DEFAULTS.maxSliceBytes),
      readerConcurrency: positiveInt,
    }),
    failures: z.strictObject({ retentionDays: positiveInt }),
    once: z.strictObject({ retentionDays: positiveInt }),
    schedule: z.strictObject({
      cron: z.string().refine((c) => cronFields(c).length === 6, {
        message: 'must have 6 fields (minutes hours day-of-month month day-of-week year), e.g. "0 2 * * ? *"',
      }),
      timezone: z
        .string()
        .refine(isTimeZone, { message: 'must be an IANA time zone such as "UTC" or "Europe/Berlin"' }),
      enabled: z.boolean(),
      retryAttempts: int(0, AWS_LIMITS.scheduler.maxRetryAttempts),
      maxEventAgeSeconds: int(AWS_LIMITS.scheduler.minEventAgeSeconds, AWS_LIMITS.scheduler.maxEventAgeSeconds),
    }),
    reader: z.strictObject({
      ...lambdaSettings,
      reservedConcurrency: positiveInt,
      asyncRetryAttempts: int(0, AWS_LIMITS.lambdaAsync.maxRetryAttempts),
      asyncMaxEventAgeSeconds: int(
        AWS_LIMITS.lambdaAsync.minEventAgeSeconds,
        AWS_LIMITS.lambdaAsync.maxEventAgeSeconds,
      ),
    }),
    processor: ConsumerSchema,
    writer: ConsumerSchema,
    finisher: z.strictObject({
      ...lambdaSettings,
      timeoutSeconds: int(
        1,
        Math.floor(SQS.maxVisibilityTimeoutSeconds / SQS.visibilityTimeoutPerFunctionTimeout),
        'its queue hides a message for six times this, at most 12 hours',
      ),
      maxReceiveCount: int(1, SQS.maxReceiveCount),
    }),
    runEvents: z.strictObject({
      notify: z.array(z.enum(Object.values(RUN_EVENT_TYPES) as [RunEventType, ...RunEventType[]])),
      emails: z.array(z.string().email()),
    }),
    replay: z
      .strictObject({
        from: z.string().refine((f) => f === 'trim-horizon' || !Number.isNaN(Date.parse(f)), {
          message: 'must be "trim-horizon" or an ISO-8601 time such as "2026-01-31T02:00:00Z"',
        }),
        run: RunIdSchema.optional(),
        enabled: z.boolean(),
      })
      .optional(),
    firehose: z.strictObject({
      bufferSizeMiB: int(AWS_LIMITS.dynamicPartitioning.minBufferSizeMiB, FIREHOSE.buffering.maxSizeMiB),
      bufferIntervalSeconds: int(
        AWS_LIMITS.dynamicPartitioning.minBufferIntervalSeconds,
        FIREHOSE.buffering.maxIntervalSeconds,
      ),
      compression: z.enum(['GZIP', 'UNCOMPRESSED']),
      partitioningRetrySeconds: int(0, AWS_LIMITS.firehosePartitioningMaxRetrySeconds),
    }),
    alarms: z.strictObject({
      periodSeconds: positiveInt,
      iteratorAgeSeconds: positiveInt.optional(),
      firehoseFreshnessSeconds: positiveInt.optional(),
    }),
  })
  .superRefine((config, ctx) => {
    const queue = finisherQueueTiming(config as InfraConfig);
    if (queue.coversSeconds < queue.boundSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['finisher', 'maxReceiveCount'],
        message: `its receives cover ${queue.coversSeconds} s, less than the delivery bound of ${queue.boundSeconds} s: raise it`,
      });
    }
    if (config.streams.lifecycle === 'per-run' && config.replay) {
      ctx.addIssue({
        code: 'custom',
        path: ['replay'],
        message:
          'a replay mapping is deployed with the stacks, but per-run streams exist only while runs need them: replay with `npm run pipeline -- replay` within the replay window, or set streams.lifecycle to "always-on"',
      });
    }
    // A claim must outlive every way its record can come back: a replay (the stream's retention) or a
    // redrive of a batch the mappings gave up on (the failures bucket's retention).
    const needDays = Math.max(Math.ceil(config.streams.retentionHours / 24), config.failures.retentionDays);
    if (config.once.retentionDays < needDays) {
      ctx.addIssue({
        code: 'custom',
        path: ['once', 'retentionDays'],
        message: `claims would expire before their records can no longer come back (a replay within streams.retentionHours, a redrive within failures.retentionDays), and context.once would run a side effect again: make it at least ${needDays}`,
      });
    }
    const retentionSeconds = Duration.hours(config.streams.retentionHours).toSeconds();
    for (const app of ['processor', 'writer'] as const) {
      // The reader puts a run's first records right after it creates the mapping, which may take
      // minutes to start polling: from LATEST it could miss them (CreateEventSourceMapping, StartingPosition).
      if (config.streams.lifecycle === 'per-run' && config[app].eventSource.startingPosition === 'LATEST') {
        ctx.addIssue({
          code: 'custom',
          path: [app, 'eventSource', 'startingPosition'],
          message:
            'per-run streams are new for each run, and a mapping created from LATEST could miss the records put while it starts polling: use TRIM_HORIZON',
        });
      }
      if (config[app].eventSource.maxRecordAgeSeconds > retentionSeconds) {
        ctx.addIssue({
          code: 'custom',
          path: [app, 'eventSource', 'maxRecordAgeSeconds'],
          message: `must not exceed the streams' retention (${retentionSeconds} s): raise streams.retentionHours or lower it`,
        });
      }
    }
  });

function cronFields(cron: string): string[] {
  const inner = /^cron\((.*)\)$/.exec(cron.trim())?.[1] ?? cron;
  return inner.trim().split(/\s+/).filter(Boolean);
}

function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Merges `override` into `base`: objects key by key, anything else replaced; `null` removes the key. */
function deepMerge(base: Record<string, unknown>, override: Record<string, unknown>): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base };
  for (const [key, value] of Object.entries(override)) {
    if (value === null) delete merged[key];
    else if (isPlainObject(value) && isPlainObject(merged[key]))
      merged[key] = deepMerge(merged[key] as Record<string, unknown>, value);
    else merged[key] = value;
  }
  return merged;
}

export interface ConfigSources {
  /** The environment to configure; default `dev`. */
  envName?: string;
  /** Per-environment overrides, keyed by environment name (context `pipeline:environments`). */
  environments?: Record<string, unknown>;
  /** Overrides applied last (context `pipeline:overrides` or PIPELINE_OVERRIDES), for one-off deploys such as a replay. */
  overrides?: unknown;
}

/**
 * Resolves the configuration of one environment: defaults, then the environment's overrides, then
 * one-off overrides; validated as a whole, with every problem reported by its path.
 *
 * @example
 * resolveConfig({ envName: 'prod', environments: { prod: { streams: { recordsShardCount: 4 } } } });
 */
export function resolveConfig(sources: ConfigSources = {}): InfraConfig {
  const envName = sources.envName ?? INFRA_DEFAULTS.envName;
  const environment = sources.environments?.[envName] ?? {};
  const overrides = sources.overrides ?? {};
  for (const [what, value] of [
    [`environment "${envName}"`, environment],
    ['overrides', overrides],
  ] as const) {
    if (!isPlainObject(value))
      throw new InfraConfigError(`invalid infrastructure configuration: ${what} must be an object of settings`);
  }
  let merged = deepMerge(
    deepMerge(defaultConfig(envName) as unknown as Record<string, unknown>, environment as Record<string, unknown>),
    overrides as Record<string, unknown>,
  );
  if (isPlainObject(merged.replay)) merged = { ...merged, replay: { enabled: true, ...merged.replay } };
  const parsed = ConfigSchema.safeParse(merged);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(root)'}: ${issue.message}`);
    throw new InfraConfigError(
      `invalid infrastructure configuration for environment "${envName}": ${problems.join('; ')}. ` +
        `Fix it under context "pipeline:environments" in infra/cdk.json or in PIPELINE_OVERRIDES`,
    );
  }
  return parsed.data as InfraConfig;
}

/**
 * Reads the configuration sources from CDK context and the process environment. Context wins over
 * PIPELINE_ENV and PIPELINE_OVERRIDES, so `-c env=prod` on the command line names the environment.
 *
 * @example configSourcesFrom((key) => app.node.tryGetContext(key), process.env);
 */
export function configSourcesFrom(context: (key: string) => unknown, env: NodeJS.ProcessEnv = {}): ConfigSources {
  const envName = context('env') ?? env.PIPELINE_ENV;
  const overrides = context('pipeline:overrides') ?? env.PIPELINE_OVERRIDES;
  const environments = context('pipeline:environments');
  return {
    envName: envName === undefined || envName === '' ? undefined : String(envName),
    environments: isPlainObject(environments) ? environments : undefined,
    overrides: typeof overrides === 'string' ? parseJson(overrides) : overrides,
  };
}

function parseJson(text: string): unknown {
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new InfraConfigError(
      `PIPELINE_OVERRIDES is not JSON (${(error as Error).message}): pass an object such as '{"replay":{"from":"trim-horizon"}}'`,
    );
  }
}

/** The schedule's expression as EventBridge Scheduler takes it. */
export function scheduleExpression(config: InfraConfig): string {
  return `cron(${cronFields(config.schedule.cron).join(' ')})`;
}

/**
 * Days a spilled object lives: the streams' retention rounded up to whole days, plus the margin, so
 * a replay from the trim horizon still finds every object a pointer on the stream refers to.
 *
 * @example spillExpirationDays(defaultConfig()); // 1 + 2 = 3
 */
export function spillExpirationDays(config: InfraConfig): number {
  return (
    Math.ceil(Duration.hours(config.streams.retentionHours).toDays({ integral: false })) +
    config.spill.retentionMarginDays
  );
}

/** The iterator-age alarm threshold for one mapping, in seconds. */
export function iteratorAgeAlarmSeconds(config: InfraConfig, settings: EventSourceSettings): number {
  return (
    config.alarms.iteratorAgeSeconds ??
    Math.floor(settings.maxRecordAgeSeconds * INFRA_DEFAULTS.iteratorAgeAlarmShareOfMaxAge)
  );
}

/** The Firehose data-freshness alarm threshold, in seconds. */
export function firehoseFreshnessAlarmSeconds(config: InfraConfig): number {
  return (
    config.alarms.firehoseFreshnessSeconds ??
    config.firehose.bufferIntervalSeconds * INFRA_DEFAULTS.firehoseFreshnessAlarmIntervals
  );
}

/**
 * How the finisher's queue paces a run's message: first delivered once Firehose should have
 * delivered the run's output (the delivery bound, capped at SQS's longest delay), then again every
 * visibility timeout while the run is still delivering, `maxReceiveCount` times in all.
 *
 * @example finisherQueueTiming(defaultConfig()); // { delaySeconds: 510, visibilityTimeoutSeconds: 1800, ... }
 */
export function finisherQueueTiming(config: InfraConfig): {
  boundSeconds: number;
  delaySeconds: number;
  visibilityTimeoutSeconds: number;
  coversSeconds: number;
} {
  const boundSeconds = deliveryBoundSeconds(config.firehose.bufferIntervalSeconds);
  const delaySeconds = Math.min(boundSeconds, SQS.maxDelaySeconds);
  const visibilityTimeoutSeconds = config.finisher.timeoutSeconds * SQS.visibilityTimeoutPerFunctionTimeout;
  return {
    boundSeconds,
    delaySeconds,
    visibilityTimeoutSeconds,
    coversSeconds: delaySeconds + (config.finisher.maxReceiveCount - 1) * visibilityTimeoutSeconds,
  };
}
