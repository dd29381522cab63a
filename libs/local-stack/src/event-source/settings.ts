import { DEFAULTS, EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import { AWS_ESM_DEFAULTS, LAMBDA_MAX_TIMEOUT_SECONDS, LOCAL_POLLER } from './constants';
import { EventSourceMappingConfigError } from './errors';
import { compileFilterCriteria, type RecordFilter } from './filter';
import type { IteratorPosition } from './kinesis-source';
import type { EventSourceMappingOptions, KinesisEventHandler, OnFailureRecord, StartingPosition } from './types';

/** Options checked and completed with defaults. */
export interface Settings {
  streamName: string;
  functionName: string;
  handler: KinesisEventHandler;
  batchSize: number;
  batchingWindowMs: number;
  parallelizationFactor: number;
  startingPosition: IteratorPosition;
  bisectBatchOnFunctionError: boolean;
  /** -1: until the records are too old. */
  maximumRetryAttempts: number;
  /** -1: never too old. */
  maximumRecordAgeMs: number;
  reportBatchItemFailures: boolean;
  /** FilterCriteria compiled; undefined sends every record. */
  filter?: RecordFilter;
  onFailure?: (record: OnFailureRecord) => Promise<void>;
  pollIntervalMs: number;
  shardDiscoveryIntervalMs: number;
  timeoutMs: number;
  kinesisCallTimeoutMs: number;
  invokeIdentityArn?: string;
  maxPayloadBytes: number;
  backoff: { baseMs: number; capMs: number; random?: () => number };
  clock: () => number;
  sleep?: (ms: number) => Promise<void>;
}

const STARTING_POSITIONS: readonly StartingPosition[] = ['TRIM_HORIZON', 'LATEST', 'AT_TIMESTAMP'];

/**
 * Checks the options against the ranges CreateEventSourceMapping accepts (API_CreateEventSourceMapping)
 * and fills in AWS's defaults.
 *
 * @example
 * ```ts
 * resolveSettings({ kinesis, streamName: 'records', handler, startingPosition: 'TRIM_HORIZON' }).batchSize; // 100
 * ```
 */
export function resolveSettings(options: Omit<EventSourceMappingOptions, 'kinesis'>): Settings {
  const o = options;
  if (!o.streamName) fail('streamName is required');
  if (typeof o.handler !== 'function') fail('handler must be a function');

  const batchSize = o.batchSize ?? AWS_ESM_DEFAULTS.batchSize;
  integerIn('batchSize', batchSize, 1, EVENT_SOURCE_MAPPING.maxBatchSize);
  const window = o.maximumBatchingWindowInSeconds ?? AWS_ESM_DEFAULTS.maximumBatchingWindowInSeconds;
  integerIn('maximumBatchingWindowInSeconds', window, 0, EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds);
  const factor = o.parallelizationFactor ?? AWS_ESM_DEFAULTS.parallelizationFactor;
  integerIn(
    'parallelizationFactor',
    factor,
    EVENT_SOURCE_MAPPING.minParallelizationFactor,
    EVENT_SOURCE_MAPPING.maxParallelizationFactor,
  );
  const retries = o.maximumRetryAttempts ?? AWS_ESM_DEFAULTS.maximumRetryAttempts;
  integerIn('maximumRetryAttempts', retries, -1, EVENT_SOURCE_MAPPING.maxRetryAttempts);
  const age = o.maximumRecordAgeInSeconds ?? AWS_ESM_DEFAULTS.maximumRecordAgeInSeconds;
  if (age !== -1)
    integerIn(
      'maximumRecordAgeInSeconds (or -1)',
      age,
      EVENT_SOURCE_MAPPING.minRecordAgeSeconds,
      EVENT_SOURCE_MAPPING.maxRecordAgeSeconds,
    );

  if (!STARTING_POSITIONS.includes(o.startingPosition))
    fail(`startingPosition must be one of ${STARTING_POSITIONS.join(', ')}, got ${String(o.startingPosition)}`);
  let startingPosition: IteratorPosition;
  if (o.startingPosition === 'AT_TIMESTAMP') {
    const at = o.startingPositionTimestamp;
    if (!(at instanceof Date) || Number.isNaN(at.getTime()))
      fail('startingPosition AT_TIMESTAMP needs a valid startingPositionTimestamp');
    startingPosition = { type: 'AT_TIMESTAMP', timestamp: at };
  } else {
    startingPosition = { type: o.startingPosition };
  }

  const responseTypes = o.functionResponseTypes ?? [];
  for (const t of responseTypes)
    if (t !== 'ReportBatchItemFailures')
      fail(`functionResponseTypes may only hold ReportBatchItemFailures, got ${String(t)}`);

  const pollIntervalMs = o.pollIntervalMs ?? LOCAL_POLLER.pollIntervalMs;
  if (!(Number.isFinite(pollIntervalMs) && pollIntervalMs >= 1))
    fail(`pollIntervalMs must be at least 1, got ${pollIntervalMs}`);
  const shardDiscoveryIntervalMs = o.shardDiscoveryIntervalMs ?? LOCAL_POLLER.shardDiscoveryIntervalMs;
  if (!(Number.isFinite(shardDiscoveryIntervalMs) && shardDiscoveryIntervalMs >= 1))
    fail(`shardDiscoveryIntervalMs must be at least 1, got ${shardDiscoveryIntervalMs}`);
  const kinesisCallTimeoutMs = o.kinesisCallTimeoutMs ?? LOCAL_POLLER.kinesisCallTimeoutMs;
  if (!(Number.isFinite(kinesisCallTimeoutMs) && kinesisCallTimeoutMs >= 1))
    fail(`kinesisCallTimeoutMs must be at least 1, got ${kinesisCallTimeoutMs}`);
  const timeoutSeconds = o.timeoutSeconds ?? LAMBDA_MAX_TIMEOUT_SECONDS;
  if (!(timeoutSeconds > 0 && timeoutSeconds <= LAMBDA_MAX_TIMEOUT_SECONDS))
    fail(`timeoutSeconds must be in (0, ${LAMBDA_MAX_TIMEOUT_SECONDS}], got ${timeoutSeconds}`);

  return {
    streamName: o.streamName,
    functionName: o.functionName ?? `${o.streamName}-consumer`,
    handler: o.handler,
    batchSize,
    batchingWindowMs: window * 1000,
    parallelizationFactor: factor,
    startingPosition,
    bisectBatchOnFunctionError: o.bisectBatchOnFunctionError ?? AWS_ESM_DEFAULTS.bisectBatchOnFunctionError,
    maximumRetryAttempts: retries,
    maximumRecordAgeMs: age === -1 ? -1 : age * 1000,
    reportBatchItemFailures: responseTypes.includes('ReportBatchItemFailures'),
    filter: compileFilterCriteria(o.filterCriteria),
    onFailure: o.onFailure,
    pollIntervalMs,
    shardDiscoveryIntervalMs,
    timeoutMs: timeoutSeconds * 1000,
    kinesisCallTimeoutMs,
    invokeIdentityArn: o.invokeIdentityArn,
    maxPayloadBytes: EVENT_SOURCE_MAPPING.maxInvokePayloadBytes,
    backoff: { baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs, random: o.random },
    clock: o.clock ?? Date.now,
    sleep: o.sleep,
  };
}

function integerIn(name: string, value: number, min: number, max: number): void {
  if (!Number.isInteger(value) || value < min || value > max)
    fail(`${name} must be an integer from ${min} to ${max}, got ${value}`);
}

function fail(message: string): never {
  throw new EventSourceMappingConfigError(message);
}
