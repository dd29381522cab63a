import { ArnFormat, type Stack } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import { KINESIS } from '@pipeline/limits';
import type { RunStreamsPlan } from '@pipeline/run-streams';
import type { EventSourceSettings, InfraConfig } from '../config';
import { RESULTS_KEYS } from '../names';
import { acknowledgeWildcard } from '../nag';
import type { SharedRefs } from '../shared-refs';

/**
 * Per-run streams (`streams.lifecycle: 'per-run'`): what the always-on stacks deploy — both streams,
 * both mappings — written as a plan the reader opens at run start and the finisher's sweep retires,
 * with the same settings; and the least-privilege grants each needs.
 */
export function runStreamsPlan(config: InfraConfig, refs: SharedRefs): RunStreamsPlan {
  const mapping = (app: 'processor' | 'writer', streamName: string, settings: EventSourceSettings) => ({
    functionName: refs.functionArn(refs.names.functions[app]),
    streamName,
    batchSize: settings.batchSize,
    batchingWindowSeconds: settings.batchingWindowSeconds,
    parallelizationFactor: settings.parallelizationFactor,
    bisectBatchOnError: settings.bisectBatchOnError,
    retryAttempts: settings.retryAttempts,
    maxRecordAgeSeconds: settings.maxRecordAgeSeconds,
    startingPosition: settings.startingPosition,
    onFailureDestinationArn: refs.bucketArn('failures'),
  });
  const stream = (name: string, shardCount: number) => ({
    name,
    shardCount,
    retentionHours: config.streams.retentionHours,
    // What StreamEncryption.MANAGED deploys for the always-on streams.
    encryptionKeyId: KINESIS.managedKeyAlias,
  });
  return {
    streams: [
      stream(refs.names.recordsStream, config.streams.recordsShardCount),
      stream(refs.names.resultsStream, config.streams.resultsShardCount),
    ],
    mappings: [
      mapping('processor', refs.names.recordsStream, config.processor.eventSource),
      mapping('writer', refs.names.resultsStream, config.writer.eventSource),
    ],
    replayWindowHours: config.streams.replayWindowHours,
  };
}

/** The plan as the RUN_STREAMS environment variable carries it (tokens resolved at deploy time). */
export function runStreamsEnvironment(stack: Stack, config: InfraConfig, refs: SharedRefs): string {
  return stack.toJsonString(runStreamsPlan(config, refs));
}

function consumerArns(refs: SharedRefs): string[] {
  return [refs.functionArn(refs.names.functions.processor), refs.functionArn(refs.names.functions.writer)];
}

function mappingArns(stack: Stack): string {
  return stack.formatArn({
    service: 'lambda',
    resource: 'event-source-mapping',
    resourceName: '*',
    arnFormat: ArnFormat.COLON_RESOURCE_NAME,
  });
}

/**
 * What opening needs (the reader): create, describe and encrypt the two streams (and lengthen
 * their retention); list the mappings and create them for the processor and the writer only
 * (`lambda:FunctionArn`, the condition key CreateEventSourceMapping supports); a lease per run, put only.
 */
export function grantOpenStreams(role: iam.IRole, refs: SharedRefs): void {
  const streams = [refs.recordsStreamArn, refs.resultsStreamArn];
  const statements = [
    new iam.PolicyStatement({
      sid: 'OpenRunStreams',
      actions: [
        'kinesis:CreateStream',
        'kinesis:DescribeStreamSummary',
        'kinesis:StartStreamEncryption',
        'kinesis:IncreaseStreamRetentionPeriod',
      ],
      resources: streams,
    }),
    // The reader's lease is its own object, written whole, never read: a redrive holds a lease of its own.
    new iam.PolicyStatement({
      sid: 'StreamsLease',
      actions: ['s3:PutObject'],
      resources: [refs.keysArn('results', RESULTS_KEYS.streamsLeases)],
    }),
    // After its lease, the reader looks for a sweep's mark, and waits while there is one.
    new iam.PolicyStatement({
      sid: 'StreamsRetiringMark',
      actions: ['s3:GetObject'],
      resources: [refs.keysArn('results', RESULTS_KEYS.streamsRetiring)],
    }),
  ];
  for (const statement of statements) role.addToPrincipalPolicy(statement);
  grantCreateMappings(role, refs);
  acknowledgeWildcard(
    role,
    refs.keysArn('results', RESULTS_KEYS.streamsLeases),
    'One lease per run (streams/opened/<run>.json); put, never read or deleted by the reader',
  );
}

