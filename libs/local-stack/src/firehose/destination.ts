/**
 * Delivery-stream definitions: checking a CreateDeliveryStream request the way Firehose does,
 * compiling it into what delivery needs, and describing it back as DescribeDeliveryStream does.
 *
 * Pure functions; the definitions themselves are plain JSON so they can be persisted as given.
 */
import { FIREHOSE, MiB } from '@pipeline/limits';
import { invalidArgument, LOCAL_ACCOUNT_ID, validationError } from './errors';
import { type MetadataQuery, parseMetadataQuery, UnsupportedMetadataQueryError } from './jq';
import {
  DEFAULT_TIME_PREFIX,
  hasExpressions,
  hasTimestamp,
  parsePrefix,
  partitionKeyNames,
  type PrefixPart,
  PrefixSyntaxError,
} from './prefix';

/** What is persisted per delivery stream: the request's destination as given, plus identity. */
export interface StoredDeliveryStream {
  name: string;
  arn: string;
  /** Epoch ms. */
  createdAt: number;
  versionId: string;
  /** ExtendedS3DestinationConfiguration as sent (an S3DestinationConfiguration is stored in this shape). */
  destination: ExtendedS3Configuration;
}

/** The members of ExtendedS3DestinationConfiguration the local endpoint reads (JSON as the SDK sends it). */
export interface ExtendedS3Configuration {
  RoleARN?: string;
  BucketARN?: string;
  Prefix?: string;
  ErrorOutputPrefix?: string;
  BufferingHints?: { SizeInMBs?: number; IntervalInSeconds?: number };
  CompressionFormat?: string;
  FileExtension?: string;
  CustomTimeZone?: string;
  EncryptionConfiguration?: unknown;
  CloudWatchLoggingOptions?: unknown;
  ProcessingConfiguration?: {
    Enabled?: boolean;
    Processors?: { Type?: string; Parameters?: { ParameterName?: string; ParameterValue?: string }[] }[];
  };
  DynamicPartitioningConfiguration?: { Enabled?: boolean; RetryOptions?: unknown };
  DataFormatConversionConfiguration?: { Enabled?: boolean };
  S3BackupMode?: string;
  [member: string]: unknown;
}

/** What delivery needs, derived from a stored definition. */
export interface CompiledDestination {
  bucket: string;
  /** Prefix with Firehose's default time prefix appended where it applies. */
  prefix: PrefixPart[];
  errorOutputPrefix?: PrefixPart[];
  sizeBytes: number;
  intervalMs: number;
  gzip: boolean;
  /** Appended to every object key: FileExtension, else `.gz` for GZIP. */
  extension: string;
  /** Present when dynamic partitioning with inline (jq) parsing is enabled. */
  query?: MetadataQuery;
  /** The partition keys the prefix uses: records are buffered per distinct combination. */
  partitionKeys: string[];
  /** AppendDelimiterToRecord processor: a newline after every record. */
  appendDelimiter: boolean;
  /** RecordDeAggregation processor: each record is split into sub-records before partitioning. */
  deaggregation?: { type: 'JSON' } | { type: 'DELIMITED'; delimiter: Buffer };
}

const STREAM_NAME = /^[a-zA-Z0-9_.-]+$/;
const MAX_STREAM_NAME = 64;
const BUCKET_ARN = /^arn:[^:]*:s3:::[\w.-]{1,255}$/;
const ROLE_ARN = /^arn:[^:]*:iam::\d{12}:role\/[\w+=,.@/-]+$/;
const MAX_PREFIX = 1024;
const COMPRESSION_FORMATS = ['UNCOMPRESSED', 'GZIP', 'ZIP', 'Snappy', 'HADOOP_SNAPPY'];
const DESTINATION_MEMBERS = [
  'S3DestinationConfiguration',
  'ExtendedS3DestinationConfiguration',
  'RedshiftDestinationConfiguration',
  'ElasticsearchDestinationConfiguration',
  'AmazonopensearchserviceDestinationConfiguration',
  'SplunkDestinationConfiguration',
  'HttpEndpointDestinationConfiguration',
  'AmazonOpenSearchServerlessDestinationConfiguration',
  'SnowflakeDestinationConfiguration',
  'IcebergDestinationConfiguration',
];
/** Firehose names its only destination so. */
export const DESTINATION_ID = 'destinationId-000000000001';

