import type { KinesisStreamEvent } from 'aws-lambda';
import { encodeEnvelope, packLines, type DeadLetterEnvelope, type Envelope } from '@pipeline/records';
import type { RunManifest, SliceRead } from '@pipeline/run-ledger';
import { runBatch, type BatchStage, type StageEnvelope } from './batch-loop';

const RUN = 'run-1';
const pk = `${RUN}/s0`;

function event(records: { data: Uint8Array; partitionKey?: string }[]): KinesisStreamEvent {
  return {
    Records: records.map((r, i) => ({
      eventSource: 'aws:kinesis',
      eventSourceARN: 'arn:aws:kinesis:us-east-1:000000000000:stream/records',
      kinesis: {
        partitionKey: r.partitionKey ?? pk,
        sequenceNumber: String(100 + i),
        data: Buffer.from(r.data).toString('base64'),
      },
    })) as unknown as KinesisStreamEvent['Records'],
  };
}

const data = (pos: number): Envelope => ({ v: 1, kind: 'data', id: { run: RUN, slice: 's0', pos }, body: { pos } });
const marker = (count: number): Envelope => ({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's0', count });

/** A stage that writes down what the loop hands it, and ports over in-memory maps. */
function setup(
  options: {
    handle?: (envelope: StageEnvelope) => void | Promise<void>;
    isFatal?: (e: unknown) => boolean;
    prepare?: (envelope: StageEnvelope) => unknown;
    concurrency?: number;
    readCount?: number;
  } = {},
) {
  const seen: string[] = [];
  const gets = { manifest: 0, read: 0 };
  const stage: BatchStage = {
    name: 'processor',
    checkSeals: false,
    ...(options.prepare ? { prepare: options.prepare, concurrency: options.concurrency } : {}),
    handle: (envelope, _at, prepared) => {
      const what = `${envelope.kind} ${'id' in envelope && envelope.id ? envelope.id.pos : ''}`.trim();
      seen.push(prepared === undefined ? what : `${what}=${String(prepared)}`);
      return options.handle?.(envelope);
    },
    deadLetter: async (letter: DeadLetterEnvelope) => void seen.push(`dead-letter ${letter.reason}`),
    barrier: async () => void seen.push('barrier'),
    sliceEnd: async (m) => void seen.push(`end ${m.kind === 'end-of-slice' ? m.count : ''}`),
    park: async () => undefined,
    isFatal: options.isFatal ?? (() => false),
    finish: async () => undefined,
  };
  const manifest: RunManifest = {
    runId: RUN,
    job: 'j',
    createdAt: 'now',
    source: { bucket: 'b', prefix: '' },
    slices: [{ id: 's0' }],
  };
  const read: SliceRead = { run: RUN, slice: 's0', count: options.readCount ?? 2, malformed: 0, spilled: 0, at: 'now' };
  const ports = {
    spill: { open: () => Promise.reject(new Error('no pointers here')) },
    ledger: {
      getManifest: async () => (gets.manifest++, manifest),
      getSliceRead: async () => (gets.read++, read),
    },
    control: { isPaused: async () => false },
  };
  return { stage, ports, seen, gets };
}

