/**
 * StreamProducer against a real Kinesis API (kinesalite, in memory, started here on 127.0.0.1:0).
 * Only the partial-failure cases wrap the real port, to make Kinesis reject chosen entries.
 */
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import {
  CreateStreamCommand,
  DescribeStreamCommand,
  GetRecordsCommand,
  GetShardIteratorCommand,
  KinesisClient,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { ItemTooLargeError, type EntryFailure } from '@pipeline/batching';
import { DEFAULTS, KINESIS } from '@pipeline/limits';
import { kinesisPutRecordsPort, type PutRecordsPort } from './port';
import { hasValidSeal, newRunKey, recordSealer, unpackLines } from '@pipeline/records';
import { PutRecordsError, SlabPool, StreamProducer } from './producer';
import { InvalidPartitionKeyError, recordSize, type StreamRecord } from './record';

// kinesalite ships no types.
const kinesalite = require('kinesalite') as (opts: { createStreamMs: number; shardLimit: number }) => Server;

const throttled = 'ProvisionedThroughputExceededException';
const noWait = (): Promise<void> => Promise.resolve();

let server: Server;
let client: KinesisClient;
let realPort: PutRecordsPort;
let streamCount = 0;

beforeAll(async () => {
  server = kinesalite({ createStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  client = new KinesisClient({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
    requestHandler: new NodeHttpHandler(),
  });
  realPort = kinesisPutRecordsPort(client);
});

afterAll(async () => {
  client?.destroy();
  await new Promise<void>((resolve, reject) => server.close((err) => (err ? reject(err) : resolve())));
});

/** A fresh one-shard stream per test, ACTIVE before it is used. */
async function createStream(): Promise<string> {
  const name = `producer-spec-${++streamCount}`;
  await client.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
  for (;;) {
    const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamName: name }));
    if (StreamDescription?.StreamStatus === 'ACTIVE') return name;
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Every record on the stream's only shard, in shard order. */
async function readAll(streamName: string): Promise<StreamRecord[]> {
  const { StreamDescription } = await client.send(new DescribeStreamCommand({ StreamName: streamName }));
  const shardId = StreamDescription!.Shards![0].ShardId!;
  let { ShardIterator: iterator } = await client.send(
    new GetShardIteratorCommand({ StreamName: streamName, ShardId: shardId, ShardIteratorType: 'TRIM_HORIZON' }),
  );
  const out: StreamRecord[] = [];
  while (iterator) {
    const page = await client.send(new GetRecordsCommand({ ShardIterator: iterator, Limit: KINESIS.maxRecordsPerGet }));
    const records = page.Records ?? [];
    if (records.length === 0) break;
    out.push(...records.map((r) => ({ data: r.Data!, partitionKey: r.PartitionKey! })));
    iterator = page.NextShardIterator;
  }
  return out;
}

/** The real port, counting calls and the records in each. */
function countingPort(inner: PutRecordsPort = realPort): PutRecordsPort & { calls: number[] } {
  const calls: number[] = [];
  return {
    calls,
    putRecords: (streamName, records) => (calls.push(records.length), inner.putRecords(streamName, records)),
  };
}

/**
 * The real port, except that entries chosen by `reject(record, index, call)` never reach Kinesis
 * and come back as throttled, as Kinesis reports a hot shard.
 */
function rejectingPort(reject: (record: StreamRecord, index: number, call: number) => boolean): PutRecordsPort {
  let call = 0;
  return {
    async putRecords(streamName, records) {
      call += 1;
      const passed: number[] = [];
      const failures: EntryFailure[] = [];
      records.forEach((record, index) => {
        if (reject(record, index, call)) failures.push({ index, code: throttled, message: 'Rate exceeded for shard' });
        else passed.push(index);
      });
      const real = passed.length
        ? await realPort.putRecords(
            streamName,
            passed.map((i) => records[i]),
          )
        : [];
      failures.push(...real.map((f) => ({ ...f, index: passed[f.index] })));
      return failures;
    },
  };
}

const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const asText = (r: StreamRecord): string => new TextDecoder().decode(r.data);
const small = (count: number, key = (i: number) => `key-${i % 7}`): StreamRecord[] =>
  Array.from({ length: count }, (_, i) => ({ data: text(`record-${i}`), partitionKey: key(i) }));

/** Half-MiB records (data + key) adding up to exactly 5 MiB; with `extraByte`, the last one is a byte larger. */
function recordsFillingOnePut(extraByte = 0): StreamRecord[] {
  const size = KINESIS.maxRecordBytes / 2;
  const count = KINESIS.maxBytesPerPut / size;
  return Array.from({ length: count }, (_, i) => {
    const partitionKey = `big-${i}`;
    const extra = i === count - 1 ? extraByte : 0;
    return { data: new Uint8Array(size - partitionKey.length + extra).fill(i), partitionKey };
  });
}

const sameRecords = (a: StreamRecord[], b: StreamRecord[]): boolean =>
  a.length === b.length &&
  a.every((r, i) => r.partitionKey === b[i].partitionKey && Buffer.from(r.data).equals(Buffer.from(b[i].data)));

describe('recordSize', () => {
  it('counts data bytes plus the partition key in UTF-8', () => {
    expect(recordSize({ data: new Uint8Array(10), partitionKey: 'é€' })).toBe(10 + 2 + 3);
  });
});

describe('StreamProducer against kinesalite', () => {
  it('puts exactly 500 records in one PutRecords call', async () => {
    const streamName = await createStream();
    const port = countingPort();
    const records = small(KINESIS.maxRecordsPerPut);

    await new StreamProducer({ streamName, port }).putAll(records);

    expect(port.calls).toEqual([KINESIS.maxRecordsPerPut]);
    expect((await readAll(streamName)).map(asText)).toEqual(records.map(asText));
  });

  it('puts 501 records in two calls', async () => {
    const streamName = await createStream();
    const port = countingPort();

    await new StreamProducer({ streamName, port }).putAll(small(KINESIS.maxRecordsPerPut + 1));

    expect(port.calls).toEqual([KINESIS.maxRecordsPerPut, 1]);
    expect(await readAll(streamName)).toHaveLength(KINESIS.maxRecordsPerPut + 1);
  });

  it('puts records totalling exactly 5 MiB (data + keys) in one call, all readable back', async () => {
    const streamName = await createStream();
    const port = countingPort();
    const records = recordsFillingOnePut();
    expect(records.reduce((sum, r) => sum + recordSize(r), 0)).toBe(KINESIS.maxBytesPerPut);

    await new StreamProducer({ streamName, port }).putAll(records);

    expect(port.calls).toEqual([records.length]);
    expect(sameRecords(await readAll(streamName), records)).toBe(true);
  });

  it('puts records totalling 5 MiB + 1 byte in two calls, all readable back', async () => {
    const streamName = await createStream();
    const port = countingPort();
    const records = recordsFillingOnePut(1);
    expect(records.reduce((sum, r) => sum + recordSize(r), 0)).toBe(KINESIS.maxBytesPerPut + 1);

    await new StreamProducer({ streamName, port }).putAll(records);

    expect(port.calls).toEqual([records.length - 1, 1]);
    expect(sameRecords(await readAll(streamName), records)).toBe(true);
  });

  it('accepts a record of exactly 1 MiB (data + key)', async () => {
    const streamName = await createStream();
    const partitionKey = 'edge';
    const record = { data: new Uint8Array(KINESIS.maxRecordBytes - partitionKey.length).fill(7), partitionKey };

    await new StreamProducer({ streamName, port: realPort }).putAll([record]);

    expect(sameRecords(await readAll(streamName), [record])).toBe(true);
  });

  it('throws ItemTooLargeError for a record one byte over 1 MiB, before any call', async () => {
    const streamName = await createStream();
    const port = countingPort();
    const partitionKey = 'edge';
    const record = { data: new Uint8Array(KINESIS.maxRecordBytes - partitionKey.length + 1), partitionKey };
    const producer = new StreamProducer({ streamName, port });

    await expect(producer.add(record)).rejects.toThrow(ItemTooLargeError);
    await producer.flush();
    expect(port.calls).toEqual([]);
  });

  it('throws InvalidPartitionKeyError for an empty or too long key, before any call', async () => {
    const port = countingPort();
    const producer = new StreamProducer({ streamName: 'unused', port });
    const data = text('x');

    await expect(producer.add({ data, partitionKey: '' })).rejects.toThrow(InvalidPartitionKeyError);
    await expect(producer.add({ data, partitionKey: 'k'.repeat(KINESIS.maxPartitionKeyLength + 1) })).rejects.toThrow(
      InvalidPartitionKeyError,
    );
    expect(port.calls).toEqual([]);
  });

  it('reads records one at a time from an async iterable', async () => {
    const streamName = await createStream();
    const records = small(3);
    async function* source(): AsyncGenerator<StreamRecord> {
      yield* records;
    }

    await new StreamProducer({ streamName, port: realPort }).putAll(source());

    expect((await readAll(streamName)).map(asText)).toEqual(records.map(asText));
  });

  it('retries throttled entries until every record lands exactly once', async () => {
    const streamName = await createStream();
    const throttledCalls = 3;
    // A third of the entries are throttled in each of the first calls.
    const port = rejectingPort((_record, index, call) => call <= throttledCalls && index % 3 === 0);
    const records = small(1_200);
    const producer = new StreamProducer({ streamName, port, sleep: noWait });

    await producer.putAll(records);

    const landed = (await readAll(streamName)).map(asText);
    expect(landed.slice().sort()).toEqual(records.map(asText).sort());
    expect(producer.stats).toMatchObject({ sent: records.length, failed: 0 });
    expect(producer.stats.retried).toBeGreaterThan(0);
  });

  it('throws PutRecordsError naming the stream, the count and the codes when entries keep failing', async () => {
    const streamName = await createStream();
    const attempts = 3;
    let calls = 0;
    const rejecting = rejectingPort((record) => record.partitionKey === 'poison');
    const port: PutRecordsPort = { putRecords: (name, records) => (calls++, rejecting.putRecords(name, records)) };
    const records = [
      ...small(4),
      { data: text('bad-1'), partitionKey: 'poison' },
      { data: text('bad-2'), partitionKey: 'poison' },
    ];
    const producer = new StreamProducer({ streamName, port, attempts, sleep: noWait });

    const error = await producer.putAll(records).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(PutRecordsError);
    const { failed, message } = error as PutRecordsError;
    expect(failed.map((f) => asText(f.item))).toEqual(['bad-1', 'bad-2']);
    expect(message).toContain(
      `stream ${streamName}: 2 records not written after ${attempts} attempts (${throttled} x2)`,
    );
    expect(calls).toBe(attempts);
    expect((await readAll(streamName)).map(asText)).toEqual(small(4).map(asText));
  });

  it('uses DEFAULTS.putAttempts when no attempts are given', async () => {
    const streamName = await createStream();
    let calls = 0;
    const rejecting = rejectingPort(() => true);
    const port: PutRecordsPort = { putRecords: (name, records) => (calls++, rejecting.putRecords(name, records)) };

    await expect(new StreamProducer({ streamName, port, sleep: noWait }).putAll(small(1))).rejects.toThrow(
      PutRecordsError,
    );
    expect(calls).toBe(DEFAULTS.putAttempts);
  });

  it('writes every record added before flush() ahead of a record added after it, despite retries', async () => {
    const streamName = await createStream();
    // The first entry of each of the first two calls is throttled, so it is written late.
    const port = rejectingPort((_record, index, call) => call <= 2 && index === 0);
    const producer = new StreamProducer({ streamName, port, sleep: noWait });

    for (const record of small(10, () => 'slice-1')) await producer.add(record);
    await producer.flush();
    await producer.add({ data: text('end-of-slice'), partitionKey: 'slice-1' });
    await producer.flush();

    const landed = (await readAll(streamName)).map(asText);
    expect(landed).toHaveLength(11);
    expect(landed[landed.length - 1]).toBe('end-of-slice');
  });
});

describe('StreamProducer packing (aggregateBytes)', () => {
  const calls: StreamRecord[][] = [];
  const port: PutRecordsPort = {
    async putRecords(_stream, records) {
      calls.push(records);
      return [];
    },
  };
  const bytes = (n: number, fill = 'x') => new TextEncoder().encode(fill.repeat(n));
  beforeEach(() => (calls.length = 0));

  it('packs the records of one partition key into records of at most aggregateBytes, in order', async () => {
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 100 });
    for (let i = 0; i < 10; i++) await producer.add({ data: bytes(19, String(i)), partitionKey: 'k' });
    await producer.flush();
    const sent = calls.flat();
    expect(sent.map((r) => r.data.byteLength)).toEqual([99, 99]); // 5 lines of 19 bytes and 4 newlines each
    expect(sent.flatMap((r) => unpackLines(r.data).map((l) => String.fromCharCode(l[0])))).toEqual([
      '0',
      '1',
      '2',
      '3',
      '4',
      '5',
      '6',
      '7',
      '8',
      '9',
    ]);
  });

  it('never packs records of different partition keys together', async () => {
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 1_000 });
    await producer.add({ data: bytes(10), partitionKey: 'a' });
    await producer.add({ data: bytes(10), partitionKey: 'b' });
    await producer.flush();
    expect(
      calls
        .flat()
        .map((r) => r.partitionKey)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('sends a record at least aggregateBytes long on its own, after what was packed before it', async () => {
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 100 });
    await producer.add({ data: bytes(10, 'a'), partitionKey: 'k' });
    await producer.add({ data: bytes(100, 'b'), partitionKey: 'k' });
    await producer.flush();
    expect(calls.flat().map((r) => String.fromCharCode(r.data[0]) + r.data.byteLength)).toEqual(['a10', 'b100']);
  });

  it('sends nothing before flush while the packed record is not full, and everything after', async () => {
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 1_000 });
    await producer.add({ data: bytes(10), partitionKey: 'k' });
    expect(calls).toHaveLength(0);
    await producer.flush();
    expect(calls.flat()).toHaveLength(1);
  });

  it('packs text lines as the same bytes, encoded once per record, with multi-byte characters counted in bytes', async () => {
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 20 });
    // What addLine returns, when it returns anything, must be awaited before the next line.
    for (const text of ['{"a":"é"}', '{"b":2}', '{"c":3}']) await producer.addLine({ data: text, partitionKey: 'k' });
    await producer.flush();
    // {"a":"é"} is 10 bytes (9 characters): with {"b":2} it fills 18 of 20 bytes, so {"c":3} starts the next record.
    expect(calls.flat().map((r) => Buffer.from(r.data).toString('utf8'))).toEqual(['{"a":"é"}\n{"b":2}', '{"c":3}']);
  });

  it('copies a scratch line before addLine returns: reusing the buffer changes nothing sent, packed or alone', async () => {
    for (const aggregateBytes of [0, 30]) {
      calls.length = 0;
      const producer = new StreamProducer({ streamName: 's', port, aggregateBytes });
      const scratch = Buffer.alloc(64);
      // Two short lines (packed when packing), then one too long to pack, each written over the same bytes.
      for (const text of ['{"n":1}', '{"n":2}', `{"big":"${'y'.repeat(40)}"}`]) {
        const length = scratch.write(text);
        await producer.addLine({ data: scratch.subarray(0, length), partitionKey: 'k' }, true);
        scratch.fill(0x21);
      }
      await producer.flush();
      const lines = calls.flat().flatMap((r) => unpackLines(r.data).map((l) => Buffer.from(l).toString()));
      expect(lines).toEqual(['{"n":1}', '{"n":2}', `{"big":"${'y'.repeat(40)}"}`]);
    }
  });

  it('seals every record it puts, packed or alone, and keeps the seal within aggregateBytes', async () => {
    const key = newRunKey();
    const seal = recordSealer(key);
    // Lines of 10 bytes: three fit in 3 × 11 bytes (newlines included), with room left for the seal.
    const producer = new StreamProducer({ streamName: 's', port, aggregateBytes: 3 * 11 + seal.bytes, seal });
    for (let i = 0; i < 4; i++) await producer.add({ data: Buffer.from(`{"n":${i}000}`), partitionKey: 'k' });
    await producer.add({ data: Buffer.from(`{"big":"${'x'.repeat(100)}"}`), partitionKey: 'k' });
    await producer.flush();
    const sent = calls.flat();
    expect(sent.map((r) => unpackLines(r.data).length)).toEqual([3, 1, 1]);
    for (const record of sent) {
      expect(record.data.byteLength <= 3 * 11 + seal.bytes || unpackLines(record.data).length === 1).toBe(true);
      expect(hasValidSeal(record.data, key)).toBe(true);
    }
  });
});