/** Model constraints every operation checks on DeliveryStreamName. */
export function streamNameViolations(name: unknown, member = 'deliveryStreamName'): string[] {
  if (name === undefined || name === null)
    return [`Value null at '${member}' failed to satisfy constraint: Member must not be null`];
  if (typeof name !== 'string') return [`Value at '${member}' failed to satisfy constraint: Member must be a string`];
  const violations: string[] = [];
  if (name.length < 1 || name.length > MAX_STREAM_NAME) {
    violations.push(
      `Value '${name}' at '${member}' failed to satisfy constraint: Member must have length between 1 and ${MAX_STREAM_NAME}`,
    );
  }
  if (!STREAM_NAME.test(name)) {
    violations.push(
      `Value '${name}' at '${member}' failed to satisfy constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+`,
    );
  }
  return violations;
}

/**
 * Checks a CreateDeliveryStream request and returns the definition to store.
 *
 * @example
 * defineDeliveryStream({ DeliveryStreamName: 'results', ExtendedS3DestinationConfiguration: { RoleARN, BucketARN: 'arn:aws:s3:::out' } },
 *   { region: 'us-east-1', now: Date.now() });
 */
export function defineDeliveryStream(
  input: Record<string, unknown>,
  context: { region: string; now: number },
): StoredDeliveryStream {
  const name = input.DeliveryStreamName;
  const violations = streamNameViolations(name);
  if (violations.length > 0) throw validationError(violations);
  const streamName = name as string;

  const type = input.DeliveryStreamType ?? 'DirectPut';
  if (type !== 'DirectPut') {
    throw invalidArgument(
      `DeliveryStreamType ${String(type)} is not supported by the local Firehose; use DirectPut and PutRecord/PutRecordBatch`,
    );
  }
  const given = DESTINATION_MEMBERS.filter((member) => input[member] !== undefined && input[member] !== null);
  if (given.length !== 1) {
    throw invalidArgument(
      `Exactly one destination configuration is required; got ${given.length === 0 ? 'none' : given.join(', ')}`,
    );
  }
  const [member] = given;
  if (member !== 'ExtendedS3DestinationConfiguration' && member !== 'S3DestinationConfiguration') {
    throw invalidArgument(`${member} is not supported by the local Firehose; use ExtendedS3DestinationConfiguration`);
  }
  const destination = input[member] as ExtendedS3Configuration;
  checkConstraints(
    destination,
    member === 'ExtendedS3DestinationConfiguration'
      ? 'extendedS3DestinationConfiguration'
      : 's3DestinationConfiguration',
  );
  const stored: StoredDeliveryStream = {
    name: streamName,
    arn: `arn:aws:firehose:${context.region}:${LOCAL_ACCOUNT_ID}:deliverystream/${streamName}`,
    createdAt: context.now,
    versionId: '1',
    destination,
  };
  compileDestination(stored);
  return stored;
}