describe('runBatch: the partial-batch loop shared by the processor and the writer', () => {
  it('hands each envelope to the stage in order, and a marker only after the barrier', async () => {
    const { stage, ports, seen } = setup();
    const response = await runBatch(
      event([
        { data: packLines([encodeEnvelope(data(0)), encodeEnvelope(data(1))]) },
        { data: encodeEnvelope(marker(2)) },
      ]),
      stage,
      ports,
    );
    expect(response.batchItemFailures).toEqual([]);
    expect(seen).toEqual(['data 0', 'data 1', 'barrier', 'end 2']);
    expect(response.counts).toMatchObject({ markers: 1, rejectedMarkers: 0 });
  });

  it('checks each marker against the read marker, read once per slice per invocation', async () => {
    const { stage, ports, seen, gets } = setup();
    const response = await runBatch(
      event([
        { data: encodeEnvelope(marker(2)) },
        { data: encodeEnvelope(marker(7)) },
        { data: encodeEnvelope(marker(2)) },
      ]),
      stage,
      ports,
    );
    expect(seen).toEqual(['barrier', 'end 2', 'dead-letter rejected-marker', 'barrier', 'end 2']);
    expect(response.counts).toMatchObject({ markers: 2, rejectedMarkers: 1, deadLettered: 1 });
    expect(gets).toEqual({ manifest: 1, read: 1 });
  });

  it('dead-letters a record with one bad line once, whole, and goes on', async () => {
    const { stage, ports, seen } = setup();
    await runBatch(
      event([{ data: packLines([encodeEnvelope(data(0)), Buffer.from('{oops')]) }, { data: encodeEnvelope(data(1)) }]),
      stage,
      ports,
    );
    expect(seen).toEqual(['dead-letter invalid-envelope', 'data 1']);
  });

  it('reports a transient failure and every record after it, and hands nothing after it to the stage', async () => {
    const { stage, ports, seen } = setup({
      handle: (envelope) => {
        if (envelope.kind === 'data' && envelope.id.pos === 1) throw new Error('timed out');
      },
    });
    const response = await runBatch(
      event([
        { data: encodeEnvelope(data(0)) },
        { data: encodeEnvelope(data(1)) },
        { data: encodeEnvelope(marker(2)) },
      ]),
      stage,
      ports,
    );
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: '101' }, { itemIdentifier: '102' }]);
    expect(response.counts.failedFrom).toBe('101');
    expect(seen).toEqual(['data 0', 'data 1']);
  });

  it('fails the whole invocation on an error the stage calls fatal', async () => {
    const fatal = new Error('next hop refused');
    const { stage, ports } = setup({
      handle: () => {
        throw fatal;
      },
      isFatal: (e) => e === fatal,
    });
    await expect(runBatch(event([{ data: encodeEnvelope(data(0)) }]), stage, ports)).rejects.toBe(fatal);
  });

  describe('records prepared concurrently (the processor’s transforms)', () => {
    /** Resolves after `n` turns of the event loop: later records can finish first, with no clock involved. */
    const turns = (n: number) =>
      new Promise<void>((resolve) => {
        const step = (left: number) => (left === 0 ? resolve() : setImmediate(() => step(left - 1)));
        step(n);
      });
    const posOf = (envelope: StageEnvelope) => ('id' in envelope && envelope.id ? envelope.id.pos : -1);

    /** A prepare that counts how many run at once; each finishes after `delay(pos)` turns. */
    function counting(delay: (pos: number) => number, fail?: (pos: number) => boolean) {
      const count = { inFlight: 0, max: 0, started: [] as number[] };
      const prepare = async (envelope: StageEnvelope) => {
        const pos = posOf(envelope);
        count.started.push(pos);
        count.inFlight += 1;
        count.max = Math.max(count.max, count.inFlight);
        await turns(delay(pos));
        count.inFlight -= 1;
        if (fail?.(pos)) throw new Error(`record ${pos} timed out`);
        return `r${pos}`;
      };
      return { count, prepare };
    }

    it('prepares at most `concurrency` records at once, and hands them to the stage in stream order', async () => {
      // Within each window of four, the last started finishes first.
      const { count, prepare } = counting((pos) => 4 - (pos % 4));
      const { stage, ports, seen } = setup({ prepare, concurrency: 4, readCount: 12 });
      const lines = Array.from({ length: 12 }, (_, pos) => encodeEnvelope(data(pos)));
      const response = await runBatch(
        event([
          { data: packLines(lines.slice(0, 5)) },
          { data: packLines(lines.slice(5)) },
          { data: encodeEnvelope(marker(12)) },
        ]),
        stage,
        ports,
      );
      expect(response.batchItemFailures).toEqual([]);
      expect(count.max).toBe(4);
      expect(seen).toEqual([...lines.map((_, pos) => `data ${pos}=r${pos}`), 'barrier', 'end 12']);
    });

    it('runs one at a time at concurrency 1', async () => {
      const { count, prepare } = counting(() => 2);
      const { stage, ports, seen } = setup({ prepare, concurrency: 1 });
      await runBatch(event([{ data: packLines([encodeEnvelope(data(0)), encodeEnvelope(data(1))]) }]), stage, ports);
      expect(count.max).toBe(1);
      expect(seen).toEqual(['data 0=r0', 'data 1=r1']);
    });

    it('reports the lowest failed record and every one after it, even when a later one failed first', async () => {
      // Record 3 fails at once, record 1 only after every other record has finished.
      const { prepare } = counting(
        (pos) => (pos === 1 ? 20 : pos === 3 ? 0 : 1),
        (pos) => pos === 1 || pos === 3,
      );
      const { stage, ports, seen } = setup({ prepare, concurrency: 8, readCount: 6 });
      const response = await runBatch(
        event([
          ...Array.from({ length: 6 }, (_, pos) => ({ data: encodeEnvelope(data(pos)) })),
          { data: encodeEnvelope(marker(6)) },
        ]),
        stage,
        ports,
      );
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
        '101',
        '102',
        '103',
        '104',
        '105',
        '106',
      ]);
      expect(response.counts.failedFrom).toBe('101');
      // Nothing after the failed record reaches the stage, and its marker does not pass.
      expect(seen).toEqual(['data 0=r0']);
    });

    it('hands a synchronously prepared record on at once, but never ahead of an earlier one still being prepared', async () => {
      // Even positions prepare synchronously; odd ones take turns of the event loop (pos 1 the longest).
      const handedAt: number[] = [];
      const { stage, ports, seen } = setup({
        prepare: (envelope) => {
          const pos = posOf(envelope);
          if (pos % 2 === 0) return `s${pos}`;
          return turns(pos === 1 ? 10 : 1).then(() => `a${pos}`);
        },
        handle: (envelope) => void handedAt.push(posOf(envelope)),
        concurrency: 4,
        readCount: 6,
      });
      const synchronousThrow = { prepare: stage.prepare };
      stage.prepare = (envelope, at) => {
        if (posOf(envelope) === 4) throw new Error('record 4 failed at once');
        return synchronousThrow.prepare?.(envelope, at);
      };
      const response = await runBatch(
        event([{ data: packLines(Array.from({ length: 6 }, (_, pos) => encodeEnvelope(data(pos)))) }]),
        stage,
        ports,
      );
      expect(handedAt).toEqual([0, 1, 2, 3]);
      expect(seen).toEqual(['data 0=s0', 'data 1=a1', 'data 2=s2', 'data 3=a3']);
      // A synchronous failure is the record's failure, reported in order like any other.
      expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(['100']);
    });

    it('hands on every record prepared before a record that will not decode, then dead-letters that one', async () => {
      const { prepare } = counting((pos) => 3 - pos);
      const { stage, ports, seen } = setup({ prepare, concurrency: 4 });
      await runBatch(
        event([
          { data: packLines([encodeEnvelope(data(0)), encodeEnvelope(data(1)), encodeEnvelope(data(2))]) },
          { data: Buffer.from('{oops') },
          { data: encodeEnvelope(data(3)) },
        ]),
        stage,
        ports,
      );
      expect(seen).toEqual(['data 0=r0', 'data 1=r1', 'data 2=r2', 'dead-letter invalid-envelope', 'data 3=r3']);
    });
  });
});
