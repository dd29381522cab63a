import { z } from 'zod';
import {
  abandonedLeaseSeconds,
  DEFAULTS,
  EVENT_SOURCE_MAPPING,
  KINESIS,
  recordsInFlightSeconds,
  type StreamHop,
} from '@pipeline/limits';

/**
 * What per-run streams are: the two streams and their event source mappings, with the settings the
 * CDK app would have given them. The CDK app writes it as JSON into RUN_STREAMS of the reader (who
 * opens them) and the finisher (whose sweep retires them), so one configuration decides both modes.
 */
export const RUN_STREAMS_ENV = 'RUN_STREAMS';

/** What the hourly schedule sends the finisher to sweep the streams. */
export const SWEEP_EVENT = { sweep: true } as const;

const StreamSchema = z.strictObject({
  name: z.string().regex(/^[a-zA-Z0-9_.-]{1,128}$/, 'must be a Kinesis stream name'),
  shardCount: z.number().int().min(1),
  retentionHours: z.number().int().min(KINESIS.defaultRetentionHours),
  /** StartStreamEncryption's key; unset: the stream is left unencrypted (the embedded stack without KMS). */
  encryptionKeyId: z.string().min(1).optional(),
});

const MappingSchema = z.strictObject({
  functionName: z.string().min(1),
  streamName: z.string().min(1),
  batchSize: z.number().int().min(1).max(EVENT_SOURCE_MAPPING.maxBatchSize),
  batchingWindowSeconds: z.number().int().min(0).max(EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds),
  parallelizationFactor: z
    .number()
    .int()
    .min(EVENT_SOURCE_MAPPING.minParallelizationFactor)
    .max(EVENT_SOURCE_MAPPING.maxParallelizationFactor),
  bisectBatchOnError: z.boolean(),
  retryAttempts: z.number().int().min(0).max(EVENT_SOURCE_MAPPING.maxRetryAttempts),
  maxRecordAgeSeconds: z
    .number()
    .int()
    .min(EVENT_SOURCE_MAPPING.minRecordAgeSeconds)
    .max(EVENT_SOURCE_MAPPING.maxRecordAgeSeconds),
  startingPosition: z.enum(['TRIM_HORIZON', 'LATEST']),
  /** The S3 bucket ARN that keeps the invocation records of batches the mapping gives up on. */
  onFailureDestinationArn: z.string().min(1).optional(),
});

const PlanSchema = z.strictObject({
  streams: z.array(StreamSchema).min(1),
  mappings: z.array(MappingSchema),
  replayWindowHours: z.number().min(0).default(DEFAULTS.replayWindowHours),
});

export type StreamSpec = z.infer<typeof StreamSchema>;
export type MappingSpec = z.infer<typeof MappingSchema>;
export type RunStreamsPlan = z.infer<typeof PlanSchema>;

export class RunStreamsPlanError extends Error {
  override readonly name = 'RunStreamsPlanError';
}

/**
 * The plan in RUN_STREAMS, or undefined when it is not set (always-on streams: nothing to open).
 * @example const plan = runStreamsPlan(process.env); if (plan) await openStreams(plan, port, 'run-1');
 */
export function runStreamsPlan(env: NodeJS.ProcessEnv = process.env): RunStreamsPlan | undefined {
  const text = env[RUN_STREAMS_ENV];
  if (text === undefined || text.trim() === '') return undefined;
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (error) {
    throw new RunStreamsPlanError(
      `${RUN_STREAMS_ENV} is not JSON (${(error as Error).message}): the CDK app writes it`,
    );
  }
  const parsed = PlanSchema.safeParse(raw);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`);
    throw new RunStreamsPlanError(`invalid ${RUN_STREAMS_ENV}: ${problems.join('; ')}`);
  }
  for (const mapping of parsed.data.mappings) {
    if (!parsed.data.streams.some((s) => s.name === mapping.streamName))
      throw new RunStreamsPlanError(
        `invalid ${RUN_STREAMS_ENV}: the mapping of ${mapping.functionName} reads ${mapping.streamName}, which is not one of its streams`,
      );
  }
  return parsed.data;
}

/** Each hop a record takes through the plan's streams: a mapping, with the stream it reads. */
function hopsOf(plan: RunStreamsPlan): StreamHop[] {
  return plan.mappings.map((mapping) => ({
    maxRecordAgeSeconds: mapping.maxRecordAgeSeconds,
    retentionHours:
      plan.streams.find((stream) => stream.name === mapping.streamName)?.retentionHours ??
      KINESIS.defaultRetentionHours,
  }));
}

/** How long records put at one moment may keep the plan's streams busy (see recordsInFlightSeconds). */
export function recordsInFlightMs(plan: RunStreamsPlan): number {
  return recordsInFlightSeconds(hopsOf(plan)) * 1000;
}

/** How long after its last activity a lease on the plan's streams counts as ended (see abandonedLeaseSeconds). */
export function abandonedLeaseMs(plan: RunStreamsPlan): number {
  return abandonedLeaseSeconds(hopsOf(plan)) * 1000;
}
