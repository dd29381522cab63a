import { DEFAULTS, FIREHOSE } from '@pipeline/limits';
import { ConfigError, readConfig } from './index';

describe('readConfig', () => {
  it('reads the variables a handler needs and fills in the defaults', () => {
    const config = readConfig(['recordsStream', 'spillBucket'], {
      RECORDS_STREAM_NAME: 'records',
      SPILL_BUCKET: 'spill-bucket',
    });
    expect(config).toMatchObject({
      recordsStream: 'records',
      spillBucket: 'spill-bucket',
      spillPrefix: DEFAULTS.spillPrefix,
      spillThresholdBytes: DEFAULTS.spillThresholdBytes,
      sliceBytes: DEFAULTS.sliceBytes,
      readerConcurrency: DEFAULTS.readerConcurrency,
      readerFanOut: DEFAULTS.readerFanOut,
    });
  });

  it('names every missing variable', () => {
    expect(() => readConfig(['recordsStream', 'resultsBucket'], {})).toThrow(
      new ConfigError('invalid configuration: RECORDS_STREAM_NAME: is not set; RESULTS_BUCKET: is not set'),
    );
  });

  it('refuses a spill threshold too large for a Kinesis record, naming the variable', () => {
    expect(() =>
      readConfig(['spillBucket'], { SPILL_BUCKET: 'spill-bucket', SPILL_THRESHOLD_BYTES: String(1024 * 1024) }),
    ).toThrow(/SPILL_THRESHOLD_BYTES/);
  });

  it('reads numbers from their text', () => {
    expect(readConfig([], { SLICE_BYTES: '1024', READER_CONCURRENCY: '8' })).toMatchObject({
      sliceBytes: 1024,
      readerConcurrency: 8,
    });
  });

  it('reads the delivery buffer interval, the Firehose default unless set, inside its documented range', () => {
    expect(readConfig([], {}).deliveryBufferIntervalSeconds).toBe(FIREHOSE.buffering.defaultIntervalSeconds);
    expect(readConfig([], { DELIVERY_BUFFER_INTERVAL_SECONDS: '0.5' }).deliveryBufferIntervalSeconds).toBe(0.5);
    expect(() => readConfig([], { DELIVERY_BUFFER_INTERVAL_SECONDS: '901' })).toThrow(
      /DELIVERY_BUFFER_INTERVAL_SECONDS/,
    );
  });
});