describe('StreamProducer slabs reused across producers (SlabPool)', () => {
  const line = (i: number) => `{"n":${i},"pad":"${'p'.repeat(200)}"}`;
  const lines = (from: number, count: number) => Array.from({ length: count }, (_, i) => line(from + i));
  /** A producer of the pool whose port accepts every record and keeps none. */
  const accepting = (slabs: SlabPool) =>
    new StreamProducer({ streamName: 's', port: { putRecords: async () => [] }, aggregateBytes: 1024, slabs });
  const written = (records: StreamRecord[]) =>
    records.flatMap((r) => unpackLines(r.data).map((l) => Buffer.from(l).toString()));

  it('gives its slabs back once a flush has written every record, and what Kinesis holds is what was put', async () => {
    const stream = await createStream();
    const slabs = new SlabPool();
    // Two producers one after the other, as two invocations of a warm processor: the second cuts its
    // records from the first one's slabs, which its records overwrite.
    for (const from of [0, 1000]) {
      const producer = new StreamProducer({ streamName: stream, port: realPort, aggregateBytes: 1024, slabs });
      for (const text of lines(from, 100)) await producer.addLine({ data: text, partitionKey: 'k' });
      await producer.flush();
      expect(slabs.size).toBeGreaterThan(0);
    }
    expect(written(await readAll(stream))).toEqual([...lines(0, 100), ...lines(1000, 100)]);
  });

  it('reuses nothing while records cut since the last flush may still be unwritten', async () => {
    const slabs = new SlabPool();
    const producer = accepting(slabs);
    for (const text of lines(0, 100)) await producer.addLine({ data: text, partitionKey: 'k' });
    expect(slabs.size).toBe(0);
    await producer.flush();
    expect(slabs.size).toBeGreaterThan(0);
  });

  it('never reuses the slabs of records a failed flush could not write: the error keeps them intact', async () => {
    const slabs = new SlabPool();
    const refusing: PutRecordsPort = {
      putRecords: async (_s, records) =>
        records.map((_, index) => ({ index, code: throttled, message: 'Rate exceeded' })),
    };
    const failing = new StreamProducer({
      streamName: 's',
      port: refusing,
      aggregateBytes: 1024,
      slabs,
      attempts: 2,
      sleep: noWait,
    });
    for (const text of lines(0, 10)) await failing.addLine({ data: text, partitionKey: 'k' });
    const error = await failing.flush().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PutRecordsError);
    expect(slabs.size).toBe(0);
    // Another producer of the same pool writes over whatever it is given: the failed records stay as they were.
    const next = accepting(slabs);
    for (const text of lines(500, 100)) await next.addLine({ data: text, partitionKey: 'k' });
    await next.flush();
    expect(written((error as PutRecordsError).failed.map((f) => f.item))).toEqual(lines(0, 10));
  });

  it('never reuses the slabs of records an add could not write, even after a later flush succeeds', async () => {
    const slabs = new SlabPool();
    let refuse = true;
    const flaky: PutRecordsPort = {
      putRecords: async (_s, records) =>
        refuse ? records.map((_, index) => ({ index, code: throttled, message: 'Rate exceeded' })) : [],
    };
    const producer = new StreamProducer({
      streamName: 's',
      port: flaky,
      aggregateBytes: 1024,
      slabs,
      attempts: 2,
      sleep: noWait,
    });
    // Lines of about 1,000 bytes, a record each, added when the next line starts a record: the 502nd
    // line sends the 501st record, which closes a full PutRecords batch, and that batch is refused.
    const long = (i: number) => `{"n":${i},"pad":"${'p'.repeat(980)}"}`;
    let error: unknown;
    for (let i = 0; i < KINESIS.maxRecordsPerPut + 2 && !error; i++)
      error = await producer.addLine({ data: long(i), partitionKey: 'k' })?.then(
        () => undefined,
        (e: unknown) => e,
      );
    expect(error).toBeInstanceOf(PutRecordsError);
    refuse = false;
    await producer.flush(); // the line after the refused batch is written
    const next = accepting(slabs);
    for (const text of lines(500, 2000)) await next.addLine({ data: text, partitionKey: 'k' });
    await next.flush();
    const failed = (error as PutRecordsError).failed.map((f) => f.item);
    expect(written(failed)).toEqual(Array.from({ length: KINESIS.maxRecordsPerPut }, (_, i) => long(i)));
  });

  it('keeps at most its bound of slabs, and hands out only slabs of the size asked for', () => {
    const slabs = new SlabPool(2);
    slabs.give([Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(8)]);
    expect(slabs.size).toBe(2);
    expect(slabs.take(16).byteLength).toBe(16);
    expect(slabs.size).toBe(2);
    expect(slabs.take(8).byteLength).toBe(8);
    expect(slabs.size).toBe(1);
  });
});
