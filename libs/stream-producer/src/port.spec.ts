/** Edge cases of the Kinesis adapter that kinesalite never produces (it accepts every entry). */
import { PutRecordsCommand, type KinesisClient, type PutRecordsOutput } from '@aws-sdk/client-kinesis';
import { kinesisPutRecordsPort, UnexpectedPutRecordsResponseError } from './port';

function stubClient(output: PutRecordsOutput): { client: KinesisClient; send: jest.Mock } {
  const send = jest.fn(async () => output);
  return { client: { send } as unknown as KinesisClient, send };
}

const records = [0, 1, 2].map((i) => ({ data: new Uint8Array([i]), partitionKey: `k${i}` }));
const ok = (n: number) => ({ SequenceNumber: `${n}`, ShardId: 'shardId-000000000000' });

describe('kinesisPutRecordsPort', () => {
  it('sends one PutRecords command with the stream name, data and partition keys', async () => {
    const { client, send } = stubClient({ FailedRecordCount: 0, Records: [ok(1), ok(2), ok(3)] });

    await kinesisPutRecordsPort(client).putRecords('records', records);

    const command = send.mock.calls[0][0] as PutRecordsCommand;
    expect(command).toBeInstanceOf(PutRecordsCommand);
    expect(command.input).toEqual({
      StreamName: 'records',
      Records: records.map((r) => ({ Data: r.data, PartitionKey: r.partitionKey })),
    });
  });

  it('maps entries with an ErrorCode to failures at their index', async () => {
    const { client } = stubClient({
      FailedRecordCount: 2,
      Records: [
        { ErrorCode: 'ProvisionedThroughputExceededException', ErrorMessage: 'Rate exceeded for shard' },
        ok(2),
        { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal service failure.' },
      ],
    });

    const failures = await kinesisPutRecordsPort(client).putRecords('records', records);

    expect(failures).toEqual([
      { index: 0, code: 'ProvisionedThroughputExceededException', message: 'Rate exceeded for shard' },
      { index: 2, code: 'InternalFailure', message: 'Internal service failure.' },
    ]);
  });

  it('treats an entry without a sequence number as failed', async () => {
    const { client } = stubClient({ FailedRecordCount: 0, Records: [ok(1), {}, ok(3)] });

    const failures = await kinesisPutRecordsPort(client).putRecords('records', records);

    expect(failures).toEqual([{ index: 1, code: 'MissingSequenceNumber', message: '' }]);
  });

  it('throws when the response has fewer results than records sent', async () => {
    const { client } = stubClient({ FailedRecordCount: 0, Records: [ok(1)] });

    await expect(kinesisPutRecordsPort(client).putRecords('records', records)).rejects.toThrow(
      UnexpectedPutRecordsResponseError,
    );
  });
});
