import {
  CreateEventSourceMappingCommand,
  DeleteEventSourceMappingCommand,
  GetEventSourceMappingCommand,
  LambdaClient,
  ListEventSourceMappingsCommand,
} from '@aws-sdk/client-lambda';
import { EventSourceMappingConfigError } from '../event-source/errors';
import { type LocalLambda, type LocalMappingRequest, startLocalLambda } from './service';

const ARN = 'arn:aws:kinesis:us-east-1:000000000000:stream/records';

describe('the local Lambda event source mapping API', () => {
  let service: LocalLambda;
  let client: LambdaClient;
  const started: LocalMappingRequest[] = [];
  const stopped: string[] = [];
  const streams = new Set(['records']);

  beforeEach(async () => {
    started.length = 0;
    stopped.length = 0;
    service = await startLocalLambda({
      functions: [],
      mappings: {
        functions: ['processor'],
        streamActive: async (name) => streams.has(name),
        start: async (request) => {
          if ((request.batchSize ?? 100) > 10_000)
            throw new EventSourceMappingConfigError('batchSize must be at most 10000');
          started.push(request);
          return { stop: async () => void stopped.push(request.uuid) };
        },
      },
    });
    client = new LambdaClient({
      endpoint: service.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    });
  });
  afterEach(async () => {
    client.destroy();
    await service.close();
  });

  const create = (overrides: Record<string, unknown> = {}) =>
    client.send(
      new CreateEventSourceMappingCommand({
        FunctionName: 'processor',
        EventSourceArn: ARN,
        StartingPosition: 'TRIM_HORIZON',
        BatchSize: 500,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: 5,
        MaximumRecordAgeInSeconds: 3_600,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: 'arn:aws:s3:::failures' } },
        ...overrides,
      }),
    );

  it('creates a mapping that starts polling with the settings asked for, answering State Creating', async () => {
    const created = await create();
    expect(created).toMatchObject({ State: 'Creating', EventSourceArn: ARN, BatchSize: 500 });
    expect(started).toEqual([
      expect.objectContaining({
        uuid: created.UUID,
        functionName: 'processor',
        streamName: 'records',
        batchSize: 500,
        bisectBatchOnFunctionError: true,
        maximumRetryAttempts: 5,
        maximumRecordAgeInSeconds: 3_600,
        functionResponseTypes: ['ReportBatchItemFailures'],
        onFailureDestination: 'arn:aws:s3:::failures',
      }),
    ]);
  });

  it('lists mappings by function and stream, and gets one by UUID', async () => {
    const { UUID } = await create();
    const listed = await client.send(
      new ListEventSourceMappingsCommand({ FunctionName: 'processor', EventSourceArn: ARN }),
    );
    expect(listed.EventSourceMappings?.map((m) => m.UUID)).toEqual([UUID]);
    const other = await client.send(new ListEventSourceMappingsCommand({ FunctionName: 'writer' }));
    expect(other.EventSourceMappings).toEqual([]);
    expect(await client.send(new GetEventSourceMappingCommand({ UUID }))).toMatchObject({ UUID, State: 'Enabled' });
  });

  it('refuses a second mapping of the same function and stream with ResourceConflictException', async () => {
    const results = await Promise.allSettled([create(), create()]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({
      reason: { name: 'ResourceConflictException' },
    });
    expect(started).toHaveLength(1);
  });

  it('refuses a missing function, a missing stream and settings out of range', async () => {
    await expect(create({ FunctionName: 'nobody' })).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
    await expect(create({ EventSourceArn: `${ARN}-gone` })).rejects.toMatchObject({
      name: 'InvalidParameterValueException',
    });
    await expect(create({ BatchSize: 10_001 })).rejects.toMatchObject({ name: 'InvalidParameterValueException' });
    expect(started).toEqual([]);
  });

  it('deletes a mapping: its poller stops, it stays Deleting for a while, then it is gone', async () => {
    const { UUID } = await create();
    expect(await client.send(new DeleteEventSourceMappingCommand({ UUID }))).toMatchObject({ State: 'Deleting' });
    expect(stopped).toEqual([UUID]);
    const list = async () =>
      (await client.send(new ListEventSourceMappingsCommand({}))).EventSourceMappings?.map((m) => m.State);
    expect(await list()).toEqual(['Deleting']);
    await expect(client.send(new DeleteEventSourceMappingCommand({ UUID }))).rejects.toMatchObject({
      name: 'ResourceInUseException',
    });
    expect(await list()).toEqual([]);
    await expect(client.send(new DeleteEventSourceMappingCommand({ UUID }))).rejects.toMatchObject({
      name: 'ResourceNotFoundException',
    });
  });

  it('refuses a new mapping of the same function and stream while the deleted one is still Deleting', async () => {
    const { UUID } = await create();
    await client.send(new DeleteEventSourceMappingCommand({ UUID }));
    await expect(create()).rejects.toMatchObject({ name: 'ResourceConflictException' });
    await expect(create()).rejects.toMatchObject({ name: 'ResourceConflictException' });
    expect(await create()).toMatchObject({ State: 'Creating' });
  });
});
