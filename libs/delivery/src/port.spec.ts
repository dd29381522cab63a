/** The Firehose adapter's mapping, with a stubbed client (no Firehose-compatible server here yet). */
import { PutRecordBatchCommand, type FirehoseClient, type PutRecordBatchOutput } from '@aws-sdk/client-firehose';
import { firehoseDeliveryPort, UnexpectedPutRecordBatchResponseError } from './port';

function stubClient(output: PutRecordBatchOutput): { client: FirehoseClient; send: jest.Mock } {
  const send = jest.fn(async () => output);
  return { client: { send } as unknown as FirehoseClient, send };
}

const records = [0, 1, 2].map((i) => new Uint8Array([i]));
const ok = (n: number) => ({ RecordId: `record-${n}` });

describe('firehoseDeliveryPort', () => {
  it('sends one PutRecordBatch command with the delivery stream name and the data', async () => {
    const { client, send } = stubClient({ FailedPutCount: 0, RequestResponses: [ok(1), ok(2), ok(3)] });

    await firehoseDeliveryPort(client).putRecordBatch('results', records);

    const command = send.mock.calls[0][0] as PutRecordBatchCommand;
    expect(command).toBeInstanceOf(PutRecordBatchCommand);
    expect(command.input).toEqual({ DeliveryStreamName: 'results', Records: records.map((Data) => ({ Data })) });
  });

  it('resolves with no failures when FailedPutCount is 0', async () => {
    const { client } = stubClient({ FailedPutCount: 0, RequestResponses: [ok(1), ok(2), ok(3)] });

    await expect(firehoseDeliveryPort(client).putRecordBatch('results', records)).resolves.toEqual([]);
  });

  it('maps entries with an ErrorCode to failures at their index', async () => {
    const { client } = stubClient({
      FailedPutCount: 2,
      RequestResponses: [
        ok(1),
        { ErrorCode: 'ServiceUnavailableException', ErrorMessage: 'Slow down.' },
        { ErrorCode: 'InternalFailure', ErrorMessage: 'Internal failure.' },
      ],
    });

    const failures = await firehoseDeliveryPort(client).putRecordBatch('results', records);

    expect(failures).toEqual([
      { index: 1, code: 'ServiceUnavailableException', message: 'Slow down.' },
      { index: 2, code: 'InternalFailure', message: 'Internal failure.' },
    ]);
  });

  it('treats an entry without a record id as failed', async () => {
    const { client } = stubClient({ FailedPutCount: 0, RequestResponses: [ok(1), ok(2), {}] });

    const failures = await firehoseDeliveryPort(client).putRecordBatch('results', records);

    expect(failures).toEqual([{ index: 2, code: 'MissingRecordId', message: '' }]);
  });

  it('throws when the response has fewer results than records sent', async () => {
    const { client } = stubClient({ FailedPutCount: 0, RequestResponses: [ok(1)] });

    await expect(firehoseDeliveryPort(client).putRecordBatch('results', records)).rejects.toThrow(
      UnexpectedPutRecordBatchResponseError,
    );
  });

  it('lets a failed call through for the caller to retry', async () => {
    const { client, send } = stubClient({ FailedPutCount: 0, RequestResponses: [] });
    send.mockRejectedValueOnce(Object.assign(new Error('no such stream'), { name: 'ResourceNotFoundException' }));

    await expect(firehoseDeliveryPort(client).putRecordBatch('results', records)).rejects.toThrow('no such stream');
  });
});
