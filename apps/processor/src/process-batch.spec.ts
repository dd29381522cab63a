import { z } from 'zod';
import { defineJob, PermanentError, type Job } from '@pipeline/job';
import { kinesisEvent, startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import {
  decodeEnvelope,
  decodeRecord,
  encodeEnvelope,
  partitionKeyOf,
  type DeadLetterEnvelope,
  type Envelope,
  type RecordId,
} from '@pipeline/records';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { sha256Hex, Spill } from '@pipeline/spill';
import { kinesisPutRecordsPort } from '@pipeline/stream-producer';
import { processBatch, type ProcessorDeps } from './process-batch';

const RESULTS = 'results-stream';
const SPILL = 'spill-bucket';
const LEDGER = 'results-bucket';
const RUN = 'run-1';
const pk = partitionKeyOf(RUN, 's000000');
const id = (pos: number): RecordId => ({ run: RUN, slice: 's000000', pos });

const upperJob = defineJob({
  name: 'upper',
  source: { format: 'ndjson' },
  input: z.object({ word: z.string() }),
  result: z.object({ upper: z.string() }),
  transform: ({ word }) => {
    if (word === 'forbidden') throw new PermanentError('forbidden word');
    return { upper: word.toUpperCase() };
  },
});

const data = (pos: number, body: unknown) => ({
  data: encodeEnvelope({ v: 1, kind: 'data', id: id(pos), body }),
  partitionKey: pk,
});

describe('processBatch: the processor against real Kinesis and S3 servers', () => {
  let stack: TestStack;
  let deps: (job?: Job) => ProcessorDeps;
  const results = async (): Promise<Envelope[]> =>
    (await stack.readStream(RESULTS)).flatMap((r) =>
      decodeRecord(r.data).map((line) => (line.ok ? line.envelope : raise(line.error))),
    );
  let seen = 0;
  /** Envelopes put on the results stream since the last call. */
  const newResults = async () => {
    const all = await results();
    const fresh = all.slice(seen);
    seen = all.length;
    return fresh;
  };

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [SPILL, LEDGER], streams: [{ name: RESULTS }] });
    deps = (job = upperJob as Job) => ({
      job,
      putRecords: kinesisPutRecordsPort(stack.kinesis),
      resultsStream: RESULTS,
      spill: { store: stack.store, bucket: SPILL, prefix: 'spill/', thresholdBytes: 2048 },
      control: new ControlCache(new RunLedger(stack.store, LEDGER), 0),
      parking: { store: stack.store, bucket: LEDGER },
      recordAttempts: 2,
      sleep: async () => undefined,
    });
  });
  afterAll(() => stack.close());

  it('turns each data record into a result with the same id, in order', async () => {
    const response = await processBatch(kinesisEvent([data(0, { word: 'a' }), data(1, { word: 'b' })]), deps());
    expect(response.batchItemFailures).toEqual([]);
    expect(await newResults()).toEqual([
      { v: 1, kind: 'result', id: id(0), body: { upper: 'A' } },
      { v: 1, kind: 'result', id: id(1), body: { upper: 'B' } },
    ]);
  });

  it('dead-letters a record that fails the input schema, with the reason, and goes on', async () => {
    const response = await processBatch(kinesisEvent([data(2, { nope: 1 }), data(3, { word: 'c' })]), deps());
    expect(response.batchItemFailures).toEqual([]);
    const [letter, result] = await newResults();
    expect(letter).toMatchObject({
      kind: 'dead-letter',
      id: id(2),
      stage: 'processor',
      reason: 'invalid-input',
      payload: { nope: 1 },
    });
    expect((letter as DeadLetterEnvelope).message).toMatch(/word/);
    expect(result).toMatchObject({ kind: 'result', id: id(3) });
  });

  it('dead-letters a record the transform rejects for good as transform-failed', async () => {
    await processBatch(kinesisEvent([data(4, { word: 'forbidden' })]), deps());
    expect(await newResults()).toEqual([
      expect.objectContaining({ kind: 'dead-letter', reason: 'transform-failed', message: 'forbidden word' }),
    ]);
  });

  it('dead-letters a result that fails the result schema as invalid-result', async () => {
    const sloppy = { ...upperJob, transform: () => ({ upper: 42 }) } as unknown as Job;
    await processBatch(kinesisEvent([data(5, { word: 'x' })]), deps(sloppy));
    expect(await newResults()).toEqual([expect.objectContaining({ kind: 'dead-letter', reason: 'invalid-result' })]);
  });

  it('dead-letters bytes that are not an envelope with where they were on the stream', async () => {
    const event = kinesisEvent([{ data: 'not json at all', partitionKey: pk }, data(6, { word: 'd' })]);
    const response = await processBatch(event, deps());
    expect(response.batchItemFailures).toEqual([]);
    const [letter, result] = await newResults();
    expect(letter).toMatchObject({
      kind: 'dead-letter',
      reason: 'invalid-envelope',
      origin: { partitionKey: pk, sequenceNumber: event.Records[0].kinesis.sequenceNumber },
      payload: Buffer.from('not json at all').toString('base64'),
    });
    expect(result).toMatchObject({ kind: 'result', id: id(6) });
  });

  it('resolves a pointer to spilled data and processes the record it stands for', async () => {
    const spill = new Spill(deps().spill);
    const bytes = await spill.stage({ v: 1, kind: 'data', id: id(7), body: { word: 'long'.repeat(1000) } });
    expect(decodeEnvelope(bytes).kind).toBe('pointer');
    await processBatch(kinesisEvent([{ data: bytes, partitionKey: pk }]), deps());
    const [out] = await newResults();
    // The result is over the threshold too, so it travels on as a pointer to a spilled result.
    expect(out).toMatchObject({ kind: 'pointer', of: 'result', id: id(7) });
    expect(await spill.resolve(out)).toEqual({ v: 1, kind: 'result', id: id(7), body: { upper: 'LONG'.repeat(1000) } });
  });

  it('dead-letters a pointer into another bucket as pointer-rejected', async () => {
    const pointer = { bucket: LEDGER, key: 'spill/x.json', size: 2, sha256: sha256Hex(Buffer.from('{}')) };
    await processBatch(
      kinesisEvent([
        { data: encodeEnvelope({ v: 1, kind: 'pointer', id: id(8), of: 'data', pointer }), partitionKey: pk },
      ]),
      deps(),
    );
    expect(await newResults()).toEqual([
      expect.objectContaining({
        kind: 'dead-letter',
        id: id(8),
        reason: 'pointer-rejected',
        payload: expect.objectContaining({ pointer }),
      }),
    ]);
  });

  it('dead-letters a pointer whose spilled object was tampered with as pointer-mismatch', async () => {
    const spill = new Spill(deps().spill);
    const pointer = decodeEnvelope(
      await spill.stage({ v: 1, kind: 'data', id: id(9), body: { word: 'z'.repeat(3000) } }),
    );
    if (pointer.kind !== 'pointer') throw new Error('expected a pointer');
    await stack.store.put(
      SPILL,
      pointer.pointer.key,
      encodeEnvelope({ v: 1, kind: 'data', id: id(9), body: { word: 'y'.repeat(3000) } }),
    );
    await processBatch(kinesisEvent([{ data: encodeEnvelope(pointer), partitionKey: pk }]), deps());
    expect(await newResults()).toEqual([
      expect.objectContaining({ kind: 'dead-letter', id: id(9), reason: 'pointer-mismatch' }),
    ]);
  });

  it('passes reader dead letters and end-of-slice markers through unchanged, markers after the records before them', async () => {
    const letter: DeadLetterEnvelope = {
      v: 1,
      kind: 'dead-letter',
      id: id(10),
      stage: 'reader',
      reason: 'malformed-row',
      message: 'bad',
      payload: '{',
    };
    const marker: Envelope = { v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 12 };
    await processBatch(
      kinesisEvent([
        { data: encodeEnvelope(letter), partitionKey: pk },
        data(11, { word: 'e' }),
        { data: encodeEnvelope(marker), partitionKey: pk },
      ]),
      deps(),
    );
    const out = await newResults();
    expect(out.map((e) => e.kind)).toEqual(['dead-letter', 'result', 'end-of-slice']);
    expect(out[0]).toEqual(letter);
    expect(out[2]).toEqual(marker);
  });

  it('reports a transient failure and every record after it, and puts nothing after it on the stream', async () => {
    let calls = 0;
    const flaky = {
      ...upperJob,
      transform: (input: { word: string }) => {
        if (input.word === 'flaky') {
          calls += 1;
          throw new Error('source timed out');
        }
        return { upper: input.word.toUpperCase() };
      },
    } as unknown as Job;
    const marker = {
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 3 }),
      partitionKey: pk,
    };
    const event = kinesisEvent([data(12, { word: 'f' }), data(13, { word: 'flaky' }), marker]);
    const response = await processBatch(event, deps(flaky));
    expect(calls).toBe(2); // bounded attempts inside the invocation
    expect(response.batchItemFailures).toEqual([
      { itemIdentifier: event.Records[1].kinesis.sequenceNumber },
      { itemIdentifier: event.Records[2].kinesis.sequenceNumber },
    ]);
    expect((await newResults()).map((e) => e.kind)).toEqual(['result']);
  });

  it('dead-letters a record that fails in every one of its bounded invocations, so the rest of its slice goes on', async () => {
    const poison = {
      ...upperJob,
      transform: (input: { word: string }) => {
        if (input.word === 'poison') throw new Error('downstream keeps timing out');
        return { upper: input.word.toUpperCase() };
      },
    } as unknown as Job;
    const marker = {
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 2 }),
      partitionKey: pk,
    };
    const batch = [data(20, { word: 'poison' }), data(21, { word: 'fine' }), marker];
    for (let invocation = 1; invocation < 3; invocation++) {
      const response = await processBatch(kinesisEvent(batch), deps(poison));
      expect(response.batchItemFailures).toHaveLength(3);
    }
    const third = await processBatch(kinesisEvent(batch), deps(poison));
    expect(third.batchItemFailures).toEqual([]);
    const out = await newResults();
    expect(out.map((e) => e.kind)).toEqual(['dead-letter', 'result', 'end-of-slice']);
    expect(out[0]).toMatchObject({ id: id(20), reason: 'retries-exhausted', attempts: 3, payload: { word: 'poison' } });
    expect((out[0] as DeadLetterEnvelope).message).toMatch(/downstream keeps timing out/);
  });

  it('fails the whole invocation when the results stream keeps refusing puts, so no earlier record loses its output', async () => {
    const refusing = {
      putRecords: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
      },
    };
    const marker = {
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 2 }),
      partitionKey: pk,
    };
    await expect(
      processBatch(kinesisEvent([data(30, { word: 'a' }), marker]), { ...deps(), putRecords: refusing }),
    ).rejects.toMatchObject({
      name: 'PutRecordsError',
    });
  });

  it('parks the records of a paused run in one object and puts none of them on the stream', async () => {
    const ledger = new RunLedger(stack.store, LEDGER);
    await ledger.setControl('run-paused', { state: 'paused', at: new Date().toISOString() });
    const paused = {
      data: encodeEnvelope({
        v: 1,
        kind: 'data',
        id: { run: 'run-paused', slice: 's000000', pos: 0 },
        body: { word: 'p' },
      }),
      partitionKey: 'run-paused/s000000',
    };
    const response = await processBatch(kinesisEvent([paused, data(14, { word: 'g' })]), deps());
    expect(response.counts.parked).toBe(1);
    expect((await newResults()).map((e) => e.kind === 'result' && e.id.pos)).toEqual([14]);
    const parked = [];
    for await (const o of stack.store.list(LEDGER, 'runs/run-paused/parked/processor/')) parked.push(o.key);
    expect(parked).toHaveLength(1);
  });
});

function raise(error: Error): never {
  throw error;
}
