import { KinesisClient } from '@aws-sdk/client-kinesis';
import { EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import { EventSourceMappingConfigError } from './errors';
import { resolveSettings } from './settings';
import type { EventSourceMappingOptions } from './types';

const base: EventSourceMappingOptions = {
  kinesis: new KinesisClient({ region: 'us-east-1' }),
  streamName: 'records',
  handler: async () => undefined,
  startingPosition: 'TRIM_HORIZON',
};

describe('resolveSettings', () => {
  it("uses AWS's defaults for what is not set", () => {
    expect(resolveSettings(base)).toMatchObject({
      batchSize: 100,
      batchingWindowMs: 0,
      parallelizationFactor: 1,
      maximumRetryAttempts: -1,
      maximumRecordAgeMs: -1,
      bisectBatchOnFunctionError: false,
      reportBatchItemFailures: false,
      functionName: 'records-consumer',
      maxPayloadBytes: EVENT_SOURCE_MAPPING.maxInvokePayloadBytes,
    });
  });

  it.each([
    ['batchSize', { batchSize: 0 }],
    ['batchSize', { batchSize: EVENT_SOURCE_MAPPING.maxBatchSize + 1 }],
    [
      'maximumBatchingWindowInSeconds',
      { maximumBatchingWindowInSeconds: EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds + 1 },
    ],
    ['parallelizationFactor', { parallelizationFactor: EVENT_SOURCE_MAPPING.maxParallelizationFactor + 1 }],
    ['maximumRetryAttempts', { maximumRetryAttempts: -2 }],
    ['maximumRecordAgeInSeconds', { maximumRecordAgeInSeconds: EVENT_SOURCE_MAPPING.minRecordAgeSeconds - 1 }],
    ['startingPositionTimestamp', { startingPosition: 'AT_TIMESTAMP' as const }],
  ])('rejects an out-of-range %s', (_name, override) => {
    expect(() => resolveSettings({ ...base, ...override })).toThrow(EventSourceMappingConfigError);
  });

  it('accepts the edges of every range', () => {
    const s = resolveSettings({
      ...base,
      batchSize: EVENT_SOURCE_MAPPING.maxBatchSize,
      maximumBatchingWindowInSeconds: EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds,
      parallelizationFactor: EVENT_SOURCE_MAPPING.maxParallelizationFactor,
      maximumRetryAttempts: EVENT_SOURCE_MAPPING.maxRetryAttempts,
      maximumRecordAgeInSeconds: EVENT_SOURCE_MAPPING.maxRecordAgeSeconds,
    });

    expect(s.maximumRecordAgeMs).toBe(EVENT_SOURCE_MAPPING.maxRecordAgeSeconds * 1000);
  });
});
