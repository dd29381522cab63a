import { gunzipSync } from 'node:zlib';
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { CreateDeliveryStreamCommand, PutRecordBatchCommand, PutRecordCommand } from '@aws-sdk/client-firehose';
import { FIREHOSE } from '@pipeline/limits';
import { FirehoseDeliveryError } from './errors';
import type { LocalFirehoseOptions } from './server';
import { type Harness, s3Destination, startHarness } from './test-support';

/** 2024-02-03T04:05:06Z */
const NOW = Date.UTC(2024, 1, 3, 4, 5, 6);
const UUID = '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}';
const LONG_INTERVAL_MS = 60_000;

describe('local Firehose: buffering and delivery', () => {
  let harness: Harness | undefined;

  const start = async (options: Partial<Omit<LocalFirehoseOptions, 's3'>> = {}) => {
    harness = await startHarness({ clock: () => NOW, bufferOverride: { intervalMs: LONG_INTERVAL_MS }, ...options });
    return harness;
  };

  afterEach(async () => {
    await harness?.close();
    harness = undefined;
  });

  const create = (h: Harness, destination: Record<string, unknown>, name = 'results') =>
    h.client.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: name,
        ExtendedS3DestinationConfiguration: destination as never,
      }),
    );

  const putBatch = (h: Harness, records: string[], name = 'results') =>
    h.client.send(
      new PutRecordBatchCommand({
        DeliveryStreamName: name,
        Records: records.map((record) => ({ Data: Buffer.from(record) })),
      }),
    );

  describe('when a buffer is delivered', () => {
    it('delivers one object when the buffer reaches its size', async () => {
      const h = await start({ bufferOverride: { sizeBytes: 100, intervalMs: LONG_INTERVAL_MS } });
      await create(h, s3Destination({ Prefix: 'size/' }));

      await putBatch(h, ['a'.repeat(40), 'b'.repeat(40)]);
      expect(h.firehose.stats().objectsDelivered).toBe(0);
      await putBatch(h, ['c'.repeat(40)]);

      await eventually(() => h.firehose.stats().objectsDelivered === 1);
      expect((await h.bodies('size/')).map(String)).toEqual(['a'.repeat(40) + 'b'.repeat(40) + 'c'.repeat(40)]);
      expect(h.firehose.stats().recordsBuffered).toBe(0);
    });

    it('delivers one object when the buffer interval elapses', async () => {
      const h = await start({ bufferOverride: { intervalMs: 50 } });
      await create(h, s3Destination({ Prefix: 'interval/' }));

      await putBatch(h, ['first', 'second']);

      await eventually(() => h.firehose.stats().objectsDelivered === 1);
      expect((await h.bodies('interval/')).map(String)).toEqual(['firstsecond']);
    });

    it('delivers nothing before the size or the interval is reached', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'waiting/' }));

      await putBatch(h, ['kept']);

      expect(await h.keys('waiting/')).toEqual([]);
      expect(h.firehose.stats().recordsBuffered).toBe(1);
    });

    it('delivers every buffer on flush', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'flushed/' }));
      await putBatch(h, ['x']);

      await h.firehose.flush();

      expect((await h.bodies('flushed/')).map(String)).toEqual(['x']);
    });

    it('delivers every buffer on close', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'closed/' }));
      await putBatch(h, ['one', 'two']);
      await h.client.send(
        new PutRecordCommand({ DeliveryStreamName: 'results', Record: { Data: Buffer.from('three') } }),
      );

      await h.firehose.close();

      expect((await h.bodies('closed/')).map(String)).toEqual(['onetwothree']);
    });

    it('concatenates records without adding a separator', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'raw/' }));

      await putBatch(h, ['{"a":1}', '{"b":2}']);
      await h.firehose.flush();

      expect((await h.bodies('raw/')).map(String)).toEqual(['{"a":1}{"b":2}']);
    });

    it('adds a newline after each record with the AppendDelimiterToRecord processor', async () => {
      const h = await start();
      await create(
        h,
        s3Destination({
          Prefix: 'lines/',
          ProcessingConfiguration: { Enabled: true, Processors: [{ Type: 'AppendDelimiterToRecord' }] },
        }),
      );

      await putBatch(h, ['a', 'b']);
      await h.firehose.flush();

      expect((await h.bodies('lines/')).map(String)).toEqual(['a\nb\n']);
    });

    it('keeps records whose S3 write failed and delivers them on a later flush', async () => {
      const h = await start();
      await create(h, s3Destination({ BucketARN: 'arn:aws:s3:::not-yet-created', Prefix: 'late/' }));
      await putBatch(h, ['survivor']);

      await expect(h.firehose.flush()).rejects.toBeInstanceOf(FirehoseDeliveryError);
      expect(h.firehose.stats()).toMatchObject({ recordsBuffered: 1, deliveryFailures: 1 });

      await h.s3.send(new CreateBucketCommand({ Bucket: 'not-yet-created' }));
      await h.firehose.flush();
      expect(h.firehose.stats()).toMatchObject({ recordsBuffered: 0, recordsDelivered: 1 });
    });
  });

  describe('object keys', () => {
    it('appends the UTC hour path and the documented suffix to a plain Prefix', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'results/' }));

      await putBatch(h, ['x']);
      await h.firehose.flush();

      const [key] = await h.keys();
      expect(key).toMatch(new RegExp(`^results/2024/02/03/04/results-1-2024-02-03-04-05-06-${UUID}$`));
    });

    it('uses the default hour path when there is no Prefix', async () => {
      const h = await start();
      await create(h, s3Destination());

      await putBatch(h, ['x']);
      await h.firehose.flush();

      const [key] = await h.keys();
      expect(key).toMatch(new RegExp(`^2024/02/03/04/results-1-2024-02-03-04-05-06-${UUID}$`));
    });

    it('evaluates timestamp expressions instead of appending the hour path', async () => {
      const h = await start();
      await create(
        h,
        s3Destination({
          Prefix: 'out/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/hour=!{timestamp:HH}/',
          ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
        }),
      );

      await putBatch(h, ['x']);
      await h.firehose.flush();

      const [key] = await h.keys();
      expect(key).toMatch(new RegExp(`^out/year=2024/month=02/day=03/hour=04/results-1-2024-02-03-04-05-06-${UUID}$`));
    });

    it('evaluates !{firehose:random-string} to 11 characters', async () => {
      const h = await start();
      await create(
        h,
        s3Destination({
          Prefix: 'r/!{firehose:random-string}/',
          ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
        }),
      );

      await putBatch(h, ['x']);
      await h.firehose.flush();

      const [key] = await h.keys();
      expect(key).toMatch(new RegExp(`^r/[0-9a-z]{11}/2024/02/03/04/results-1-2024-02-03-04-05-06-${UUID}$`));
    });
  });

  describe('dynamic partitioning', () => {
    const partitioned = (extra: Record<string, unknown> = {}) =>
      s3Destination({
        Prefix: 'results/run=!{partitionKeyFromQuery:run}/',
        ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd}/',
        DynamicPartitioningConfiguration: { Enabled: true },
        ProcessingConfiguration: {
          Enabled: true,
          Processors: [
            {
              Type: 'MetadataExtraction',
              Parameters: [
                { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .id.run}' },
                { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
              ],
            },
          ],
        },
        ...extra,
      });
    const deaggregating = [
      { Type: 'RecordDeAggregation', Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }] },
      {
        Type: 'MetadataExtraction',
        Parameters: [
          { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .id.run}' },
          { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
        ],
      },
      { Type: 'AppendDelimiterToRecord' },
    ];

    it('delivers each partition under its own evaluated prefix, in arrival order', async () => {
      const h = await start();
      await create(h, partitioned());

      await putBatch(h, ['{"id":{"run":"r1"},"n":1}\n', '{"id":{"run":"r2"},"n":2}\n', '{"id":{"run":"r1"},"n":3}\n']);
      await h.firehose.flush();

      expect((await h.bodies('results/run=r1/')).map(String)).toEqual([
        '{"id":{"run":"r1"},"n":1}\n{"id":{"run":"r1"},"n":3}\n',
      ]);
      expect((await h.bodies('results/run=r2/')).map(String)).toEqual(['{"id":{"run":"r2"},"n":2}\n']);
    });

    it('does not append the hour path to a partitioned prefix', async () => {
      const h = await start();
      await create(h, partitioned());

      await putBatch(h, ['{"id":{"run":"r1"}}']);
      await h.firehose.flush();

      const [key] = await h.keys('results/');
      expect(key).toMatch(new RegExp(`^results/run=r1/results-1-2024-02-03-04-05-06-${UUID}$`));
    });

    it('delivers records that are not JSON or lack the field under the error prefix, as Firehose error documents', async () => {
      const h = await start();
      await create(h, partitioned());

      await putBatch(h, ['not json\n', '{"id":{}}\n', '{"id":{"run":"ok"}}\n']);
      await h.firehose.flush();

      const errorKeys = await h.keys('errors/');
      expect(errorKeys).toHaveLength(1);
      expect(errorKeys[0]).toMatch(
        new RegExp(`^errors/metadata-extraction-failed/2024/02/03/results-1-2024-02-03-04-05-06-${UUID}$`),
      );
      const documents = String(await h.body(errorKeys[0]))
        .trim()
        .split('\n')
        .map((line) => JSON.parse(line));
      expect(documents).toEqual([
        expect.objectContaining({
          errorCode: 'DynamicPartitioning.MetadataExtractionFailed',
          errorMessage: 'Non JSON record provided',
          rawData: Buffer.from('not json\n').toString('base64'),
          arrivalTimestamp: NOW,
          attemptsMade: 1,
        }),
        expect.objectContaining({
          errorCode: 'DynamicPartitioning.MetadataExtractionFailed',
          rawData: Buffer.from('{"id":{}}\n').toString('base64'),
        }),
      ]);
      expect((await h.bodies('results/run=ok/')).map(String)).toEqual(['{"id":{"run":"ok"}}\n']);
      expect(h.firehose.stats()).toMatchObject({ recordsDelivered: 3, errorRecordsDelivered: 2 });
    });

    it('splits packed records into their JSON sub-records before partitioning (RecordDeAggregation)', async () => {
      const h = await start();
      const processors = [
        { Type: 'RecordDeAggregation', Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }] },
        {
          Type: 'MetadataExtraction',
          Parameters: [
            { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .id.run}' },
            { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
          ],
        },
        { Type: 'AppendDelimiterToRecord' },
      ];
      await create(h, partitioned({ ProcessingConfiguration: { Enabled: true, Processors: processors } }));

      await putBatch(h, [
        '{"id":{"run":"r1"},"s":"}{ \\" ["}\n{"id":{"run":"r2"}}\n{"id":{"run":"r1"},"n":2}\n',
        'oops',
      ]);
      await h.firehose.flush();

      expect((await h.bodies('results/run=r1/')).map(String)).toEqual([
        '{"id":{"run":"r1"},"s":"}{ \\" ["}\n{"id":{"run":"r1"},"n":2}\n',
      ]);
      expect((await h.bodies('results/run=r2/')).map(String)).toEqual(['{"id":{"run":"r2"}}\n']);
      expect(await h.keys('errors/')).toHaveLength(1);
    });

    describe(`de-aggregating at most ${FIREHOSE.maxDeaggregatedRecords} sub-records per record`, () => {
      const packed = (count: number) =>
        Array.from({ length: count }, (_, i) => `{"id":{"run":"r1"},"n":${i}}\n`).join('');

      it(`splits a record of exactly ${FIREHOSE.maxDeaggregatedRecords} sub-records`, async () => {
        const h = await start();
        await create(h, partitioned({ ProcessingConfiguration: { Enabled: true, Processors: deaggregating } }));

        await putBatch(h, [packed(FIREHOSE.maxDeaggregatedRecords)]);
        await h.firehose.flush();

        const lines = String((await h.bodies('results/run=r1/')).join(''))
          .split('\n')
          .filter(Boolean);
        expect(lines).toHaveLength(FIREHOSE.maxDeaggregatedRecords);
        expect(await h.keys('errors/')).toEqual([]);
      });

      it(`does not split a record of ${FIREHOSE.maxDeaggregatedRecords + 1}: it routes whole, and fails metadata extraction`, async () => {
        const h = await start();
        await create(h, partitioned({ ProcessingConfiguration: { Enabled: true, Processors: deaggregating } }));
        const record = packed(FIREHOSE.maxDeaggregatedRecords + 1);

        const response = await putBatch(h, [record]);
        await h.firehose.flush();

        // The request succeeds, as the API reference says; the record is not in any partition.
        expect(response.FailedPutCount).toBe(0);
        expect(await h.keys('results/')).toEqual([]);
        const errors = await h.bodies('errors/');
        expect(errors).toHaveLength(1);
        const documents = String(errors[0])
          .split('\n')
          .filter(Boolean)
          .map((line) => JSON.parse(line));
        expect(documents).toHaveLength(1);
        expect(documents[0]).toMatchObject({ errorCode: 'DynamicPartitioning.MetadataExtractionFailed' });
        expect(Buffer.from(documents[0].rawData, 'base64').toString()).toBe(record);
        expect(h.firehose.stats()).toMatchObject({ recordsDelivered: 1, errorRecordsDelivered: 1 });
      });
    });

    it('applies the size trigger to each partition separately', async () => {
      const h = await start({ bufferOverride: { sizeBytes: 40, intervalMs: LONG_INTERVAL_MS } });
      await create(h, partitioned());

      await putBatch(h, ['{"id":{"run":"big"},"pad":"xxxxxxxxxxxxxxxx"}', '{"id":{"run":"small"}}']);

      await eventually(() => h.firehose.stats().objectsDelivered === 1);
      expect(await h.keys('results/run=big/')).toHaveLength(1);
      expect(await h.keys('results/run=small/')).toEqual([]);
    });
  });

  describe('compression', () => {
    it('gzips each object and adds .gz to its key', async () => {
      const h = await start();
      await create(h, s3Destination({ Prefix: 'zipped/', CompressionFormat: 'GZIP' }));

      await putBatch(h, ['hello ', 'world']);
      await h.firehose.flush();

      const [key] = await h.keys('zipped/');
      expect(key).toMatch(new RegExp(`-${UUID}\\.gz$`));
      expect(gunzipSync(await h.body(key)).toString()).toBe('hello world');
    });
  });

  describe('fault injection', () => {
    it('fails the chosen share of entries with ServiceUnavailableException and never delivers them', async () => {
      // Every other draw is below the share: entries 0, 2, 4, ... fail.
      let draw = 0;
      const h = await start({ faults: { failShare: 0.5, random: () => (draw++ % 2 === 0 ? 0 : 0.99) } });
      await create(h, s3Destination({ Prefix: 'faults/' }));
      const records = Array.from({ length: 10 }, (_, i) => `rec-${i}\n`);

      const result = await putBatch(h, records);
      await h.firehose.flush();

      const failed = result.RequestResponses!.flatMap((entry, i) => (entry.ErrorCode ? [i] : []));
      expect(failed).toEqual([0, 2, 4, 6, 8]);
      expect(result.FailedPutCount).toBe(failed.length);
      expect(result.RequestResponses![0]).toEqual({
        ErrorCode: 'ServiceUnavailableException',
        ErrorMessage: 'Slow down.',
      });
      expect(result.RequestResponses![1].RecordId).toEqual(expect.any(String));
      expect(lines(await h.bodies('faults/'))).toEqual(['rec-1', 'rec-3', 'rec-5', 'rec-7', 'rec-9']);
      expect(h.firehose.stats()).toMatchObject({ recordsAccepted: 5, recordsFailed: 5 });
    });

    it('delivers retried entries once the faults are lifted', async () => {
      let draw = 0;
      const h = await start({ faults: { failShare: 0.5, random: () => (draw++ % 2 === 0 ? 0 : 0.99) } });
      await create(h, s3Destination({ Prefix: 'retried/' }));
      const records = Array.from({ length: 6 }, (_, i) => `rec-${i}\n`);
      const first = await putBatch(h, records);

      h.firehose.setFaults(undefined);
      const retry = records.filter((_, i) => first.RequestResponses![i].ErrorCode !== undefined);
      const second = await putBatch(h, retry);
      await h.firehose.flush();

      expect(second.FailedPutCount).toBe(0);
      expect(lines(await h.bodies('retried/')).sort()).toEqual(records.map((record) => record.trim()).sort());
    });

    it('fails every entry with failShare 1', async () => {
      const h = await start({ faults: { failShare: 1 } });
      await create(h, s3Destination({ Prefix: 'all/' }));

      const result = await putBatch(h, ['a', 'b', 'c']);
      await h.firehose.flush();

      expect(result.FailedPutCount).toBe(3);
      expect(await h.keys('all/')).toEqual([]);
    });
  });
});

function lines(bodies: Buffer[]): string[] {
  return bodies.flatMap((body) =>
    String(body)
      .split('\n')
      .filter((line) => line !== ''),
  );
}

async function eventually(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
