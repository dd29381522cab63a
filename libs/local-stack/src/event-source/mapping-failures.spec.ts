import { DEFAULTS } from '@pipeline/limits';
import { parseOnFailurePayload } from './failure-record';
import { destination, recorder, records, useHarness } from './testing/harness';
import { waitFor } from './testing/kinesis';

const h = useHarness();

const poison = (bad: string) => (data: string[]) => {
  if (data.includes(bad)) throw new Error(`cannot process ${bad}`);
};

describe('createEventSourceMapping: ReportBatchItemFailures', () => {
  it('checkpoints before the lowest failed record and retries from it, successes after it included', async () => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(5));
    const rec = recorder((_data, call) =>
      call === 1
        ? {
            batchItemFailures: [{ itemIdentifier: puts[3].sequenceNumber }, { itemIdentifier: puts[1].sequenceNumber }],
          }
        : undefined,
    );
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 5,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2', 'record-3', 'record-4'],
      ['record-1', 'record-2', 'record-3', 'record-4'],
    ]);
    expect(mapping.stats()).toMatchObject({ failures: 1, retries: 1, recordsSucceeded: 5 });
  });

  it.each([
    ['no response', undefined],
    ['a null response', null],
    ['an empty response', {}],
    ['an empty batchItemFailures list', { batchItemFailures: [] }],
    ['a null batchItemFailures list', { batchItemFailures: null }],
  ])('treats %s as complete success', async (_case, response) => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(3));
    const rec = recorder(() => response);
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 3,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toHaveLength(1);
    expect(mapping.stats().failures).toBe(0);
  });

  it.each([
    ['an empty-string itemIdentifier', () => ({ batchItemFailures: [{ itemIdentifier: '' }] })],
    ['a null itemIdentifier', () => ({ batchItemFailures: [{ itemIdentifier: null }] })],
    ['an itemIdentifier under a wrong key name', (seq: string) => ({ batchItemFailures: [{ ItemIdentifier: seq }] })],
    [
      'an itemIdentifier that names no record of the batch',
      () => ({ batchItemFailures: [{ itemIdentifier: '12345' }] }),
    ],
    ['batchItemFailures that is not a list', (seq: string) => ({ batchItemFailures: { itemIdentifier: seq } })],
    ['a response that is not an object', () => 'ok'],
  ])('fails the whole batch on %s', async (_case, response) => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(3));
    const rec = recorder((_data, call) => (call === 1 ? response(puts[1].sequenceNumber) : undefined));
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 3,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2'],
      ['record-0', 'record-1', 'record-2'],
    ]);
    expect(mapping.stats().failures).toBe(1);
  });

  it('ignores the response when ReportBatchItemFailures is not turned on', async () => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(3));
    const rec = recorder(() => ({ batchItemFailures: [{ itemIdentifier: puts[0].sequenceNumber }] }));
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 3 });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toHaveLength(1);
  });
});

