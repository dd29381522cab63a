import { request } from 'node:http';
import {
  CreateDeliveryStreamCommand,
  DeleteDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  ListDeliveryStreamsCommand,
  PutRecordBatchCommand,
  PutRecordCommand,
} from '@aws-sdk/client-firehose';
import { FIREHOSE, KiB, MiB } from '@pipeline/limits';
import { BUCKET_ARN, bytes, type Harness, REGION, ROLE_ARN, s3Destination, startHarness } from './test-support';

describe('local Firehose: API', () => {
  let harness: Harness;

  beforeEach(async () => {
    harness = await startHarness({ bufferOverride: { intervalMs: 60_000 } });
  });

  afterEach(async () => {
    await harness.close();
  });

  const create = (name: string, destination: Record<string, unknown> = s3Destination()) =>
    harness.client.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: name,
        DeliveryStreamType: 'DirectPut',
        ExtendedS3DestinationConfiguration: destination as never,
      }),
    );

  const failure = async (promise: Promise<unknown>): Promise<Error & { $metadata?: { httpStatusCode?: number } }> => {
    try {
      await promise;
    } catch (error) {
      return error as Error;
    }
    throw new Error('expected the call to fail');
  };

  describe('delivery streams', () => {
    it('creates a stream and returns its ARN', async () => {
      const created = await create('results');

      expect(created.DeliveryStreamARN).toBe(`arn:aws:firehose:${REGION}:000000000000:deliverystream/results`);
    });

    it('describes a stream as ACTIVE with its destination and defaults filled in', async () => {
      await create(
        'results',
        s3Destination({
          Prefix: 'out/',
          BufferingHints: { SizeInMBs: 2, IntervalInSeconds: 60 },
          CompressionFormat: 'GZIP',
        }),
      );

      const { DeliveryStreamDescription: description } = await harness.client.send(
        new DescribeDeliveryStreamCommand({ DeliveryStreamName: 'results' }),
      );

      expect(description?.DeliveryStreamStatus).toBe('ACTIVE');
      expect(description?.DeliveryStreamType).toBe('DirectPut');
      expect(description?.VersionId).toBe('1');
      expect(description?.CreateTimestamp).toBeInstanceOf(Date);
      expect(description?.Destinations?.[0].ExtendedS3DestinationDescription).toMatchObject({
        BucketARN: BUCKET_ARN,
        RoleARN: ROLE_ARN,
        Prefix: 'out/',
        BufferingHints: { SizeInMBs: 2, IntervalInSeconds: 60 },
        CompressionFormat: 'GZIP',
      });
    });

    it('fills in the documented default buffering hints (5 MiB, 300 s)', async () => {
      await create('results');

      const { DeliveryStreamDescription: description } = await harness.client.send(
        new DescribeDeliveryStreamCommand({ DeliveryStreamName: 'results' }),
      );

      expect(description?.Destinations?.[0].ExtendedS3DestinationDescription?.BufferingHints).toEqual({
        SizeInMBs: 5,
        IntervalInSeconds: 300,
      });
    });

    it('lists streams in name order', async () => {
      await create('b-stream');
      await create('a-stream');

      const listed = await harness.client.send(new ListDeliveryStreamsCommand({}));

      expect(listed.DeliveryStreamNames).toEqual(['a-stream', 'b-stream']);
      expect(listed.HasMoreDeliveryStreams).toBe(false);
    });

    it('pages the list with Limit and ExclusiveStartDeliveryStreamName', async () => {
      await Promise.all(['s1', 's2', 's3'].map((name) => create(name)));

      const first = await harness.client.send(new ListDeliveryStreamsCommand({ Limit: 2 }));
      const second = await harness.client.send(
        new ListDeliveryStreamsCommand({ Limit: 2, ExclusiveStartDeliveryStreamName: 's2' }),
      );

      expect(first).toMatchObject({ DeliveryStreamNames: ['s1', 's2'], HasMoreDeliveryStreams: true });
      expect(second).toMatchObject({ DeliveryStreamNames: ['s3'], HasMoreDeliveryStreams: false });
    });

    it('deletes a stream so that it is no longer listed', async () => {
      await create('results');

      await harness.client.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: 'results' }));

      const listed = await harness.client.send(new ListDeliveryStreamsCommand({}));
      expect(listed.DeliveryStreamNames).toEqual([]);
    });

    it('delivers what a stream buffered before deleting it', async () => {
      await create('results', s3Destination({ Prefix: 'gone/' }));
      await harness.client.send(
        new PutRecordCommand({ DeliveryStreamName: 'results', Record: { Data: Buffer.from('last words') } }),
      );

      await harness.client.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: 'results' }));

      expect((await harness.bodies('gone/')).map(String)).toEqual(['last words']);
    });
  });

  describe('errors as AWS returns them', () => {
    it('answers ResourceNotFoundException for a missing stream', async () => {
      const error = await failure(
        harness.client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: 'missing' })),
      );

      expect(error.name).toBe('ResourceNotFoundException');
      expect(error.$metadata?.httpStatusCode).toBe(400);
      expect(error.message).toContain('missing');
    });

    it.each([
      [
        'PutRecordBatch',
        () => new PutRecordBatchCommand({ DeliveryStreamName: 'missing', Records: [{ Data: bytes(1) }] }),
      ],
      ['PutRecord', () => new PutRecordCommand({ DeliveryStreamName: 'missing', Record: { Data: bytes(1) } })],
      ['DeleteDeliveryStream', () => new DeleteDeliveryStreamCommand({ DeliveryStreamName: 'missing' })],
    ])('answers ResourceNotFoundException to %s on a missing stream', async (_operation, command) => {
      const error = await failure(harness.client.send(command() as never));

      expect(error.name).toBe('ResourceNotFoundException');
    });

    it('answers ResourceInUseException when the stream already exists', async () => {
      await create('results');

      const error = await failure(create('results'));

      expect(error.name).toBe('ResourceInUseException');
    });

    it('answers InvalidArgumentException when Prefix has expressions and ErrorOutputPrefix is missing', async () => {
      const error = await failure(create('results', s3Destination({ Prefix: 'out/!{timestamp:yyyy}/' })));

      expect(error.name).toBe('InvalidArgumentException');
      expect(error.message).toContain('ErrorOutputPrefix');
    });

    it('answers InvalidArgumentException when Prefix uses a partition key without dynamic partitioning', async () => {
      const error = await failure(
        create(
          'results',
          s3Destination({
            Prefix: 'run=!{partitionKeyFromQuery:run}/',
            ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
          }),
        ),
      );

      expect(error.name).toBe('InvalidArgumentException');
    });

    it('answers ValidationException when RoleARN is missing, as AWS requires it', async () => {
      const error = await failure(create('results', { BucketARN: BUCKET_ARN }));

      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain('roleARN');
    });

    it('answers ValidationException for buffering hints outside the documented range', async () => {
      const error = await failure(
        create(
          'results',
          s3Destination({ BufferingHints: { SizeInMBs: FIREHOSE.buffering.maxSizeMiB + 1, IntervalInSeconds: 60 } }),
        ),
      );

      expect(error.name).toBe('ValidationException');
    });

    it('answers InvalidArgumentException when dynamic partitioning has no ErrorOutputPrefix', async () => {
      const error = await failure(
        create('results', s3Destination({ Prefix: 'out/', DynamicPartitioningConfiguration: { Enabled: true } })),
      );

      expect(error.name).toBe('InvalidArgumentException');
      expect(error.message).toContain('ErrorOutputPrefix is required when dynamic partitioning is enabled');
    });

    it('answers InvalidArgumentException to zero buffering with dynamic partitioning', async () => {
      const error = await failure(
        create(
          'results',
          s3Destination({
            Prefix: 'run=!{partitionKeyFromQuery:run}/',
            ErrorOutputPrefix: 'errors/!{firehose:error-output-type}/',
            BufferingHints: { SizeInMBs: 64, IntervalInSeconds: 0 },
            DynamicPartitioningConfiguration: { Enabled: true },
            ProcessingConfiguration: {
              Enabled: true,
              Processors: [
                {
                  Type: 'MetadataExtraction',
                  Parameters: [
                    { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .run}' },
                    { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
                  ],
                },
              ],
            },
          }),
        ),
      );

      expect(error.name).toBe('InvalidArgumentException');
      expect(error.message).toContain('zero buffering');
    });

    it('accepts zero buffering without dynamic partitioning', async () => {
      await create('zero', s3Destination({ BufferingHints: { SizeInMBs: 1, IntervalInSeconds: 0 } }));
    });

    it('answers InvalidArgumentException to buffering hints with only one of size and interval', async () => {
      for (const hints of [{ SizeInMBs: 5 }, { IntervalInSeconds: 60 }]) {
        const error = await failure(create('results', s3Destination({ BufferingHints: hints })));

        expect(error.name).toBe('InvalidArgumentException');
        expect(error.message).toContain('both SizeInMBs and IntervalInSeconds');
      }
    });

    it.each([
      ['longer than 64 characters', 'x'.repeat(65), 'length between 1 and 64'],
      ['with a character outside [a-zA-Z0-9_.-]', 'bad/name', 'regular expression pattern'],
    ])('answers ValidationException to a stream name %s', async (_what, name, message) => {
      const error = await failure(create(name, s3Destination()));

      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain(message);
    });

    it('accepts a stream name of exactly 64 characters', async () => {
      await create('n'.repeat(64), s3Destination());
    });

    it('answers an UnknownOperationException to an operation it does not know', async () => {
      const answer = await rawPost(harness.firehose.endpoint, 'Firehose_20150804.TagDeliveryStreamX', '{}');

      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).__type).toContain('UnknownOperationException');
    });

    it('answers SerializationException to a body that is not JSON', async () => {
      const answer = await rawPost(harness.firehose.endpoint, 'Firehose_20150804.ListDeliveryStreams', 'not json');

      expect(answer.status).toBe(400);
      expect(JSON.parse(answer.body).__type).toBe('SerializationException');
    });
  });

  describe('PutRecordBatch limits', () => {
    beforeEach(async () => {
      await create('results');
    });

    const putBatch = (records: Uint8Array[]) =>
      harness.client.send(
        new PutRecordBatchCommand({ DeliveryStreamName: 'results', Records: records.map((Data) => ({ Data })) }),
      );

    it(`accepts exactly ${FIREHOSE.maxRecordsPerBatch} records`, async () => {
      const records = Array.from({ length: FIREHOSE.maxRecordsPerBatch }, (_, i) => bytes(10, i));

      const result = await putBatch(records);

      expect(result.FailedPutCount).toBe(0);
      expect(result.RequestResponses).toHaveLength(FIREHOSE.maxRecordsPerBatch);
      expect(
        result.RequestResponses?.every((entry) => typeof entry.RecordId === 'string' && entry.RecordId.length > 0),
      ).toBe(true);
    });

    it(`rejects ${FIREHOSE.maxRecordsPerBatch + 1} records with ValidationException and buffers none`, async () => {
      const records = Array.from({ length: FIREHOSE.maxRecordsPerBatch + 1 }, (_, i) => bytes(10, i));

      const error = await failure(putBatch(records));

      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain(`less than or equal to ${FIREHOSE.maxRecordsPerBatch}`);
      expect(harness.firehose.stats().recordsBuffered).toBe(0);
    });

    it('accepts exactly 4 MiB in one call', async () => {
      const full = Math.floor(FIREHOSE.maxBytesPerBatch / FIREHOSE.maxRecordBytes);
      const records = [
        ...Array.from({ length: full }, (_, i) => bytes(FIREHOSE.maxRecordBytes, i)),
        bytes(FIREHOSE.maxBytesPerBatch - full * FIREHOSE.maxRecordBytes),
      ];
      expect(records.reduce((sum, record) => sum + record.length, 0)).toBe(4 * MiB);

      const result = await putBatch(records);

      expect(result.FailedPutCount).toBe(0);
    });

    it('rejects 4 MiB + 1 byte with InvalidArgumentException and buffers none', async () => {
      const full = Math.floor(FIREHOSE.maxBytesPerBatch / FIREHOSE.maxRecordBytes);
      const records = [
        ...Array.from({ length: full }, (_, i) => bytes(FIREHOSE.maxRecordBytes, i)),
        bytes(FIREHOSE.maxBytesPerBatch - full * FIREHOSE.maxRecordBytes + 1),
      ];

      const error = await failure(putBatch(records));

      expect(error.name).toBe('InvalidArgumentException');
      expect(error.message).toContain('Records size exceeds 4 MB limit');
      expect(harness.firehose.stats().recordsBuffered).toBe(0);
    });

    it('accepts a record of exactly 1,000 KiB', async () => {
      const result = await putBatch([bytes(1000 * KiB)]);

      expect(result.FailedPutCount).toBe(0);
    });

    it('rejects a record of 1,000 KiB + 1 byte with ValidationException', async () => {
      const error = await failure(putBatch([bytes(10), bytes(1000 * KiB + 1)]));

      expect(error.name).toBe('ValidationException');
      expect(error.message).toContain(`records.2.member.data`);
      expect(harness.firehose.stats().recordsBuffered).toBe(0);
    });

    it('rejects a PutRecord of 1,000 KiB + 1 byte with ValidationException', async () => {
      const error = await failure(
        harness.client.send(
          new PutRecordCommand({ DeliveryStreamName: 'results', Record: { Data: bytes(1000 * KiB + 1) } }),
        ),
      );

      expect(error.name).toBe('ValidationException');
    });

    it('rejects an empty batch with ValidationException', async () => {
      const error = await failure(putBatch([]));

      expect(error.name).toBe('ValidationException');
    });
  });
});

function rawPost(endpoint: string, target: string, body: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const call = request(
      `${endpoint}/`,
      { method: 'POST', headers: { 'X-Amz-Target': target, 'Content-Type': 'application/x-amz-json-1.1' } },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }),
        );
      },
    );
    call.on('error', reject);
    call.end(body);
  });
}