/**
 * What retiring needs (the finisher's sweep): describe and delete the two streams; list the
 * mappings, delete (and, if a run opened the streams during the sweep, re-create) the processor's
 * and writer's; read and remove the leases, record the retirement.
 */
export function grantRetireStreams(role: iam.IRole, stack: Stack, refs: SharedRefs): void {
  const streams = [refs.recordsStreamArn, refs.resultsStreamArn];
  const functions = { StringEquals: { 'lambda:FunctionArn': consumerArns(refs) } };
  const statements = [
    new iam.PolicyStatement({
      sid: 'RetireRunStreams',
      actions: ['kinesis:DescribeStreamSummary', 'kinesis:DeleteStream'],
      resources: streams,
    }),
    new iam.PolicyStatement({
      sid: 'DeleteRunMappings',
      actions: ['lambda:DeleteEventSourceMapping'],
      resources: [mappingArns(stack)],
      conditions: functions,
    }),
    new iam.PolicyStatement({
      sid: 'StreamsLeases',
      actions: ['s3:GetObject', 's3:DeleteObject'],
      resources: [refs.keysArn('results', RESULTS_KEYS.streamsLeases)],
    }),
    new iam.PolicyStatement({
      sid: 'StreamsRetired',
      actions: ['s3:PutObject'],
      resources: [refs.keysArn('results', RESULTS_KEYS.streamsRetired)],
    }),
    // The sweep's mark: read when another's is there, removed when the sweep ends.
    new iam.PolicyStatement({
      sid: 'StreamsRetiringMark',
      actions: ['s3:GetObject', 's3:DeleteObject'],
      resources: [refs.keysArn('results', RESULTS_KEYS.streamsRetiring)],
    }),
    // Put only by a conditional write: if absent (If-None-Match), or over a stale mark as it was read
    // (If-Match, which also takes s3:GetObject): never over another sweep's mark it did not read.
    ...(['s3:if-none-match', 's3:if-match'] as const).map(
      (header) =>
        new iam.PolicyStatement({
          sid: header === 's3:if-match' ? 'TakeOverStaleMark' : 'MakeRetiringMark',
          actions: ['s3:PutObject'],
          resources: [refs.keysArn('results', RESULTS_KEYS.streamsRetiring)],
          conditions: { Null: { [header]: 'false' } },
        }),
    ),
  ];
  for (const statement of statements) role.addToPrincipalPolicy(statement);
  acknowledgeWildcard(
    role,
    mappingArns(stack),
    "Mapping UUIDs are Lambda's; deleting is limited to the processor's and writer's by lambda:FunctionArn",
  );
  // Listing, and re-creating a mapping when a run opened the streams during the sweep.
  grantCreateMappings(role, refs);
  acknowledgeWildcard(
    role,
    refs.keysArn('results', RESULTS_KEYS.streamsLeases),
    'The sweep reads and removes the leases (streams/opened/<run>.json, streams/opened/<run>/<slice>.json) of the streams it retired',
  );
}

/**
 * Listing the mappings and creating them for the processor and the writer only: neither call supports
 * a resource type, so `*`, with `lambda:FunctionArn` (which CreateEventSourceMapping supports) on create.
 */
function grantCreateMappings(role: iam.IRole, refs: SharedRefs): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'CreateRunMappings',
      actions: ['lambda:CreateEventSourceMapping'],
      resources: ['*'],
      conditions: { StringEquals: { 'lambda:FunctionArn': consumerArns(refs) } },
    }),
  );
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({ sid: 'ListRunMappings', actions: ['lambda:ListEventSourceMappings'], resources: ['*'] }),
  );
  acknowledgeWildcard(
    role,
    '*',
    'CreateEventSourceMapping and ListEventSourceMappings support no resource type; creating is limited to the processor and writer by lambda:FunctionArn',
  );
}

/** Grants a consumer what its mapping reads with, as KinesisEventSource does for always-on streams. */
export function grantMappingRead(role: iam.IRole, streamArn: string): void {
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      sid: 'ReadStreamForMapping',
      actions: [
        'kinesis:DescribeStreamSummary',
        'kinesis:GetRecords',
        'kinesis:GetShardIterator',
        'kinesis:ListShards',
        'kinesis:SubscribeToShard',
        'kinesis:DescribeStream',
        'kinesis:ListStreams',
        'kinesis:DescribeStreamConsumer',
      ],
      resources: [streamArn],
    }),
  );
}
