import { z } from 'zod';
import { defineJob, PermanentError, type Job, type TransformContext } from '@pipeline/job';
import { kinesisEvent, startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import {
  decodeEnvelope,
  decodeRecord,
  encodeEnvelope,
  newRunKey,
  partitionKeyOf,
  packLines,
  sealEnvelopeBytes,
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
/** Deeper than JSON.stringify can go on any stack Node gives (it fails from a few thousand levels). */
const DEPTH = 200_000;
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
    // A run planned before seals (no run key), whose slice s000000 the reader has finished with 12 records.
    const ledger = new RunLedger(stack.store, LEDGER);
    await ledger.createManifest({
      runId: RUN,
      job: 'upper',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices: [{ id: 's000000' }, { id: 's000001' }],
    });
    await ledger.markSliceRead({ run: RUN, slice: 's000000', count: 12, malformed: 0, spilled: 0, at: 'now' });
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
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 12 }),
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
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 12 }),
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

  it('puts results with unicode, escapes and long strings as the bytes JSON.stringify makes, one spilled between them', async () => {
    const slice = 's000001';
    const at = (pos: number): RecordId => ({ run: RUN, slice, pos });
    const words = [
      'żółć 😀',
      'say "hi" \\ tab\t nul\u0000',
      `${'x'.repeat(600)}"${'y'.repeat(600)}`,
      'z'.repeat(3000), // over the spill threshold: its bytes are spilled, the scratch they came from reused
      `${'é'.repeat(400)}\ud800`,
      'plain',
    ];
    const before = (await stack.readStream(RESULTS)).length;
    const event = kinesisEvent([
      {
        data: packLines(words.map((word, pos) => encodeEnvelope({ v: 1, kind: 'data', id: at(pos), body: { word } }))),
        partitionKey: partitionKeyOf(RUN, slice),
      },
    ]);
    const response = await processBatch(event, deps());
    expect(response.counts.results).toBe(words.length);
    const records = (await stack.readStream(RESULTS)).slice(before);
    seen += records.reduce((n, r) => n + decodeRecord(r.data).length, 0);
    const expected = (pos: number) => ({
      v: 1,
      kind: 'result',
      id: at(pos),
      body: { upper: words[pos].toUpperCase() },
    });
    const lines = records.flatMap((r) => decodeRecord(r.data).map((line) => (line.ok ? line : raise(line.error))));
    expect(lines.map((line) => line.envelope.kind)).toEqual([
      'result',
      'result',
      'result',
      'pointer',
      'result',
      'result',
    ]);
    for (const [pos, line] of lines.entries()) {
      const bytes =
        line.envelope.kind === 'pointer' ? await new Spill(deps().spill).fetch(line.envelope.pointer) : line.bytes;
      expect(Buffer.from(bytes).toString('utf8')).toBe(JSON.stringify(expected(pos)));
    }
  });

  describe('context.once: a side effect without an idempotency key runs at most once per record', () => {
    /** A job that sends one message per record through `once`, and fails after the send when told to. */
    const sender = (failAfterSend: (word: string, attempt: number) => Error | undefined) => {
      const sent: string[] = [];
      const attempts = new Map<string, number>();
      const job = {
        ...upperJob,
        name: 'sender',
        result: z.object({ upper: z.string(), sent: z.boolean() }),
        async transform(input: { word: string }, context: TransformContext) {
          const attempt = (attempts.get(input.word) ?? 0) + 1;
          attempts.set(input.word, attempt);
          const { ran } = await context.once(async () => sent.push(input.word));
          const failure = failAfterSend(input.word, attempt);
          if (failure) throw failure;
          return { upper: input.word.toUpperCase(), sent: ran };
        },
      } as unknown as Job;
      return { job, sent };
    };

    it('claims the record, then sends; a retry after the send finds the claim and does not send again', async () => {
      const { job, sent } = sender((word, attempt) =>
        word === 'retried' && attempt === 1 ? new Error('the answer was lost') : undefined,
      );
      const response = await processBatch(
        kinesisEvent([data(30, { word: 'retried' }), data(31, { word: 'once' })]),
        deps(job),
      );
      expect(response.batchItemFailures).toEqual([]);
      expect(sent.sort()).toEqual(['once', 'retried']);
      expect(await newResults()).toEqual([
        { v: 1, kind: 'result', id: id(30), body: { upper: 'RETRIED', sent: false } },
        { v: 1, kind: 'result', id: id(31), body: { upper: 'ONCE', sent: true } },
      ]);
      expect(await stack.store.get(LEDGER, `once/sender/${RUN}/s000000/30`)).toBeDefined();
    });

    it('sends when S3 made the claim but its answer was lost: the retried PUT meets the claim, which is its own', async () => {
      const { job, sent } = sender(() => undefined);
      // The conditional PUT is stored, then answered as the SDK's retry of it would be: 412.
      const lostAnswer = {
        ...stack.store,
        putIfAbsent: async (bucket: string, key: string, body: string | Uint8Array) => {
          await stack.store.putIfAbsent(bucket, key, body);
          return false;
        },
      };
      await processBatch(kinesisEvent([data(33, { word: 'lost' })]), {
        ...deps(job),
        parking: { store: lostAnswer, bucket: LEDGER },
      });
      expect(sent).toEqual(['lost']);
      const again = sender(() => undefined);
      await processBatch(kinesisEvent([data(33, { word: 'lost' })]), {
        ...deps(again.job),
        parking: { store: lostAnswer, bucket: LEDGER },
      });
      expect(again.sent).toEqual([]);
      expect((await newResults()).map((r) => (r as { body: { sent: boolean } }).body.sent)).toEqual([true, false]);
    });

    it('does not send again when the record comes back in another invocation (a retried batch, a redrive, a replay)', async () => {
      const { job, sent } = sender(() => undefined);
      await processBatch(kinesisEvent([data(31, { word: 'once' })]), deps(job));
      expect(sent).toEqual([]);
      expect(await newResults()).toEqual([{ v: 1, kind: 'result', id: id(31), body: { upper: 'ONCE', sent: false } }]);
    });

    it('dead-letters as transform-failed a record whose effect failed for good after its claim, and never runs it again', async () => {
      const { job, sent } = sender((word) => (word === 'refused' ? new PermanentError('mail API refused') : undefined));
      await processBatch(kinesisEvent([data(32, { word: 'refused' })]), deps(job));
      expect(await newResults()).toEqual([
        expect.objectContaining({
          kind: 'dead-letter',
          id: id(32),
          reason: 'transform-failed',
          message: 'mail API refused',
        }),
      ]);
      const again = sender(() => undefined);
      await processBatch(kinesisEvent([data(32, { word: 'refused' })]), deps(again.job));
      expect([...sent, ...again.sent]).toEqual(['refused']);
      expect(await newResults()).toEqual([
        { v: 1, kind: 'result', id: id(32), body: { upper: 'REFUSED', sent: false } },
      ]);
    });
  });

  describe('transforms run concurrently, up to the job’s concurrency', () => {
    /** Resolves after `n` turns of the event loop: later records can finish first, with no clock involved. */
    const turns = (n: number) =>
      new Promise<void>((resolve) => {
        const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
        step(n);
      });
    /** An I/O-bound job: each transform waits `delay(word)` turns; counts how many wait at once. */
    function ioJob(concurrency: number, delay: (word: string) => number) {
      const count = { inFlight: 0, max: 0 };
      const job = {
        ...upperJob,
        concurrency,
        async transform({ word }: { word: string }) {
          count.inFlight += 1;
          count.max = Math.max(count.max, count.inFlight);
          try {
            await turns(delay(word));
            if (word === 'forbidden') throw new PermanentError('forbidden word');
            if (word === 'flaky') throw new Error('source timed out');
            return { upper: word.toUpperCase() };
          } finally {
            count.inFlight -= 1;
          }
        },
      } as unknown as Job;
      return { job, count };
    }

    it('runs at most `concurrency` transforms at once and puts the results in stream order', async () => {
      const { job, count } = ioJob(3, (word) => 10 - Number(word.slice(1)));
      const words = Array.from({ length: 8 }, (_, i) => `w${i}`);
      const response = await processBatch(
        kinesisEvent([{ data: packLines(words.map((word, i) => data(40 + i, { word }).data)), partitionKey: pk }]),
        deps(job),
      );
      expect(response.counts).toMatchObject({ results: 8 });
      expect(count.max).toBe(3);
      expect((await newResults()).map((e) => e.kind === 'result' && e.body)).toEqual(
        words.map((word) => ({ upper: word.toUpperCase() })),
      );
    });

    it('reports the lowest failed record and every one after it; dead letters before it keep their reasons', async () => {
      // The transient failure (record 2) fails first; the slow record before it still gets its result.
      const { job } = ioJob(4, (word) => (word === 'slow' ? 12 : 0));
      const event = kinesisEvent([
        data(50, { word: 'slow' }),
        data(51, { word: 'forbidden' }),
        data(52, { word: 'flaky' }),
        data(53, { word: 'fine' }),
      ]);
      const response = await processBatch(event, deps(job));
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
        event.Records.slice(2).map((r) => r.kinesis.sequenceNumber),
      );
      const out = await newResults();
      expect(out.map((e) => e.kind)).toEqual(['result', 'dead-letter']);
      expect(out[1]).toMatchObject({ id: id(51), reason: 'transform-failed', message: 'forbidden word' });
    });

    it('refuses a concurrency that is not a positive integer, saying where to look', async () => {
      const { job } = ioJob(0, () => 0);
      await expect(processBatch(kinesisEvent([data(60, { word: 'x' })]), deps(job))).rejects.toThrow(
        /concurrency 0 is not a positive integer; check the job's module/,
      );
    });
  });

  it('fails the whole invocation when the results stream keeps refusing puts, so no earlier record loses its output', async () => {
    const refusing = {
      putRecords: async () => {
        throw Object.assign(new Error('Rate exceeded'), { name: 'ProvisionedThroughputExceededException' });
      },
    };
    const marker = {
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count: 12 }),
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
    await ledger.createManifest({
      runId: 'run-paused',
      job: 'upper',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices: [],
    });
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

  describe('what records claim is checked', () => {
    const SEALED = 'run-sealed';
    const runKey = newRunKey();
    const sealedPk = partitionKeyOf(SEALED, 's000000');
    const sealedId = (pos: number): RecordId => ({ run: SEALED, slice: 's000000', pos });
    const sealed = (pos: number, body: unknown) => ({
      data: sealEnvelopeBytes(encodeEnvelope({ v: 1, kind: 'data', id: sealedId(pos), body }), runKey),
      partitionKey: sealedPk,
    });
    const marker = (count: number, slice = 's000000') =>
      encodeEnvelope({ v: 1, kind: 'end-of-slice', run: SEALED, slice, count });

    beforeAll(async () => {
      const ledger = new RunLedger(stack.store, LEDGER);
      await ledger.createManifest({
        runId: SEALED,
        job: 'upper',
        createdAt: 'now',
        source: { bucket: 'in', prefix: '' },
        slices: [{ id: 's000000' }, { id: 's000001' }],
        runKey,
      });
      await ledger.markSliceRead({ run: SEALED, slice: 's000000', count: 2, malformed: 0, spilled: 0, at: 'now' });
    });

    it("processes the records its run's reader sealed", async () => {
      const response = await processBatch(kinesisEvent([sealed(0, { word: 'a' })]), deps());
      expect(response.counts).toMatchObject({ results: 1, forged: 0 });
      expect(await newResults()).toEqual([{ v: 1, kind: 'result', id: sealedId(0), body: { upper: 'A' } }]);
    });

    it('processes a packed record whose one seal covers every envelope in it', async () => {
      const lines = [2, 3, 4].map((pos) =>
        encodeEnvelope({ v: 1, kind: 'data', id: sealedId(pos), body: { word: `w${pos}` } }),
      );
      const record = { data: sealEnvelopeBytes(packLines(lines), runKey), partitionKey: sealedPk };
      const response = await processBatch(kinesisEvent([record]), deps());
      expect(response.counts).toMatchObject({ results: 3, forged: 0 });
      expect((await newResults()).map((e) => e.kind === 'result' && e.id.pos)).toEqual([2, 3, 4]);
    });

    it('dead-letters every envelope of a packed record in which any byte was changed, as forged-record', async () => {
      const lines = [5, 6].map((pos) =>
        encodeEnvelope({ v: 1, kind: 'data', id: sealedId(pos), body: { word: `w${pos}` } }),
      );
      const tampered = Buffer.from(sealEnvelopeBytes(packLines(lines), runKey));
      tampered[tampered.indexOf('"w5"') + 2] = '9'.charCodeAt(0); // in the first line, which carries no seal of its own
      const response = await processBatch(kinesisEvent([{ data: tampered, partitionKey: sealedPk }]), deps());
      expect(response.counts).toMatchObject({ results: 0, forged: 2 });
      expect((await newResults()).map((e) => e.kind === 'dead-letter' && e.reason)).toEqual([
        'forged-record',
        'forged-record',
      ]);
    });

    it("dead-letters a record claiming a real id without its run's seal as forged-record, counted in no run", async () => {
      const forged = encodeEnvelope({ v: 1, kind: 'data', id: sealedId(0), body: { word: 'evil' } });
      const tampered = Buffer.from(sealed(1, { word: 'b' }).data);
      tampered[tampered.indexOf('"b"') + 1] = 'c'.charCodeAt(0);
      const event = kinesisEvent([
        { data: forged, partitionKey: sealedPk },
        { data: tampered, partitionKey: sealedPk },
        sealed(1, { word: 'b' }),
      ]);
      const response = await processBatch(event, deps());
      expect(response.batchItemFailures).toEqual([]);
      expect(response.counts).toMatchObject({ results: 1, forged: 2 });
      const out = await newResults();
      expect(out.map((e) => e.kind === 'dead-letter' && e.reason)).toEqual(['forged-record', 'forged-record', false]);
      expect(out[0]).toMatchObject({ run: SEALED, origin: { partitionKey: sealedPk } });
      expect(out[0]).not.toHaveProperty('id');
      expect(Buffer.from((out[0] as DeadLetterEnvelope).payload as string, 'base64')).toEqual(Buffer.from(forged));
      expect(out[2]).toEqual({ v: 1, kind: 'result', id: sealedId(1), body: { upper: 'B' } });
    });

    it('dead-letters a record of a run with no manifest as forged-record', async () => {
      const stray = {
        v: 1,
        kind: 'data',
        id: { run: 'run-nowhere', slice: 's0', pos: 0 },
        body: { word: 'x' },
      } as const;
      await processBatch(kinesisEvent([{ data: encodeEnvelope(stray), partitionKey: 'run-nowhere/s0' }]), deps());
      expect(await newResults()).toEqual([
        expect.objectContaining({ kind: 'dead-letter', reason: 'forged-record', run: 'run-nowhere' }),
      ]);
    });

    it('passes a marker only when it can be true, and dead-letters every other one as rejected-marker', async () => {
      const event = kinesisEvent([
        { data: marker(2), partitionKey: 'some-other-key' }, // not its slice's partition key
        { data: marker(0, 's000001'), partitionKey: partitionKeyOf(SEALED, 's000001') }, // slice not read yet
        { data: marker(0, 's999999'), partitionKey: partitionKeyOf(SEALED, 's999999') }, // not in the manifest
        { data: marker(5), partitionKey: sealedPk }, // not the count the reader recorded
        { data: marker(2), partitionKey: sealedPk }, // true
      ]);
      const response = await processBatch(event, deps());
      expect(response.batchItemFailures).toEqual([]);
      expect(response.counts).toMatchObject({ markers: 1, rejectedMarkers: 4 });
      const out = await newResults();
      expect(out.map((e) => (e.kind === 'dead-letter' ? e.reason : e.kind))).toEqual([
        'rejected-marker',
        'rejected-marker',
        'rejected-marker',
        'rejected-marker',
        'end-of-slice',
      ]);
      const messages = out.slice(0, 4).map((e) => (e as DeadLetterEnvelope).message);
      expect(messages[0]).toMatch(/arrived on partition key "some-other-key"/);
      expect(messages[1]).toMatch(/not finished \(no read marker\)/);
      expect(messages[2]).toMatch(/not in run run-sealed's manifest/);
      expect(messages[3]).toMatch(/claims 5 records, the reader recorded 2/);
      expect(out[0]).toMatchObject({ run: SEALED, payload: { kind: 'end-of-slice', count: 2 } });
    });

    it('reads the read marker once per slice per invocation, however many markers arrive', async () => {
      const markers = Array.from({ length: 5 }, () => ({ data: marker(2), partitionKey: sealedPk }));
      // The processor reads the run ledger in its parking bucket: count the GETs through the store.
      const gets: string[] = [];
      const store = { ...stack.store, get: (b: string, k: string) => (gets.push(k), stack.store.get(b, k)) };
      await processBatch(kinesisEvent(markers), { ...deps(), parking: { store, bucket: LEDGER } });
      expect(gets.filter((k) => k.endsWith('/read.json'))).toHaveLength(1);
      expect(gets.filter((k) => k.endsWith('/manifest.json'))).toHaveLength(1);
      expect((await newResults()).map((e) => e.kind)).toEqual(Array(5).fill('end-of-slice'));
    });

    it('dead-letters a record nested too deeply to encode as unencodable, and goes on', async () => {
      const deep = `{"v":1,"kind":"data","id":{"run":"${RUN}","slice":"s000000","pos":40},"body":${'['.repeat(DEPTH)}${']'.repeat(DEPTH)}}`;
      const echo = {
        ...upperJob,
        input: z.unknown(),
        result: z.unknown(),
        transform: (x: unknown) => x,
      } as unknown as Job;
      const event = kinesisEvent([{ data: Buffer.from(deep), partitionKey: pk }, data(41, { word: 'h' })]);
      const response = await processBatch(event, deps(echo));
      expect(response.batchItemFailures).toEqual([]);
      const out = await newResults();
      // The dead letter carries the line as text, so it is spilled in its turn.
      expect(out[0]).toMatchObject({ kind: 'pointer', of: 'dead-letter' });
      const { payload, ...letter } = (await new Spill(deps().spill).resolve(out[0])) as DeadLetterEnvelope;
      expect(letter).toMatchObject({ kind: 'dead-letter', id: id(40), reason: 'unencodable' });
      expect(payload === deep).toBe(true);
      expect(out[1]).toMatchObject({ kind: 'result', id: id(41) });
    });

    it('dead-letters a KPL-aggregated record once, whole, with its bytes', async () => {
      const kpl = Buffer.concat([
        Buffer.from([0xf3, 0x89, 0x9a, 0xc2]),
        Buffer.from('\n{"a":1}\n{"b":2}\n'),
        Buffer.alloc(16),
      ]);
      const event = kinesisEvent([{ data: kpl, partitionKey: pk }]);
      await processBatch(event, deps());
      const out = await newResults();
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({
        kind: 'dead-letter',
        reason: 'invalid-envelope',
        payload: kpl.toString('base64'),
      });
      expect((out[0] as DeadLetterEnvelope).message).toMatch(/KPL-aggregated/);
    });
  });
});

function raise(error: Error): never {
  throw error;
}
