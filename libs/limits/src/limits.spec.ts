import {
  abandonedLeaseSeconds,
  DEFAULTS,
  deliveryBoundSeconds,
  EVENT_SOURCE_MAPPING,
  FIREHOSE,
  KINESIS,
  LAMBDA,
  MiB,
  recordsInFlightSeconds,
} from './index';

describe('Limits and defaults', () => {
  it('states the AWS limits as documented', () => {
    expect(KINESIS).toMatchObject({
      maxRecordsPerPut: 500,
      maxBytesPerPut: 5 * MiB,
      maxRecordBytes: MiB,
      maxPartitionKeyLength: 256,
    });
    expect(FIREHOSE).toMatchObject({
      maxRecordsPerBatch: 500,
      maxBytesPerBatch: 4 * MiB,
      maxRecordBytes: 1_024_000,
      maxDeaggregatedRecords: 500,
      dynamicPartitioning: { minBufferSizeMiB: 64, minBufferIntervalSeconds: 60 },
      deliveryDelayFactor: 1.5,
    });
  });

  it('bounds the delivery of a run by 1.5 buffer intervals plus a margin', () => {
    expect(deliveryBoundSeconds(300)).toBe(450 + DEFAULTS.deliveryMarginSeconds);
    expect(deliveryBoundSeconds(0.5)).toBe(1 + DEFAULTS.deliveryMarginSeconds);
  });

  it("bounds the time records stay in flight on per-run streams by each hop's record age or retention, plus an invocation", () => {
    const hop = { retentionHours: DEFAULTS.streamRetentionHours, maxRecordAgeSeconds: DEFAULTS.maxRecordAgeSeconds };
    expect(recordsInFlightSeconds([hop, hop])).toBe(2 * (3_600 + LAMBDA.maxTimeoutSeconds));
    // A record age longer than the retention: the stream drops the record first.
    expect(recordsInFlightSeconds([{ retentionHours: 24, maxRecordAgeSeconds: 604_800 }])).toBe(
      24 * 3_600 + LAMBDA.maxTimeoutSeconds,
    );
  });

  it('ends a lease with no news after the longest reader chain and its records in flight', () => {
    const hop = { retentionHours: DEFAULTS.streamRetentionHours, maxRecordAgeSeconds: DEFAULTS.maxRecordAgeSeconds };
    expect(abandonedLeaseSeconds([hop, hop])).toBe(
      DEFAULTS.readerMaxHops * LAMBDA.maxTimeoutSeconds + recordsInFlightSeconds([hop, hop]),
    );
    expect(abandonedLeaseSeconds([hop, hop]) / 3_600).toBe(27.5);
  });

  it('keeps the default spill threshold small enough that a spilled-or-not record always fits on the stream', () => {
    expect(DEFAULTS.spillThresholdBytes + KINESIS.maxPartitionKeyLength).toBeLessThanOrEqual(KINESIS.maxRecordBytes);
  });

  it('lets the processor give up on a poison pill before the event source mapping does', () => {
    expect(DEFAULTS.recordInvocations).toBeLessThan(DEFAULTS.maxRetryAttempts);
  });

  it('keeps the event source mapping defaults inside what AWS accepts', () => {
    expect(DEFAULTS.batchSize).toBeLessThanOrEqual(EVENT_SOURCE_MAPPING.maxBatchSize);
    expect(DEFAULTS.batchingWindowSeconds).toBeLessThanOrEqual(EVENT_SOURCE_MAPPING.maxBatchingWindowSeconds);
    expect(DEFAULTS.maxRecordAgeSeconds).toBeGreaterThanOrEqual(EVENT_SOURCE_MAPPING.minRecordAgeSeconds);
    expect(DEFAULTS.maxRecordAgeSeconds).toBeLessThanOrEqual(EVENT_SOURCE_MAPPING.maxRecordAgeSeconds);
  });

  it('keeps a default slice under the largest slice allowed', () => {
    expect(DEFAULTS.sliceBytes).toBeLessThanOrEqual(DEFAULTS.maxSliceBytes);
  });
});
