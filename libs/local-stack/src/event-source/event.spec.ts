import { EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import { EVENT_ENVELOPE_BYTES, eventBytes, eventRecordBytes, laneOf, takeCount, toEventRecord } from './event';

const source = {
  shardId: 'shardId-000000000003',
  streamArn: 'arn:aws:kinesis:eu-west-1:123456789012:stream/records',
  awsRegion: 'eu-west-1',
  invokeIdentityArn: 'arn:aws:iam::123456789012:role/processor-role',
};
const record = {
  sequenceNumber: '4959',
  partitionKey: 'run-1/slice-2',
  data: Buffer.from('{"a":1}'),
  approximateArrivalTimestamp: new Date(1545084650987),
};

describe('toEventRecord', () => {
  it('builds the record Lambda delivers, with base64 data and arrival in epoch seconds', () => {
    expect(toEventRecord(record, source)).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'run-1/slice-2',
        sequenceNumber: '4959',
        data: 'eyJhIjoxfQ==',
        approximateArrivalTimestamp: 1545084650.987,
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: 'shardId-000000000003:4959',
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: source.invokeIdentityArn,
      awsRegion: 'eu-west-1',
      eventSourceARN: source.streamArn,
    });
  });
});

describe('eventBytes', () => {
  it('equals the length of the serialized event', () => {
    const records = [toEventRecord(record, source), toEventRecord({ ...record, sequenceNumber: '4960' }, source)];

    expect(eventBytes(records.map(eventRecordBytes))).toBe(Buffer.byteLength(JSON.stringify({ Records: records })));
    expect(eventBytes([])).toBe(EVENT_ENVELOPE_BYTES);
  });
});

describe('takeCount', () => {
  const max = EVENT_SOURCE_MAPPING.maxInvokePayloadBytes;

  it('takes at most batchSize records', () => {
    expect(takeCount([10, 10, 10, 10], 3, max)).toBe(3);
  });

  it('takes everything queued when it is less than a batch', () => {
    expect(takeCount([10, 10], 100, max)).toBe(2);
  });

  it('fills the payload exactly to the limit', () => {
    const each = (max - EVENT_ENVELOPE_BYTES - 1) / 2;

    expect(takeCount([each, each, 1], 10, max)).toBe(2);
    expect(eventBytes([each, each])).toBe(max);
  });

  it('stops before the record that would go over the limit', () => {
    const each = (max - EVENT_ENVELOPE_BYTES - 1) / 2;

    expect(takeCount([each, each + 1], 10, max)).toBe(1);
  });

  it('still takes a single record larger than the limit', () => {
    expect(takeCount([max * 2, 10], 10, max)).toBe(1);
  });
});

describe('laneOf', () => {
  it('sends a partition key to the same lane every time', () => {
    expect(laneOf('run-1/slice-2', 7)).toBe(laneOf('run-1/slice-2', 7));
  });

  it('uses a single lane with parallelization factor 1', () => {
    expect(laneOf('anything', 1)).toBe(0);
  });

  it('spreads keys over every lane', () => {
    const lanes = new Set(Array.from({ length: 200 }, (_, i) => laneOf(`key-${i}`, 10)));

    expect(lanes).toEqual(new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  });
});
