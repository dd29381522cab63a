import { DescribeStreamSummaryCommand, SplitShardCommand } from '@aws-sdk/client-kinesis';
import { EVENT_SOURCE_MAPPING, KINESIS } from '@pipeline/limits';
import { delay, recorder, records, useHarness } from './testing/harness';
import { waitFor } from './testing/kinesis';

const h = useHarness();

const shardOf = (eventId: string) => eventId.split(':')[0];

describe('createEventSourceMapping: the event', () => {
  it('delivers records exactly as Lambda shapes a Kinesis event', async () => {
    const { name, arn } = await h.stream(1);
    const [put] = await h.kinesis.put(name, [{ key: 'order-7', data: 'hello' }]);
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, functionName: 'orders' });

    mapping.start();
    await mapping.drain();

    expect(rec.events).toHaveLength(1);
    const [record] = rec.events[0].Records;
    expect(record).toEqual({
      kinesis: {
        kinesisSchemaVersion: '1.0',
        partitionKey: 'order-7',
        sequenceNumber: put.sequenceNumber,
        data: Buffer.from('hello').toString('base64'),
        approximateArrivalTimestamp: expect.any(Number),
      },
      eventSource: 'aws:kinesis',
      eventVersion: '1.0',
      eventID: `${put.shardId}:${put.sequenceNumber}`,
      eventName: 'aws:kinesis:record',
      invokeIdentityArn: 'arn:aws:iam::000000000000:role/orders-role',
      awsRegion: 'us-east-1',
      eventSourceARN: arn,
    });
    // Epoch seconds with a millisecond fraction, as Lambda delivers it.
    expect(Math.abs(record.kinesis.approximateArrivalTimestamp - Date.now() / 1000)).toBeLessThan(60);
  });

  it('passes a Lambda context with the function name, a request id and the remaining time', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(1));
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, functionName: 'orders', timeoutSeconds: 30 });

    mapping.start();
    await mapping.drain();

    const [context] = rec.contexts;
    expect(context.functionName).toBe('orders');
    expect(context.invokedFunctionArn).toBe('arn:aws:lambda:us-east-1:000000000000:function:orders');
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.getRemainingTimeInMillis()).toBeGreaterThan(0);
    expect(context.getRemainingTimeInMillis()).toBeLessThanOrEqual(30_000);
  });
});

describe('createEventSourceMapping: batch size', () => {
  it('puts at most batchSize records in one invocation, in shard order', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(25));
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 10 });

    mapping.start();
    await mapping.drain();

    expect(Math.max(...rec.deliveries.map((d) => d.length))).toBe(10);
    expect(rec.deliveries.flat()).toEqual(records(25).map((r) => r.data));
  });

  it('keeps each invocation under the 6 MB invoke payload, whatever batchSize allows', async () => {
    const { name } = await h.stream(1);
    // Five records of the largest size Kinesis accepts: about 1.4 MB each once base64-encoded.
    const big = Array.from({ length: 5 }, (_, i) => ({
      key: `k${i}`,
      data: Buffer.alloc(KINESIS.maxRecordBytes - 2, 97 + i),
    }));
    await h.kinesis.put(name, big);
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 100 });

    mapping.start();
    await mapping.drain();

    const sizes = rec.events.map((e) => Buffer.byteLength(JSON.stringify(e)));
    expect(rec.events.map((e) => e.Records.length)).toEqual([4, 1]);
    for (const size of sizes) expect(size).toBeLessThanOrEqual(EVENT_SOURCE_MAPPING.maxInvokePayloadBytes);
  });
});

describe('createEventSourceMapping: batching window', () => {
  it('waits up to maximumBatchingWindowInSeconds for a batch to fill', async () => {
    const { name } = await h.stream(1);
    let now = Date.now();
    await h.kinesis.put(name, records(3));
    const rec = recorder();
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 10,
      maximumBatchingWindowInSeconds: 60,
      clock: () => now,
    });

    mapping.start();
    await waitFor(() => mapping.stats().recordsRead === 3, 'the records to be read');
    await delay(100);
    const beforeWindow = rec.deliveries.length;
    now += 60_000;
    await waitFor(() => rec.deliveries.length === 1, 'the window to close');

    expect(beforeWindow).toBe(0);
    expect(rec.deliveries[0]).toEqual(['record-0', 'record-1', 'record-2']);
  });

  it('invokes before the window closes once the batch is full', async () => {
    const { name } = await h.stream(1);
    const now = Date.now();
    await h.kinesis.put(name, records(13));
    const rec = recorder();
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      batchSize: 10,
      maximumBatchingWindowInSeconds: 300,
      clock: () => now,
    });

    mapping.start();
    await waitFor(() => rec.deliveries.length === 1, 'the full batch');
    await delay(100);

    // The three left over keep waiting for their window.
    expect(rec.deliveries).toHaveLength(1);
    expect(rec.deliveries[0]).toHaveLength(10);
  });
});

