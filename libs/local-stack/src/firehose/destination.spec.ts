import { MiB } from '@pipeline/limits';
import { compileDestination, defineDeliveryStream, type ExtendedS3Configuration } from './destination';
import { FirehoseApiError } from './errors';

const ROLE_ARN = 'arn:aws:iam::000000000000:role/firehose';
const base: ExtendedS3Configuration = { RoleARN: ROLE_ARN, BucketARN: 'arn:aws:s3:::out' };
const metadataExtraction = (query: string) => ({
  Enabled: true,
  Processors: [
    { Type: 'MetadataExtraction', Parameters: [{ ParameterName: 'MetadataExtractionQuery', ParameterValue: query }] },
  ],
});

function define(destination: ExtendedS3Configuration, name = 'results') {
  return defineDeliveryStream(
    { DeliveryStreamName: name, ExtendedS3DestinationConfiguration: destination },
    { region: 'eu-west-1', now: 0 },
  );
}

function rejection(destination: ExtendedS3Configuration, name?: string): FirehoseApiError {
  try {
    define(destination, name);
  } catch (error) {
    if (error instanceof FirehoseApiError) return error;
    throw error;
  }
  throw new Error('expected the definition to be rejected');
}

describe('delivery-stream definitions', () => {
  it('compiles bucket, buffering and compression', () => {
    const compiled = compileDestination(
      define({ ...base, BufferingHints: { SizeInMBs: 2, IntervalInSeconds: 7 }, CompressionFormat: 'GZIP' }),
    );

    expect(compiled).toMatchObject({
      bucket: 'out',
      sizeBytes: 2 * MiB,
      intervalMs: 7_000,
      gzip: true,
      extension: '.gz',
    });
  });

  it('uses FileExtension instead of .gz when given', () => {
    expect(
      compileDestination(define({ ...base, CompressionFormat: 'GZIP', FileExtension: '.json.gz' })).extension,
    ).toBe('.json.gz');
  });

  it('names the ARN with the signing region and the local account', () => {
    expect(define(base).arn).toBe('arn:aws:firehose:eu-west-1:000000000000:deliverystream/results');
  });

  it.each([
    [
      'Prefix containing error-output-type',
      { ...base, Prefix: 'a/!{firehose:error-output-type}/', ErrorOutputPrefix: 'e/' },
    ],
    [
      'ErrorOutputPrefix with expressions but no error-output-type',
      { ...base, Prefix: 'a/', ErrorOutputPrefix: 'e/!{timestamp:yyyy}/' },
    ],
    [
      'dynamic partitioning without ErrorOutputPrefix',
      {
        ...base,
        Prefix: 'r=!{partitionKeyFromQuery:r}/',
        DynamicPartitioningConfiguration: { Enabled: true },
        ProcessingConfiguration: metadataExtraction('{r: .r}'),
      },
    ],
    [
      'dynamic partitioning without a MetadataExtraction processor',
      {
        ...base,
        Prefix: 'r=!{partitionKeyFromQuery:r}/',
        ErrorOutputPrefix: 'e/',
        DynamicPartitioningConfiguration: { Enabled: true },
      },
    ],
    [
      'a prefix key the query does not define',
      {
        ...base,
        Prefix: 'r=!{partitionKeyFromQuery:other}/',
        ErrorOutputPrefix: 'e/',
        DynamicPartitioningConfiguration: { Enabled: true },
        ProcessingConfiguration: metadataExtraction('{r: .r}'),
      },
    ],
    [
      'a jq query beyond simple paths',
      {
        ...base,
        Prefix: 'r=!{partitionKeyFromQuery:r}/',
        ErrorOutputPrefix: 'e/',
        DynamicPartitioningConfiguration: { Enabled: true },
        ProcessingConfiguration: metadataExtraction('{r: .t | strftime("%Y")}'),
      },
    ],
    ['a Lambda processor', { ...base, ProcessingConfiguration: { Enabled: true, Processors: [{ Type: 'Lambda' }] } }],
    ['ZIP compression', { ...base, CompressionFormat: 'ZIP' }],
  ])('refuses %s with InvalidArgumentException', (_case, destination) => {
    expect(rejection(destination as ExtendedS3Configuration).code).toBe('InvalidArgumentException');
  });

  it.each([
    ['a stream name with a space', base, 'bad name'],
    ['a stream name over 64 characters', base, 'x'.repeat(65)],
    ['a bucket ARN that is not an S3 ARN', { ...base, BucketARN: 'out' }, 'results'],
    ['an interval over 900 s', { ...base, BufferingHints: { SizeInMBs: 5, IntervalInSeconds: 901 } }, 'results'],
    ['an unknown compression format', { ...base, CompressionFormat: 'BROTLI' }, 'results'],
  ])('refuses %s with ValidationException', (_case, destination, name) => {
    expect(rejection(destination, name).code).toBe('ValidationException');
  });
});
