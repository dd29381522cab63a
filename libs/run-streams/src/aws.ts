import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  IncreaseStreamRetentionPeriodCommand,
  type KinesisClient,
  StartStreamEncryptionCommand,
} from '@aws-sdk/client-kinesis';
import {
  CreateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  type LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import type { MappingState, StreamsPort } from './port';

const errorName = (error: unknown) => (error as { name?: string })?.name;

/**
 * The Kinesis and Lambda calls behind {@link StreamsPort}. "Already there" and "already gone" are
 * results, not errors: two readers may open the same streams at once, and a sweep may retry.
 *
 * @example const port = awsStreamsPort(kinesisClient(), new LambdaClient({}));
 */
export function awsStreamsPort(kinesis: KinesisClient, lambda: LambdaClient): StreamsPort {
  return {
    async describeStream(name) {
      try {
        const { StreamDescriptionSummary: s } = await kinesis.send(
          new DescribeStreamSummaryCommand({ StreamName: name }),
        );
        if (!s?.StreamARN || !s.StreamStatus)
          throw new Error(`DescribeStreamSummary of ${name} returned no ARN or status`);
        return {
          arn: s.StreamARN,
          status: s.StreamStatus,
          encrypted: s.EncryptionType === 'KMS',
          retentionHours: s.RetentionPeriodHours ?? 0,
          createdAt: s.StreamCreationTimestamp,
        };
      } catch (error) {
        if (errorName(error) === 'ResourceNotFoundException') return undefined;
        throw error;
      }
    },
    async createStream(spec) {
      try {
        await kinesis.send(
          new CreateStreamCommand({
            StreamName: spec.name,
            ShardCount: spec.shardCount,
            StreamModeDetails: { StreamMode: 'PROVISIONED' },
          }),
        );
        return 'created';
      } catch (error) {
        if (errorName(error) === 'ResourceInUseException') return 'exists';
        throw error;
      }
    },
    async increaseRetention(name, hours) {
      try {
        await kinesis.send(new IncreaseStreamRetentionPeriodCommand({ StreamName: name, RetentionPeriodHours: hours }));
        return 'started';
      } catch (error) {
        if (errorName(error) === 'ResourceInUseException') return 'busy';
        throw error;
      }
    },
    async startEncryption(name, keyId) {
      try {
        await kinesis.send(new StartStreamEncryptionCommand({ StreamName: name, EncryptionType: 'KMS', KeyId: keyId }));
        return 'started';
      } catch (error) {
        if (errorName(error) === 'ResourceInUseException') return 'busy';
        throw error;
      }
    },
    async deleteStream(name) {
      try {
        await kinesis.send(new DeleteStreamCommand({ StreamName: name }));
        return 'deleting';
      } catch (error) {
        if (errorName(error) === 'ResourceNotFoundException') return 'missing';
        throw error;
      }
    },
    async listMappings(functionName, streamArn) {
      const found: MappingState[] = [];
      let marker: string | undefined;
      do {
        const page = await lambda.send(
          new ListEventSourceMappingsCommand({ FunctionName: functionName, EventSourceArn: streamArn, Marker: marker }),
        );
        for (const m of page.EventSourceMappings ?? []) if (m.UUID) found.push({ uuid: m.UUID, state: m.State ?? '' });
        marker = page.NextMarker;
      } while (marker);
      return found;
    },
    async createMapping(spec, streamArn) {
      try {
        await lambda.send(
          new CreateEventSourceMappingCommand({
            FunctionName: spec.functionName,
            EventSourceArn: streamArn,
            BatchSize: spec.batchSize,
            MaximumBatchingWindowInSeconds: spec.batchingWindowSeconds,
            ParallelizationFactor: spec.parallelizationFactor,
            BisectBatchOnFunctionError: spec.bisectBatchOnError,
            MaximumRetryAttempts: spec.retryAttempts,
            MaximumRecordAgeInSeconds: spec.maxRecordAgeSeconds,
            StartingPosition: spec.startingPosition,
            FunctionResponseTypes: ['ReportBatchItemFailures'],
            DestinationConfig: spec.onFailureDestinationArn
              ? { OnFailure: { Destination: spec.onFailureDestinationArn } }
              : undefined,
            MetricsConfig: { Metrics: ['EventCount'] },
            Enabled: true,
          }),
        );
        return 'created';
      } catch (error) {
        if (errorName(error) === 'ResourceConflictException') return 'exists';
        throw error;
      }
    },
    async deleteMapping(uuid) {
      try {
        await lambda.send(new DeleteEventSourceMappingCommand({ UUID: uuid }));
        return 'deleting';
      } catch (error) {
        if (errorName(error) === 'ResourceNotFoundException') return 'missing';
        throw error;
      }
    },
  };
}