describe('createEventSourceMapping: ordering and concurrency', () => {
  it('keeps one batch in flight per shard with parallelization factor 1', async () => {
    const { name } = await h.stream(2);
    const puts = await h.kinesis.put(name, records(30));
    const inFlight = new Map<string, number>();
    const maxInFlight = new Map<string, number>();
    const rec = recorder(async (_data, _call, event) => {
      const shard = shardOf(event.Records[0].eventID);
      inFlight.set(shard, (inFlight.get(shard) ?? 0) + 1);
      maxInFlight.set(shard, Math.max(maxInFlight.get(shard) ?? 0, inFlight.get(shard) ?? 0));
      await delay(5);
      inFlight.set(shard, (inFlight.get(shard) ?? 0) - 1);
    });
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 2 });

    mapping.start();
    await mapping.drain();

    const shards = [...new Set(puts.map((p) => p.shardId))];
    expect([...maxInFlight.keys()].sort()).toEqual(shards.sort());
    for (const shard of shards) {
      expect(maxInFlight.get(shard)).toBe(1);
      const delivered = rec.events
        .flatMap((e) => e.Records)
        .filter((r) => shardOf(r.eventID) === shard)
        .map((r) => r.kinesis.sequenceNumber);
      expect(delivered).toEqual(puts.filter((p) => p.shardId === shard).map((p) => p.sequenceNumber));
    }
  });

  it('runs up to parallelizationFactor batches of a shard at once, each partition key in order and never twice in flight', async () => {
    const { name } = await h.stream(1);
    const keys = ['alpha', 'bravo', 'charlie', 'delta', 'echo', 'foxtrot'];
    await h.kinesis.put(
      name,
      records(48, (i) => keys[i % keys.length]),
    );
    const keysInFlight: string[][] = [];
    let maxBatches = 0;
    let overlap = false;
    const rec = recorder(async (_data, _call, event) => {
      const batchKeys = event.Records.map((r) => r.kinesis.partitionKey);
      if (keysInFlight.some((ks) => ks.some((k) => batchKeys.includes(k)))) overlap = true;
      keysInFlight.push(batchKeys);
      maxBatches = Math.max(maxBatches, keysInFlight.length);
      await delay(10);
      keysInFlight.splice(keysInFlight.indexOf(batchKeys), 1);
    });
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 2, parallelizationFactor: 3 });

    mapping.start();
    await mapping.drain();

    expect(maxBatches).toBeGreaterThan(1);
    expect(maxBatches).toBeLessThanOrEqual(3);
    expect(overlap).toBe(false);
    const delivered = rec.events.flatMap((e) => e.Records);
    expect(delivered).toHaveLength(48);
    for (const key of keys) {
      const data = delivered
        .filter((r) => r.kinesis.partitionKey === key)
        .map((r) => Number(Buffer.from(r.kinesis.data, 'base64').toString().split('-')[1]));
      expect(data).toEqual([...data].sort((a, b) => a - b));
    }
  });
});

describe('createEventSourceMapping: starting position', () => {
  it('reads every record already in the stream from TRIM_HORIZON', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(3));
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, startingPosition: 'TRIM_HORIZON' });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries.flat()).toEqual(['record-0', 'record-1', 'record-2']);
  });

  it('reads only records put after the start from LATEST', async () => {
    const { name } = await h.stream(2);
    await h.kinesis.put(name, records(4));
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, startingPosition: 'LATEST' });

    mapping.start();
    await mapping.ready();
    await h.kinesis.put(name, records(4, undefined, 4));
    await mapping.drain();

    expect(rec.deliveries.flat().sort()).toEqual(['record-4', 'record-5', 'record-6', 'record-7']);
  });

  it('reads records from startingPositionTimestamp on with AT_TIMESTAMP', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(2));
    await delay(20);
    const from = new Date();
    await delay(20);
    await h.kinesis.put(name, records(2, undefined, 2));
    const rec = recorder();
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      startingPosition: 'AT_TIMESTAMP',
      startingPositionTimestamp: from,
    });

    mapping.start();
    await mapping.drain();

    expect(rec.deliveries.flat()).toEqual(['record-2', 'record-3']);
  });
});

describe('createEventSourceMapping: shards', () => {
  it('reads every shard of the stream', async () => {
    const { name } = await h.stream(4);
    const puts = await h.kinesis.put(name, records(40));
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler });

    mapping.start();
    await mapping.drain();

    const delivered = rec.events.flatMap((e) => e.Records);
    expect(new Set(delivered.map((r) => shardOf(r.eventID)))).toEqual(new Set(puts.map((p) => p.shardId)));
    expect(new Set(puts.map((p) => p.shardId)).size).toBe(4);
    expect(delivered.map((r) => r.kinesis.sequenceNumber).sort()).toEqual(puts.map((p) => p.sequenceNumber).sort());
  });

  it('picks up shards created by a split and reads them after their parent', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(
      name,
      records(3, () => 'same-key'),
    );
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler, shardDiscoveryIntervalMs: 20 });
    mapping.start();
    await mapping.drain();

    await h.kinesis.client.send(
      new SplitShardCommand({
        StreamName: name,
        ShardToSplit: 'shardId-000000000000',
        NewStartingHashKey: (2n ** 127n).toString(),
      }),
    );
    let status: string | undefined;
    for (let i = 0; i < 100 && status !== 'ACTIVE'; i += 1) {
      const out = await h.kinesis.client.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      status = out.StreamDescriptionSummary?.StreamStatus;
      if (status !== 'ACTIVE') await delay(10);
    }
    const after = await h.kinesis.put(
      name,
      records(3, () => 'same-key', 3),
    );
    await waitFor(() => rec.deliveries.flat().length === 6, 'the records on the child shard');

    expect(rec.deliveries.flat()).toEqual(['record-0', 'record-1', 'record-2', 'record-3', 'record-4', 'record-5']);
    expect(after[0].shardId).not.toBe('shardId-000000000000');
    expect(shardOf(rec.events[rec.events.length - 1].Records[0].eventID)).toBe(after[0].shardId);
  });
});