function checkConstraints(destination: ExtendedS3Configuration, path: string): void {
  const violations: string[] = [];
  const required = (member: 'RoleARN' | 'BucketARN', pattern: RegExp, hint: string) => {
    const value = destination[member];
    const at = `${path}.${member.charAt(0).toLowerCase()}${member.slice(1)}`;
    if (typeof value !== 'string')
      violations.push(`Value null at '${at}' failed to satisfy constraint: Member must not be null (${hint})`);
    else if (!pattern.test(value))
      violations.push(
        `Value '${value}' at '${at}' failed to satisfy constraint: Member must satisfy regular expression pattern: ${pattern.source}`,
      );
  };
  required('RoleARN', ROLE_ARN, 'any role ARN works locally, e.g. arn:aws:iam::000000000000:role/firehose');
  required('BucketARN', BUCKET_ARN, 'e.g. arn:aws:s3:::my-bucket');
  for (const member of ['Prefix', 'ErrorOutputPrefix'] as const) {
    const value = destination[member];
    if (value !== undefined && (typeof value !== 'string' || value.length > MAX_PREFIX)) {
      violations.push(
        `Value at '${path}.${member.charAt(0).toLowerCase()}${member.slice(1)}' failed to satisfy constraint: Member must have length less than or equal to ${MAX_PREFIX}`,
      );
    }
  }
  const hints = destination.BufferingHints;
  const { minSizeMiB, maxSizeMiB, minIntervalSeconds, maxIntervalSeconds } = FIREHOSE.buffering;
  if (hints?.SizeInMBs !== undefined && !inRange(hints.SizeInMBs, minSizeMiB, maxSizeMiB)) {
    violations.push(
      `Value '${hints.SizeInMBs}' at '${path}.bufferingHints.sizeInMBs' failed to satisfy constraint: Member must have value between ${minSizeMiB} and ${maxSizeMiB}`,
    );
  }
  if (
    hints?.IntervalInSeconds !== undefined &&
    !inRange(hints.IntervalInSeconds, minIntervalSeconds, maxIntervalSeconds)
  ) {
    violations.push(
      `Value '${hints.IntervalInSeconds}' at '${path}.bufferingHints.intervalInSeconds' failed to satisfy constraint: Member must have value between ${minIntervalSeconds} and ${maxIntervalSeconds}`,
    );
  }
  const compression = destination.CompressionFormat;
  if (compression !== undefined && !COMPRESSION_FORMATS.includes(compression)) {
    violations.push(
      `Value '${compression}' at '${path}.compressionFormat' failed to satisfy constraint: Member must satisfy enum value set: [${COMPRESSION_FORMATS.join(', ')}]`,
    );
  }
  if (violations.length > 0) throw validationError(violations);
}

function inRange(value: unknown, min: number, max: number): boolean {
  return typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max;
}

/**
 * Derives what delivery needs, applying Firehose's documented prefix rules. Throws
 * InvalidArgumentException for what Firehose refuses, and for what the local endpoint cannot do.
 */