describe('createEventSourceMapping: function errors', () => {
  it.each([
    [
      'throws',
      (): undefined => {
        throw new Error('boom');
      },
    ],
    ['returns a rejected promise', () => Promise.reject(new Error('boom'))],
  ])('retries the whole batch when the handler %s', async (_case, fail) => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(3));
    const rec = recorder((_data, call) => (call === 1 ? fail() : undefined));
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 3 });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2'],
      ['record-0', 'record-1', 'record-2'],
    ]);
    expect(mapping.stats()).toMatchObject({ failures: 1, retries: 1 });
  });

  it('with ReportBatchItemFailures too, splits at the reported record instead of halving', async () => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(4));
    const rec = recorder((_data, call) =>
      call === 1 ? { batchItemFailures: [{ itemIdentifier: puts[1].sequenceNumber }] } : undefined,
    );
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 4,
      bisectBatchOnFunctionError: true,
      functionResponseTypes: ['ReportBatchItemFailures'],
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2', 'record-3'],
      ['record-1', 'record-2', 'record-3'],
    ]);
    expect(mapping.stats().bisections).toBe(0);
  });

  it('bisects a failing batch, runs the halves in order and spends no retry on the split', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(4));
    const dlq = destination();
    const rec = recorder(poison('record-2'));
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 4,
      bisectBatchOnFunctionError: true,
      maximumRetryAttempts: 1,
      onFailure: dlq.onFailure,
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2', 'record-3'],
      ['record-0', 'record-1'],
      ['record-2', 'record-3'],
      ['record-2'],
      ['record-2'], // its one retry: the two splits before it cost none
      ['record-3'],
    ]);
    expect(mapping.stats()).toMatchObject({ bisections: 2, retries: 1, sentToOnFailure: 1 });
    expect(dlq.received).toHaveLength(1);
    expect(dlq.received[0].requestContext.approximateInvokeCount).toBe(4);
    expect(parseOnFailurePayload(dlq.received[0]).Records).toHaveLength(1);
  });
});

describe('createEventSourceMapping: bounded retries', () => {
  it('sends a batch that exhausts maximumRetryAttempts to onFailure and goes on with the next records', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(4));
    const dlq = destination();
    const rec = recorder(poison('record-0'));
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 2,
      maximumRetryAttempts: 2,
      onFailure: dlq.onFailure,
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1'],
      ['record-0', 'record-1'],
      ['record-0', 'record-1'],
      ['record-2', 'record-3'],
    ]);
    expect(
      dlq.received.map((r) => [
        r.requestContext.condition,
        r.requestContext.approximateInvokeCount,
        r.KinesisBatchInfo.batchSize,
      ]),
    ).toEqual([['RetryAttemptsExhausted', 3, 2]]);
  });

  it('with ReportBatchItemFailures sends only the failing remainder to onFailure', async () => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(6));
    const dlq = destination();
    const rec = recorder((data) =>
      data.includes('record-2') ? { batchItemFailures: [{ itemIdentifier: puts[2].sequenceNumber }] } : undefined,
    );
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 4,
      maximumRetryAttempts: 1,
      functionResponseTypes: ['ReportBatchItemFailures'],
      onFailure: dlq.onFailure,
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1', 'record-2', 'record-3'],
      ['record-2', 'record-3'],
      ['record-4', 'record-5'],
    ]);
    expect(dlq.received).toHaveLength(1);
    expect(dlq.received[0].KinesisBatchInfo).toMatchObject({
      startSequenceNumber: puts[2].sequenceNumber,
      endSequenceNumber: puts[3].sequenceNumber,
      batchSize: 2,
    });
    // The function answered; it did not fail with an error.
    expect(dlq.received[0].responseContext).toEqual({ statusCode: 200, executedVersion: '$LATEST' });
  });

  it('discards without a destination and still moves on', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(4));
    const rec = recorder(poison('record-0'));
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 2, maximumRetryAttempts: 0 });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toEqual([
      ['record-0', 'record-1'],
      ['record-2', 'record-3'],
    ]);
    expect(mapping.stats()).toMatchObject({ recordsDiscarded: 2, sentToOnFailure: 0, recordsSucceeded: 2 });
  });

  it('keeps retrying the on-failure destination until it accepts the record', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(2));
    const received: unknown[] = [];
    let attempts = 0;
    const onFailure = async (record: unknown) => {
      attempts += 1;
      if (attempts < 3) throw new Error('destination unavailable');
      received.push(record);
    };
    const rec = recorder(poison('record-0'));
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 2,
      maximumRetryAttempts: 0,
      onFailure,
    });

    mapping.start();
    await mapping.drain();

    expect(received).toHaveLength(1);
    expect(mapping.stats()).toMatchObject({ onFailureErrors: 2, onFailureRecords: 1, checkpoints: 1 });
  });

  it('backs off between retries with jittered delays that grow and stay under the cap', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(1));
    const waits: number[] = [];
    const rec = recorder((_data, call) => {
      if (call <= 8) throw new Error('transient');
    });
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      sleep: async (ms) => void waits.push(ms),
      random: () => 0.999,
    });

    mapping.start();
    await mapping.drain();

    const expected = waits.map((_, i) =>
      Math.floor(0.999 * Math.min(DEFAULTS.backoffCapMs, DEFAULTS.backoffBaseMs * 2 ** i)),
    );
    expect(waits).toHaveLength(8);
    expect(waits).toEqual(expected);
    expect(Math.max(...waits)).toBeLessThan(DEFAULTS.backoffCapMs);
  });
});

