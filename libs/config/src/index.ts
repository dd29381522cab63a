import { z } from 'zod';
import { DEFAULTS, FIREHOSE, IDS, KINESIS } from '@pipeline/limits';

/**
 * The handlers' configuration, read from environment variables: the same names in Lambda (set by
 * the CDK app) and in the local runner. Each default comes from @pipeline/limits.
 */
const bytes = z.coerce.number().int().positive();

export const ENV = {
  recordsStream: 'RECORDS_STREAM_NAME',
  resultsStream: 'RESULTS_STREAM_NAME',
  deliveryStream: 'DELIVERY_STREAM_NAME',
  resultsBucket: 'RESULTS_BUCKET',
  spillBucket: 'SPILL_BUCKET',
  spillPrefix: 'SPILL_PREFIX',
  spillThresholdBytes: 'SPILL_THRESHOLD_BYTES',
  sourceBucket: 'SOURCE_BUCKET',
  sourcePrefix: 'SOURCE_PREFIX',
  sliceBytes: 'SLICE_BYTES',
  readerConcurrency: 'READER_CONCURRENCY',
  readerFanOut: 'READER_FAN_OUT',
  /** Set on a replay function only: the run whose records it processes; others are acknowledged and skipped. */
  replayRun: 'REPLAY_RUN_ID',
  /** The delivery stream's buffer interval: the finisher bounds its wait for the output by it. */
  deliveryBufferIntervalSeconds: 'DELIVERY_BUFFER_INTERVAL_SECONDS',
} as const;

/** Names and buckets are optional here (a handler says which it needs); every other key has its default. */
const ConfigSchema = z.object({
  recordsStream: z.string().min(1).optional(),
  resultsStream: z.string().min(1).optional(),
  deliveryStream: z.string().min(1).optional(),
  resultsBucket: z.string().min(3).optional(),
  spillBucket: z.string().min(3).optional(),
  spillPrefix: z.string().default(DEFAULTS.spillPrefix),
  spillThresholdBytes: bytes
    .max(KINESIS.maxRecordBytes - KINESIS.maxPartitionKeyLength)
    .default(DEFAULTS.spillThresholdBytes),
  sourceBucket: z.string().min(3).optional(),
  sourcePrefix: z.string().default(''),
  sliceBytes: bytes.max(DEFAULTS.maxSliceBytes).default(DEFAULTS.sliceBytes),
  readerConcurrency: z.coerce.number().int().min(1).max(64).default(DEFAULTS.readerConcurrency),
  readerFanOut: z.coerce.number().int().min(1).max(DEFAULTS.maxReaderFanOut).default(DEFAULTS.readerFanOut),
  replayRun: z.string().min(1).max(IDS.maxRunIdLength).optional(),
  // Not an integer locally, where the embedded Firehose buffers for half a second.
  deliveryBufferIntervalSeconds: z.coerce
    .number()
    .min(FIREHOSE.buffering.minIntervalSeconds)
    .max(FIREHOSE.buffering.maxIntervalSeconds)
    .default(FIREHOSE.buffering.defaultIntervalSeconds),
});
export type PipelineConfig = z.infer<typeof ConfigSchema>;
type ConfigKey = keyof typeof ENV;
/** The configuration with the keys a handler asked for known to be set. */
export type ConfigWith<K extends ConfigKey> = PipelineConfig & { [P in K]-?: NonNullable<PipelineConfig[P]> };

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/**
 * Reads the keys a handler needs; a missing or invalid one fails at cold start with the variable's name.
 * @example const config = readConfig(['recordsStream', 'spillBucket']);
 */
export function readConfig<K extends ConfigKey>(
  keys: readonly K[],
  env: NodeJS.ProcessEnv = process.env,
): ConfigWith<K> {
  const raw: Record<string, string> = {};
  for (const key of Object.keys(ENV) as ConfigKey[]) {
    const value = env[ENV[key]];
    if (value !== undefined && value !== '') raw[key] = value;
  }
  const problems = keys.filter((k) => raw[k] === undefined).map((k) => `${ENV[k]}: is not set`);
  const parsed = ConfigSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues)
      problems.push(`${ENV[String(issue.path[0]) as ConfigKey]}: ${issue.message}`);
  }
  if (problems.length || !parsed.success) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return parsed.data as ConfigWith<K>;
}

export { BUCKET_KINDS, type BucketKind, pipelineNames, type PipelineNames } from './names';
