import { DEFAULTS, EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import { NAMESPACE } from '@pipeline/observability';
import { LAYOUT } from '@pipeline/records';
import {
  configSourcesFrom,
  defaultConfig,
  firehoseFreshnessAlarmSeconds,
  InfraConfigError,
  iteratorAgeAlarmSeconds,
  resolveConfig,
  scheduleExpression,
  spillExpirationDays,
} from '../src/config';
import { AWS_LIMITS, INFRA_DEFAULTS } from '../src/defaults';
import { BUCKET_KINDS, DELIVERY_PARTITIONING, pipelineNames, RESULTS_PREFIXES } from '../src/names';

describe('infrastructure configuration', () => {
  describe('GIVEN no environment settings', () => {
    it('THEN the pipeline settings are the defaults of @pipeline/limits', () => {
      const config = resolveConfig();

      expect(config.streams).toEqual({
        recordsShardCount: DEFAULTS.shardCount,
        resultsShardCount: DEFAULTS.shardCount,
        retentionHours: DEFAULTS.streamRetentionHours,
        lifecycle: DEFAULTS.streamsLifecycle,
        replayWindowHours: DEFAULTS.replayWindowHours,
      });
      expect(config.spill).toEqual({
        prefix: DEFAULTS.spillPrefix,
        thresholdBytes: DEFAULTS.spillThresholdBytes,
        retentionMarginDays: DEFAULTS.spillRetentionMarginDays,
      });
      expect(config.source).toEqual({
        prefix: '',
        sliceBytes: DEFAULTS.sliceBytes,
        readerConcurrency: DEFAULTS.readerConcurrency,
      });
      for (const app of ['processor', 'writer'] as const) {
        expect(config[app].eventSource).toEqual({
          batchSize: DEFAULTS.batchSize,
          batchingWindowSeconds: DEFAULTS.batchingWindowSeconds,
          parallelizationFactor: DEFAULTS.parallelizationFactor,
          bisectBatchOnError: true,
          retryAttempts: DEFAULTS.maxRetryAttempts,
          maxRecordAgeSeconds: DEFAULTS.maxRecordAgeSeconds,
          startingPosition: 'TRIM_HORIZON',
        });
      }
    });

    it('THEN the infrastructure settings are the documented defaults', () => {
      const config = resolveConfig();

      expect(config.envName).toBe(INFRA_DEFAULTS.envName);
      expect(config.schedule).toEqual({
        cron: INFRA_DEFAULTS.scheduleCron,
        timezone: INFRA_DEFAULTS.scheduleTimezone,
        enabled: true,
        retryAttempts: INFRA_DEFAULTS.scheduleRetryAttempts,
        maxEventAgeSeconds: INFRA_DEFAULTS.scheduleMaxEventAgeSeconds,
      });
      expect(config.reader.reservedConcurrency).toBe(INFRA_DEFAULTS.readerReservedConcurrency);
      expect(config.firehose.bufferSizeMiB).toBe(AWS_LIMITS.dynamicPartitioning.minBufferSizeMiB);
      expect(config.replay).toBeUndefined();
      expect(config.alarmTopicArn).toBeUndefined();
    });

    it('THEN the metrics namespace is the one the handlers use', () => {
      expect(resolveConfig().metricsNamespace).toBe(NAMESPACE);
    });
  });

  describe('GIVEN per-environment settings in context', () => {
    const environments = {
      prod: { streams: { recordsShardCount: 8 }, processor: { eventSource: { batchSize: 1_000 } } },
    };

    it('WHEN that environment is chosen THEN its settings override the defaults, key by key', () => {
      const config = resolveConfig({ envName: 'prod', environments });

      expect(config.envName).toBe('prod');
      expect(config.streams).toEqual({
        recordsShardCount: 8,
        resultsShardCount: DEFAULTS.shardCount,
        retentionHours: DEFAULTS.streamRetentionHours,
        lifecycle: DEFAULTS.streamsLifecycle,
        replayWindowHours: DEFAULTS.replayWindowHours,
      });
      expect(config.processor.eventSource.batchSize).toBe(1_000);
      expect(config.processor.eventSource.retryAttempts).toBe(DEFAULTS.maxRetryAttempts);
      expect(config.writer.eventSource.batchSize).toBe(DEFAULTS.batchSize);
    });

    it('WHEN another environment is chosen THEN those settings do not apply', () => {
      expect(resolveConfig({ envName: 'dev', environments }).streams.recordsShardCount).toBe(DEFAULTS.shardCount);
    });

    it('WHEN one-off overrides are given THEN they apply last', () => {
      const config = resolveConfig({ envName: 'prod', environments, overrides: { streams: { recordsShardCount: 3 } } });

      expect(config.streams.recordsShardCount).toBe(3);
    });

    it('WHEN an override is null THEN the optional setting is unset', () => {
      const config = resolveConfig({
        environments: { dev: { processor: { reservedConcurrency: 5 } } },
        overrides: { processor: { reservedConcurrency: null } },
      });

      expect(config.processor.reservedConcurrency).toBeUndefined();
    });
  });

  describe('GIVEN context and process environment', () => {
    it('WHEN both name an environment THEN context wins over PIPELINE_ENV', () => {
      const context: Record<string, unknown> = { env: 'prod' };

      const sources = configSourcesFrom((key) => context[key], { PIPELINE_ENV: 'test' });

      expect(sources.envName).toBe('prod');
    });

    it('WHEN only PIPELINE_ENV and PIPELINE_OVERRIDES are set THEN they are used, the overrides parsed as JSON', () => {
      const sources = configSourcesFrom(() => undefined, {
        PIPELINE_ENV: 'test',
        PIPELINE_OVERRIDES: '{"replay":{"from":"trim-horizon"}}',
      });

      expect(sources).toEqual({
        envName: 'test',
        environments: undefined,
        overrides: { replay: { from: 'trim-horizon' } },
      });
    });

    it('WHEN PIPELINE_OVERRIDES is not JSON THEN the error says what to pass', () => {
      expect(() => configSourcesFrom(() => undefined, { PIPELINE_OVERRIDES: '{replay' })).toThrow(
        /PIPELINE_OVERRIDES is not JSON.*such as/,
      );
    });
  });

  describe('GIVEN a replay', () => {
    it('WHEN only its start is given THEN it is enabled', () => {
      expect(resolveConfig({ overrides: { replay: { from: 'trim-horizon' } } }).replay).toEqual({
        from: 'trim-horizon',
        enabled: true,
      });
    });

    it('WHEN it starts at a time that is not ISO-8601 THEN the configuration is refused', () => {
      expect(() => resolveConfig({ overrides: { replay: { from: 'yesterday' } } })).toThrow(
        /replay\.from: must be "trim-horizon" or an ISO-8601 time/,
      );
    });

    it('WHEN its run id could not be a run id THEN the configuration is refused', () => {
      expect(() => resolveConfig({ overrides: { replay: { from: 'trim-horizon', run: 'a/b' } } })).toThrow(
        InfraConfigError,
      );
    });
  });

  describe('GIVEN settings outside what AWS or the pipeline allows', () => {
    it.each([
      [
        'unbounded retries',
        { processor: { eventSource: { retryAttempts: -1 } } },
        /processor\.eventSource\.retryAttempts: .*bounded/,
      ],
      [
        'unbounded record age',
        { writer: { eventSource: { maxRecordAgeSeconds: -1 } } },
        /writer\.eventSource\.maxRecordAgeSeconds: .*bounded/,
      ],
      [
        'a batch over 10,000',
        { processor: { eventSource: { batchSize: EVENT_SOURCE_MAPPING.maxBatchSize + 1 } } },
        /batchSize: must be a whole number from 1 to 10000/,
      ],
      [
        'a parallelization factor of 11',
        { writer: { eventSource: { parallelizationFactor: 11 } } },
        /parallelizationFactor/,
      ],
      [
        'a record age beyond the retention',
        { streams: { retentionHours: 24 }, processor: { eventSource: { maxRecordAgeSeconds: 86_401 } } },
        /must not exceed the streams' retention/,
      ],
      ['a retention under 24 hours', { streams: { retentionHours: 12 } }, /streams\.retentionHours/],
      [
        'a Firehose buffer under dynamic partitioning’s minimum',
        { firehose: { bufferSizeMiB: 5 } },
        /firehose\.bufferSizeMiB: must be a whole number from 64 to 128/,
      ],
      ['a five-field cron', { schedule: { cron: '0 2 * * *' } }, /schedule\.cron: must have 6 fields/],
      [
        'an unknown time zone',
        { schedule: { timezone: 'Mars/Olympus' } },
        /schedule\.timezone: must be an IANA time zone/,
      ],
      ['a log retention CloudWatch does not offer', { logRetentionDays: 31 }, /logRetentionDays: must be one of/],
      ['a spill prefix without a slash', { spill: { prefix: 'spill' } }, /spill\.prefix: must end with "\/"/],
      [
        'side-effect claims kept for less time than a record can come back',
        { streams: { retentionHours: 24 * 60 }, once: { retentionDays: 35 } },
        /once\.retentionDays: .*at least 60/,
      ],
      [
        'side-effect claims kept for less time than the failures bucket keeps batches to redrive',
        { failures: { retentionDays: 40 } },
        /once\.retentionDays: .*at least 40/,
      ],
      ['a mistyped setting', { streams: { shardCount: 2 } }, /streams/],
      ['an environment name too long for bucket names', { envName: 'a-very-long-environment' }, /envName/],
    ])('WHEN given %s THEN it is refused with the setting named', (_what, overrides, message) => {
      expect(() => resolveConfig({ overrides })).toThrow(message);
    });

    it('THEN every problem is reported at once, with where to fix it', () => {
      const act = () =>
        resolveConfig({
          envName: 'prod',
          environments: { prod: { streams: { retentionHours: 1 }, reader: { reservedConcurrency: 0 } } },
        });

      expect(act).toThrow(
        /environment "prod".*streams\.retentionHours.*reader\.reservedConcurrency.*pipeline:environments/,
      );
    });
  });
});

describe('derived settings', () => {
  it('spilled objects outlive the stream retention, rounded up to days, by the margin', () => {
    expect(spillExpirationDays(defaultConfig())).toBe(1 + DEFAULTS.spillRetentionMarginDays);
    expect(
      spillExpirationDays(
        resolveConfig({ overrides: { streams: { retentionHours: 25 }, spill: { retentionMarginDays: 3 } } }),
      ),
    ).toBe(2 + 3);
  });

  it('the iterator-age alarm fires at half the maximum record age unless configured', () => {
    const config = defaultConfig();

    expect(iteratorAgeAlarmSeconds(config, config.processor.eventSource)).toBe(DEFAULTS.maxRecordAgeSeconds / 2);
    expect(
      iteratorAgeAlarmSeconds(
        resolveConfig({ overrides: { alarms: { iteratorAgeSeconds: 60 } } }),
        config.processor.eventSource,
      ),
    ).toBe(60);
  });

  it('the Firehose freshness alarm fires after three buffer intervals unless configured', () => {
    expect(firehoseFreshnessAlarmSeconds(defaultConfig())).toBe(3 * INFRA_DEFAULTS.firehoseBufferIntervalSeconds);
  });

  it('the schedule expression wraps the configured fields in cron(…)', () => {
    expect(scheduleExpression(resolveConfig({ overrides: { schedule: { cron: '30 6,18 * * ? *' } } }))).toBe(
      'cron(30 6,18 * * ? *)',
    );
    expect(scheduleExpression(resolveConfig({ overrides: { schedule: { cron: 'cron(0 1 * * ? *)' } } }))).toBe(
      'cron(0 1 * * ? *)',
    );
  });
});

describe('resource names', () => {
  it('the longest bucket name of the longest environment name fits S3’s limit in every region', () => {
    const longest = pipelineNames('abcdefghijkl').bucket('access-logs', '123456789012', 'ap-southeast-4');

    expect(BUCKET_KINDS).toContain('access-logs');
    expect(longest.length).toBeLessThanOrEqual(AWS_LIMITS.maxBucketNameLength);
  });

  it('the results-bucket prefixes are the ones the apps write (from the records layout)', () => {
    expect(RESULTS_PREFIXES).toEqual({
      runs: 'runs/',
      processorParking: 'runs/*/parked/processor/',
      deadLetters: 'dead-letters/',
      largeResults: 'large-results/',
      results: 'results/',
      deliveryErrors: 'delivery-errors/',
      onceClaims: 'once/',
    });
  });

  it('Firehose partitions into the layout’s results prefix of each run', () => {
    expect(DELIVERY_PARTITIONING.prefix).toBe(LAYOUT.resultsPrefix('!{partitionKeyFromQuery:run}'));
    expect(DELIVERY_PARTITIONING.errorOutputPrefix).toBe('delivery-errors/!{firehose:error-output-type}/');
  });
});
