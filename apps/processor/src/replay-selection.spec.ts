import type { KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import { selectRun } from './replay-selection';

const record = (partitionKey: string, sequenceNumber: string) =>
  ({ kinesis: { partitionKey, sequenceNumber, data: '' } }) as unknown as KinesisStreamRecord;

describe('selectRun', () => {
  const event: KinesisStreamEvent = {
    Records: [
      record('run-a/s0001', '1'),
      record('run-b/s0001', '2'),
      record('run-a/s0002', '3'),
      record('run-ab/s0001', '4'),
      record('not-ours', '5'),
    ],
  };

  it("keeps only the run's records, in order, and counts the others as skipped", () => {
    const { event: selected, skipped } = selectRun(event, 'run-a');

    expect(selected.Records.map((r) => r.kinesis.sequenceNumber)).toEqual(['1', '3']);
    expect(skipped).toBe(3);
  });

  it('matches the run id exactly, not as a prefix of another run', () => {
    expect(selectRun(event, 'run-ab').event.Records.map((r) => r.kinesis.sequenceNumber)).toEqual(['4']);
  });
});