export function compileDestination(stored: StoredDeliveryStream): CompiledDestination {
  const destination = stored.destination;
  const dynamicPartitioning = destination.DynamicPartitioningConfiguration?.Enabled === true;
  const rawPrefix = destination.Prefix ?? '';
  const rawErrorPrefix = destination.ErrorOutputPrefix || undefined;
  const prefix = parseOrReject(rawPrefix);
  const errorOutputPrefix = rawErrorPrefix === undefined ? undefined : parseOrReject(rawErrorPrefix);

  if (prefix.some((part) => part.kind === 'errorOutputType')) {
    throw invalidArgument('Prefix cannot contain !{firehose:error-output-type}; use it in ErrorOutputPrefix');
  }
  if (errorOutputPrefix === undefined && hasExpressions(prefix)) {
    throw invalidArgument('ErrorOutputPrefix cannot be null when Prefix contains expressions');
  }
  if (
    errorOutputPrefix !== undefined &&
    hasExpressions(errorOutputPrefix) &&
    !errorOutputPrefix.some((part) => part.kind === 'errorOutputType')
  ) {
    throw invalidArgument(
      'ErrorOutputPrefix with expressions must contain !{firehose:error-output-type} at least once',
    );
  }
  if (errorOutputPrefix?.some((part) => part.kind === 'partitionKey')) {
    throw invalidArgument('ErrorOutputPrefix cannot contain partitionKeyFromQuery expressions');
  }

  const processing = destination.ProcessingConfiguration;
  const processors = processing?.Enabled === true ? (processing.Processors ?? []) : [];
  let query: MetadataQuery | undefined;
  let appendDelimiter = false;
  let deaggregation: CompiledDestination['deaggregation'];
  for (const processor of processors) {
    const parameters = new Map((processor.Parameters ?? []).map((p) => [p.ParameterName, p.ParameterValue]));
    if (processor.Type === 'MetadataExtraction') {
      const text = parameters.get('MetadataExtractionQuery');
      if (!text) throw invalidArgument('MetadataExtraction processor requires the MetadataExtractionQuery parameter');
      try {
        query = parseMetadataQuery(text);
      } catch (error) {
        if (error instanceof UnsupportedMetadataQueryError) throw invalidArgument(error.message);
        throw error;
      }
    } else if (processor.Type === 'AppendDelimiterToRecord') {
      appendDelimiter = true;
    } else if (processor.Type === 'RecordDeAggregation') {
      const type = parameters.get('SubRecordType');
      if (type === 'JSON') deaggregation = { type: 'JSON' };
      else if (type === 'DELIMITED') {
        const delimiter = parameters.get('Delimiter');
        if (!delimiter)
          throw invalidArgument(
            'RecordDeAggregation with SubRecordType DELIMITED requires the Delimiter parameter (base64)',
          );
        deaggregation = { type: 'DELIMITED', delimiter: Buffer.from(delimiter, 'base64') };
      } else throw invalidArgument('RecordDeAggregation requires SubRecordType JSON or DELIMITED');
    } else {
      throw invalidArgument(
        `Processor type ${String(processor.Type)} is not supported by the local Firehose (supported: MetadataExtraction, AppendDelimiterToRecord, RecordDeAggregation)`,
      );
    }
  }

  const partitionKeys = [...new Set(partitionKeyNames(prefix))];
  const given = destination.BufferingHints;
  if (given && (given.SizeInMBs === undefined) !== (given.IntervalInSeconds === undefined)) {
    // BufferingHints (API reference): "if you specify a value for one of them, you must also provide a value for the other".
    throw invalidArgument('BufferingHints needs both SizeInMBs and IntervalInSeconds, or neither');
  }
  if (dynamicPartitioning) {
    if (errorOutputPrefix === undefined)
      throw invalidArgument('ErrorOutputPrefix is required when dynamic partitioning is enabled');
    // "Zero buffering feature is not available for dynamic partitioning" (Buffer data for dynamic partitioning).
    if (given?.IntervalInSeconds === 0)
      throw invalidArgument(
        'BufferingHints.IntervalInSeconds 0 (zero buffering) is not available with dynamic partitioning',
      );
    if (query === undefined) {
      throw invalidArgument(
        'Dynamic partitioning needs a MetadataExtraction processor in an enabled ProcessingConfiguration (the local Firehose has no Lambda processor)',
      );
    }
    const missing = partitionKeys.filter((key) => !query!.has(key));
    if (missing.length > 0)
      throw invalidArgument(
        `Prefix uses partition keys the MetadataExtractionQuery does not define: ${missing.join(', ')}`,
      );
  } else if (partitionKeys.length > 0) {
    throw invalidArgument('Prefix uses partitionKeyFromQuery but dynamic partitioning is not enabled');
  }

  if (destination.DataFormatConversionConfiguration?.Enabled === true) {
    throw invalidArgument('DataFormatConversionConfiguration is not supported by the local Firehose');
  }
  if (destination.S3BackupMode !== undefined && destination.S3BackupMode !== 'Disabled') {
    throw invalidArgument('S3BackupMode Enabled is not supported by the local Firehose');
  }
  if (destination.CustomTimeZone !== undefined && destination.CustomTimeZone !== 'UTC') {
    throw invalidArgument('CustomTimeZone other than UTC is not supported by the local Firehose');
  }
  const compression = destination.CompressionFormat ?? 'UNCOMPRESSED';
  if (compression !== 'UNCOMPRESSED' && compression !== 'GZIP') {
    throw invalidArgument(
      `CompressionFormat ${compression} is not supported by the local Firehose (use UNCOMPRESSED or GZIP)`,
    );
  }

  const bucket = (destination.BucketARN as string).split(':::')[1];
  const hints = bufferingHints(destination);
  // "If you specify a prefix that doesn't contain a timestamp namespace expression, Firehose appends
  // !{timestamp:yyyy/MM/dd/HH/}". With dynamic partitioning the documented keys show no such time
  // (e.g. customer_id=1234567890/device=mobile/.../<suffix>), so it is not appended there.
  const effectivePrefix =
    !dynamicPartitioning && !hasTimestamp(prefix) ? [...prefix, ...parsePrefix(DEFAULT_TIME_PREFIX)] : prefix;
  return {
    bucket,
    prefix: effectivePrefix,
    errorOutputPrefix,
    sizeBytes: hints.SizeInMBs * MiB,
    intervalMs: hints.IntervalInSeconds * 1000,
    gzip: compression === 'GZIP',
    extension: destination.FileExtension ?? (compression === 'GZIP' ? '.gz' : ''),
    query: dynamicPartitioning ? query : undefined,
    partitionKeys,
    appendDelimiter,
    deaggregation: dynamicPartitioning ? deaggregation : undefined,
  };
}