describe('createEventSourceMapping: maximum record age', () => {
  it('stops retrying records once they are older than maximumRecordAgeInSeconds', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(2));
    let now = Date.now();
    const dlq = destination();
    const rec = recorder(() => {
      throw new Error('always');
    });
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      maximumRetryAttempts: -1,
      maximumRecordAgeInSeconds: 60,
      onFailure: dlq.onFailure,
      clock: () => now,
      // Each retry wait lets a minute pass.
      sleep: async () => {
        now += 61_000;
      },
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toHaveLength(1);
    expect(
      dlq.received.map((r) => [
        r.requestContext.condition,
        r.requestContext.approximateInvokeCount,
        r.KinesisBatchInfo.batchSize,
      ]),
    ).toEqual([['RecordAgeExceeded', 1, 2]]);
  });

  it('never sends records that are already too old', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(2));
    const later = Date.now() + 120_000;
    const dlq = destination();
    const rec = recorder();
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      maximumRecordAgeInSeconds: 60,
      onFailure: dlq.onFailure,
      clock: () => later,
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries).toHaveLength(0);
    expect(dlq.received).toHaveLength(1);
    expect(dlq.received[0].requestContext).toMatchObject({ condition: 'RecordAgeExceeded', approximateInvokeCount: 0 });
    expect(dlq.received[0].responseContext).toBeUndefined();
  });
});

describe('createEventSourceMapping: on-failure record', () => {
  it('has the shape of the documented Kinesis invocation record plus the event as payload', async () => {
    const { name, arn } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(3));
    const now = Date.now() + 5_000;
    const dlq = destination();
    const rec = recorder(() => {
      throw new Error('always');
    });
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      functionName: 'orders',
      batchSize: 3,
      maximumRetryAttempts: 1,
      onFailure: dlq.onFailure,
      clock: () => now,
    });

    mapping.start();
    await waitFor(() => dlq.received.length === 1, 'the invocation record');

    const [first, , last] = rec.events[1].Records;
    const iso = (seconds: number) => new Date(Math.round(seconds * 1000)).toISOString();
    expect(dlq.received[0]).toEqual({
      requestContext: {
        requestId: rec.contexts[1].awsRequestId,
        functionArn: 'arn:aws:lambda:us-east-1:000000000000:function:orders',
        condition: 'RetryAttemptsExhausted',
        approximateInvokeCount: 2,
      },
      responseContext: { statusCode: 200, executedVersion: '$LATEST', functionError: 'Unhandled' },
      version: '1.0',
      timestamp: new Date(now).toISOString(),
      KinesisBatchInfo: {
        shardId: puts[0].shardId,
        startSequenceNumber: puts[0].sequenceNumber,
        endSequenceNumber: puts[2].sequenceNumber,
        approximateArrivalOfFirstRecord: iso(first.kinesis.approximateArrivalTimestamp),
        approximateArrivalOfLastRecord: iso(last.kinesis.approximateArrivalTimestamp),
        batchSize: 3,
        streamArn: arn,
      },
      payload: expect.any(String),
    });
    expect(parseOnFailurePayload(dlq.received[0])).toEqual(rec.events[1]);
  });
});