function parseOrReject(template: string): PrefixPart[] {
  try {
    return parsePrefix(template);
  } catch (error) {
    if (error instanceof PrefixSyntaxError) throw invalidArgument(error.message);
    throw error;
  }
}

function bufferingHints(destination: ExtendedS3Configuration): { SizeInMBs: number; IntervalInSeconds: number } {
  return {
    SizeInMBs: destination.BufferingHints?.SizeInMBs ?? FIREHOSE.buffering.defaultSizeMiB,
    IntervalInSeconds: destination.BufferingHints?.IntervalInSeconds ?? FIREHOSE.buffering.defaultIntervalSeconds,
  };
}

/** DescribeDeliveryStream's DeliveryStreamDescription, defaults filled in as Firehose reports them. */
export function describeDeliveryStream(stored: StoredDeliveryStream): Record<string, unknown> {
  const destination = stored.destination;
  const common = {
    RoleARN: destination.RoleARN,
    BucketARN: destination.BucketARN,
    Prefix: destination.Prefix,
    ErrorOutputPrefix: destination.ErrorOutputPrefix,
    BufferingHints: bufferingHints(destination),
    CompressionFormat: destination.CompressionFormat ?? 'UNCOMPRESSED',
    EncryptionConfiguration: destination.EncryptionConfiguration ?? { NoEncryptionConfig: 'NoEncryption' },
    CloudWatchLoggingOptions: destination.CloudWatchLoggingOptions ?? { Enabled: false },
  };
  return {
    DeliveryStreamName: stored.name,
    DeliveryStreamARN: stored.arn,
    // Created ACTIVE at once (AWS passes through CREATING first), like kinesalite with createStreamMs 0.
    DeliveryStreamStatus: 'ACTIVE',
    DeliveryStreamType: 'DirectPut',
    DeliveryStreamEncryptionConfiguration: { Status: 'DISABLED' },
    VersionId: stored.versionId,
    CreateTimestamp: stored.createdAt / 1000,
    Destinations: [
      {
        DestinationId: DESTINATION_ID,
        S3DestinationDescription: common,
        ExtendedS3DestinationDescription: {
          ...common,
          ProcessingConfiguration: destination.ProcessingConfiguration ?? { Enabled: false, Processors: [] },
          DynamicPartitioningConfiguration: destination.DynamicPartitioningConfiguration,
          FileExtension: destination.FileExtension,
          S3BackupMode: destination.S3BackupMode ?? 'Disabled',
        },
      },
    ],
    HasMoreDestinations: false,
  };
}
