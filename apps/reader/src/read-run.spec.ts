import { z } from 'zod';
import { defineJob, type Job } from '@pipeline/job';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { getJson } from '@pipeline/object-store';
import { decodeEnvelope, decodeRecord, hasValidSeal, LAYOUT, unpackLines, type Envelope } from '@pipeline/records';
import { RunLedger } from '@pipeline/run-ledger';
import { s3ObjectSource } from '@pipeline/sources';
import { kinesisPutRecordsPort } from '@pipeline/stream-producer';
import { ChainLimitError, readRun, resolveRunId, type ReaderDeps, type ReaderRequest } from './read-run';

const SOURCE = 'source-bucket';
const RESULTS = 'results-bucket';
const SPILL = 'spill-bucket';
const STREAM = 'records';

const csvJob = defineJob({
  name: 'csv-words',
  source: { format: 'csv' },
  input: z.object({ word: z.string(), n: z.string() }),
  result: z.unknown(),
  transform: (row) => row,
}) as Job;

describe('readRun: the reader against real S3 and Kinesis servers', () => {
  let stack: TestStack;
  let deps: (overrides?: Partial<ReaderDeps>) => ReaderDeps;
  const envelopes = async (): Promise<Envelope[]> =>
    (await stack.readStream(STREAM)).flatMap((r) =>
      decodeRecord(r.data).map((line) => (line.ok ? line.envelope : raise(line.error))),
    );

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [SOURCE, RESULTS, SPILL], streams: [{ name: STREAM, shards: 2 }] });
    const rows = ['word,n', ...Array.from({ length: 40 }, (_, i) => (i === 17 ? 'broken,row,too,many' : `w${i},${i}`))];
    await stack.store.put(SOURCE, 'words/a.csv', `${rows.join('\n')}\n`);
    await stack.store.put(SOURCE, 'words/b.csv', 'word,n\nlong,' + 'x'.repeat(3000) + '\n');
    deps = (overrides = {}) => ({
      job: csvJob,
      objects: s3ObjectSource(stack.s3),
      ledger: new RunLedger(stack.store, RESULTS),
      putRecords: kinesisPutRecordsPort(stack.kinesis),
      recordsStream: STREAM,
      spill: { store: stack.store, bucket: SPILL, prefix: 'spill/', thresholdBytes: 1024 },
      sliceBytes: 100,
      concurrency: 2,
      ...overrides,
    });
  });
  afterAll(() => stack.close());

  it("names a scheduled run after its scheduled time, and a caller's run as the caller says", () => {
    expect(resolveRunId({ scheduledTime: '2026-11-23T06:00:00Z' }, new Date())).toBe('run-20261123T060000Z');
    expect(resolveRunId({ runId: 'backfill-7' }, new Date())).toBe('backfill-7');
    expect(() => resolveRunId({ runId: 'no/slashes' }, new Date())).toThrow(/run id/);
  });

  it('plans slices, streams every row of every slice, dead-letters malformed rows, and closes each slice with a marker', async () => {
    const result = await readRun({ runId: 'run-csv', source: { bucket: SOURCE, prefix: 'words/' } }, deps());
    expect(result).toMatchObject({ created: true, read: 41, malformed: 1, spilled: 1, done: true, paused: false });
    const all = await envelopes();
    const markers = all.filter((e) => e.kind === 'end-of-slice');
    expect(markers).toHaveLength(result.slices);
    expect(markers.reduce((sum, m) => sum + (m.kind === 'end-of-slice' ? m.count : 0), 0)).toBe(41);
    const data = all.filter((e) => e.kind === 'data');
    expect(data).toHaveLength(39);
    expect(data.map((e) => e.kind === 'data' && e.body)).toContainEqual({ word: 'w3', n: '3' });
    expect(all.filter((e) => e.kind === 'dead-letter')).toEqual([
      expect.objectContaining({ stage: 'reader', reason: 'malformed-row', payload: 'broken,row,too,many' }),
    ]);
    expect(all.filter((e) => e.kind === 'pointer')).toHaveLength(1); // the long row is spilled
  });

  it("keeps every record of a slice before that slice's marker, on the slice's partition key", async () => {
    const records = await stack.readStream(STREAM);
    const lastData = new Map<string, number>();
    const markerAt = new Map<string, number>();
    records.forEach((r, i) => {
      for (const line of decodeRecord(r.data)) {
        if (line.ok && line.envelope.kind === 'end-of-slice') markerAt.set(r.partitionKey, i);
        else lastData.set(r.partitionKey, i);
      }
    });
    for (const [key, at] of lastData) expect(at).toBeLessThan(markerAt.get(key)!);
  });

  it('reads nothing again when the same run is triggered again, and puts again only the markers of slices not yet done', async () => {
    const kinds = async () => {
      const count: Record<string, number> = {};
      for (const e of await envelopes()) {
        const key = e.kind === 'end-of-slice' ? `marker ${e.slice}` : e.kind;
        if (e.kind === 'end-of-slice' ? e.run === 'run-csv' : e.id?.run === 'run-csv')
          count[key] = (count[key] ?? 0) + 1;
      }
      return count;
    };
    const before = await kinds();
    const ledger = new RunLedger(stack.store, RESULTS);
    await ledger.markSliceDone({ run: 'run-csv', slice: 's000000', count: 0, at: 'now' });
    const again = await readRun({ runId: 'run-csv', source: { bucket: SOURCE, prefix: 'words/' } }, deps());
    expect(again).toMatchObject({ created: false, read: 0, slicesReadNow: 0, done: true });
    expect(again.slicesAlreadyRead).toBe(again.slices);
    const expected = { ...before };
    for (const slice of (await ledger.getManifest('run-csv'))!.slices)
      if (slice.id !== 's000000') expected[`marker ${slice.id}`] += 1;
    expect(await kinds()).toEqual(expected);
  });

  it("seals every record it puts with the run's key, and records a slice as read before its marker goes out", async () => {
    const ledger = new RunLedger(stack.store, RESULTS);
    const readBeforeMarker: boolean[] = [];
    const port = kinesisPutRecordsPort(stack.kinesis);
    const watching: ReaderDeps['putRecords'] = {
      async putRecords(stream, records) {
        for (const record of records)
          for (const line of decodeRecord(record.data))
            if (line.ok && line.envelope.kind === 'end-of-slice')
              readBeforeMarker.push((await ledger.getSliceRead('run-sealed', line.envelope.slice)) !== undefined);
        return port.putRecords(stream, records);
      },
    };
    const before = (await stack.readStream(STREAM)).length;
    await readRun(
      { runId: 'run-sealed', source: { bucket: SOURCE, prefix: 'words/a' } },
      deps({ putRecords: watching }),
    );
    const { runKey } = (await ledger.getManifest('run-sealed'))!;
    expect(runKey).toMatch(/^[0-9a-f]{64}$/);
    // One seal per stream record, over every envelope packed in it.
    const records = (await stack.readStream(STREAM))
      .slice(before)
      .filter((r) => unpackLines(r.data).some((bytes) => decodeEnvelope(bytes).kind !== 'end-of-slice'));
    expect(records.length).toBeGreaterThan(0);
    expect(records.some((r) => unpackLines(r.data).length > 1)).toBe(true);
    for (const record of records) expect(hasValidSeal(record.data, runKey!)).toBe(true);
    expect(readBeforeMarker.length).toBeGreaterThan(0);
    expect(readBeforeMarker.every(Boolean)).toBe(true);
  });

  it('dead-letters a row nested too deeply to encode as unencodable, and reads the rest of its slice', async () => {
    const depth = 200_000;
    await stack.store.put(SOURCE, 'deep/a.ndjson', `{"n":1}\n${'['.repeat(depth)}${']'.repeat(depth)}\n{"n":3}\n`);
    const ndjson = { ...csvJob, source: { format: 'ndjson' } } as Job;
    const result = await readRun(
      { runId: 'run-deep', source: { bucket: SOURCE, prefix: 'deep/' } },
      deps({ job: ndjson, sliceBytes: 1024 * 1024 }),
    );
    expect(result).toMatchObject({ read: 3, malformed: 1, done: true });
    const fresh = (await envelopes()).filter((e) => (e.kind === 'end-of-slice' ? e.run : e.id?.run) === 'run-deep');
    expect(fresh.map((e) => (e.kind === 'dead-letter' ? e.reason : e.kind))).toEqual([
      'data',
      'unencodable',
      'data',
      'end-of-slice',
    ]);
  });

  it('hands a run with nothing to read on as delivered at once, for the finisher to complete', async () => {
    const result = await readRun({ runId: 'run-empty', source: { bucket: SOURCE, prefix: 'no-such-prefix/' } }, deps());
    expect(result).toMatchObject({ slices: 0, read: 0, done: true });
    expect(await getJson(stack.store, RESULTS, LAYOUT.deliveredKey('run-empty'))).toMatchObject({ runId: 'run-empty' });
  });

  it('does not read a paused run', async () => {
    const ledger = new RunLedger(stack.store, RESULTS);
    await readRun({ runId: 'run-held', source: { bucket: SOURCE, prefix: 'nothing-here/' } }, deps());
    await ledger.setControl('run-held', { state: 'paused', at: new Date().toISOString() });
    expect(await readRun({ runId: 'run-held' }, deps())).toMatchObject({ paused: true, read: 0 });
  });

  it('hands the rest of a run to a fresh invocation when its time runs short, one hop further', async () => {
    const continued: unknown[] = [];
    const result = await readRun(
      { runId: 'run-chain', source: { bucket: SOURCE, prefix: 'words/' }, hop: 4 },
      deps({ remainingMs: () => 1_000, continueRun: async (request) => void continued.push(request) }),
    );
    expect(result).toMatchObject({ slicesReadNow: 0, continued: true, done: false });
    expect(continued).toEqual([{ runId: 'run-chain', hop: 5 }]);
  });

  it('fans a run out into shares, each read by its own invocation: every slice read once, by one share', async () => {
    const invoked: ReaderRequest[] = [];
    const continueRun = async (request: ReaderRequest) => void invoked.push(request);
    const trigger = await readRun(
      { runId: 'run-fan', source: { bucket: SOURCE, prefix: 'words/' } },
      deps({ fanOut: 3, continueRun }),
    );
    expect(trigger).toMatchObject({ fannedOut: 3, continued: true, slicesReadNow: 0 });
    expect(invoked).toEqual([0, 1, 2].map((index) => ({ runId: 'run-fan', hop: 1, share: { index, of: 3 } })));

    const shares = await Promise.all(invoked.map((request) => readRun(request, deps({ fanOut: 3, continueRun }))));

    expect(shares.every((r) => r.done && r.fannedOut === 0)).toBe(true);
    expect(shares.reduce((sum, r) => sum + r.slicesReadNow, 0)).toBe(trigger.slices);
    expect(shares.reduce((sum, r) => sum + r.read, 0)).toBe(41);
    expect((await new RunLedger(stack.store, RESULTS).slicesRead('run-fan')).size).toBe(trigger.slices);
  });

  it('hands a share on as that same share when its time runs short', async () => {
    const continued: ReaderRequest[] = [];
    await readRun(
      { runId: 'run-fan-late', source: { bucket: SOURCE, prefix: 'words/' }, hop: 2, share: { index: 1, of: 2 } },
      deps({ fanOut: 2, remainingMs: () => 1_000, continueRun: async (request) => void continued.push(request) }),
    );
    expect(continued).toEqual([{ runId: 'run-fan-late', hop: 3, share: { index: 1, of: 2 } }]);
  });

  it('refuses to hand a run on past the chain limit, so a chain cannot run away', async () => {
    await expect(
      readRun({ runId: 'run-chain', hop: 100 }, deps({ remainingMs: () => 1_000, continueRun: async () => undefined })),
    ).rejects.toBeInstanceOf(ChainLimitError);
  });

  describe('a cursor source: a chain of slices, each naming the next', () => {
    /** 23 items, 5 a page, cursors `c<offset>`; `down(cursor)` makes the API fail at that cursor. */
    function cursorJob(down: (cursor: string | undefined) => boolean = () => false) {
      const asked: (string | undefined)[] = [];
      const job = defineJob({
        name: 'cursor-items',
        source: {
          kind: 'cursor',
          pagesPerSlice: 2,
          fetchPage: (cursor) => {
            asked.push(cursor);
            if (down(cursor)) throw new Error(`the API answered 503 five times for cursor ${cursor}`);
            const from = cursor === undefined ? 0 : Number(cursor.slice(1));
            const rows = Array.from({ length: Math.min(5, 23 - from) }, (_, i) => ({ item: from + i }));
            return { rows, next: from + 5 < 23 ? `c${from + 5}` : null };
          },
        },
        input: z.unknown(),
        result: z.unknown(),
        transform: (row) => row,
      }) as Job;
      return { job, asked };
    }
    const chainRead = async (run: string) => {
      const ledger = new RunLedger(stack.store, RESULTS);
      const read = await ledger.slicesRead(run);
      return [...read.values()].sort((a, b) => a.slice.localeCompare(b.slice)).map((r) => [r.slice, r.count, r.next]);
    };

    it('plans the first link only, reads link after link, each read marker naming the next, the last none', async () => {
      const { job, asked } = cursorJob();
      const result = await readRun({ runId: 'run-cursor' }, deps({ job }));

      expect(result).toMatchObject({ created: true, slices: 3, slicesReadNow: 3, read: 23, done: true });
      expect(await new RunLedger(stack.store, RESULTS).getManifest('run-cursor')).toMatchObject({
        sourceKind: 'cursor',
        chain: true,
        slices: [{ kind: 'cursor', id: 's000000', link: 0, pageCount: 2 }],
      });
      expect(await chainRead('run-cursor')).toEqual([
        ['s000000', 10, { kind: 'cursor', id: 's000001', link: 1, cursor: 'c10', pageCount: 2 }],
        ['s000001', 10, { kind: 'cursor', id: 's000002', link: 2, cursor: 'c20', pageCount: 2 }],
        ['s000002', 3, null],
      ]);
      expect(asked).toEqual([undefined, 'c5', 'c10', 'c15', 'c20']);
      const markers = (await envelopes()).filter((e) => e.kind === 'end-of-slice' && e.run === 'run-cursor');
      // Sorted: the slices' partition keys spread over the stream's shards.
      expect(markers.map((m) => m.kind === 'end-of-slice' && [m.slice, m.count]).sort()).toEqual([
        ['s000000', 10],
        ['s000001', 10],
        ['s000002', 3],
      ]);
    });

    it('fails the slice whose cursor the API stops answering, and a re-trigger resumes at that link', async () => {
      let apiDown = true;
      const { job, asked } = cursorJob((cursor) => apiDown && cursor === 'c15');

      await expect(readRun({ runId: 'run-cursor-down' }, deps({ job }))).rejects.toThrow(
        /slice s000001: link 1 of a cursor chain.*503 five times for cursor c15/,
      );
      // Link 0 is read and names link 1; link 1 is not read (its first page was put, its marker was not).
      expect(await chainRead('run-cursor-down')).toEqual([['s000000', 10, expect.objectContaining({ cursor: 'c10' })]]);

      apiDown = false;
      asked.length = 0;
      const again = await readRun({ runId: 'run-cursor-down' }, deps({ job }));

      expect(again).toMatchObject({ created: false, slices: 3, slicesAlreadyRead: 1, slicesReadNow: 2, read: 13 });
      expect(asked).toEqual(['c10', 'c15', 'c20']);
      expect((await chainRead('run-cursor-down')).map(([slice, count]) => [slice, count])).toEqual([
        ['s000000', 10],
        ['s000001', 10],
        ['s000002', 3],
      ]);
      const done = await readRun({ runId: 'run-cursor-down' }, deps({ job }));
      expect(done).toMatchObject({ slices: 3, slicesAlreadyRead: 3, slicesReadNow: 0, done: true });
    });

    it('hands the open link on to a fresh invocation when time runs short, which resumes at it', async () => {
      const { job } = cursorJob();
      const continued: ReaderRequest[] = [];
      let calls = 0;
      // Time for one link: the first look finds enough, the second does not.
      const remainingMs = () => (calls++ === 0 ? 60_000 : 1_000);
      const first = await readRun(
        { runId: 'run-cursor-hops' },
        deps({ job, remainingMs, continueRun: async (request) => void continued.push(request) }),
      );

      expect(first).toMatchObject({ slices: 2, slicesReadNow: 1, continued: true, done: false });
      expect(continued).toEqual([{ runId: 'run-cursor-hops', hop: 1 }]);
      const second = await readRun(continued[0], deps({ job }));
      expect(second).toMatchObject({ slicesAlreadyRead: 1, slicesReadNow: 2, slices: 3, done: true });
    });

    it('lets one of two readers of a chain at once read it on: the other stops at the link it finds taken, and no marker is replaced', async () => {
      const { job, asked } = cursorJob();
      // Both readers are inside link 0 before either records it: its first page waits for both.
      let arrived = 0;
      let release: () => void = () => undefined;
      const both = new Promise<void>((resolve) => (release = resolve));
      const source = job.source as Extract<Job['source'], { kind: 'cursor' }>;
      const racing = {
        ...job,
        source: {
          ...source,
          fetchPage: async (cursor: string | undefined, context: Parameters<typeof source.fetchPage>[1]) => {
            if (cursor === undefined && ++arrived === 2) release();
            if (cursor === undefined) await both;
            return source.fetchPage(cursor, context);
          },
        },
      } as Job;
      const continued: ReaderRequest[] = [];
      const continueRun = async (request: ReaderRequest) => void continued.push(request);

      const results = await Promise.all([
        readRun({ runId: 'run-cursor-twice' }, deps({ job: racing, continueRun })),
        readRun({ runId: 'run-cursor-twice' }, deps({ job: racing, continueRun })),
      ]);

      const [winner, loser] = [...results].sort((a, b) => b.slicesReadNow - a.slicesReadNow);
      expect(winner).toMatchObject({ slicesReadNow: 3, slicesTaken: 0, read: 23, done: true });
      expect(loser).toMatchObject({ slicesReadNow: 0, slicesTaken: 1, read: 0, continued: false, done: true });
      expect(continued).toEqual([]);
      // The chain's five pages once, and link 0's two pages once more: not the whole chain twice.
      expect(asked.map((cursor) => cursor ?? 'first').sort()).toEqual([
        'c10',
        'c15',
        'c20',
        'c5',
        'c5',
        'first',
        'first',
      ]);
      expect(await chainRead('run-cursor-twice')).toEqual([
        ['s000000', 10, expect.objectContaining({ id: 's000001', cursor: 'c10' })],
        ['s000001', 10, expect.objectContaining({ id: 's000002', cursor: 'c20' })],
        ['s000002', 3, null],
      ]);
      const run = (await envelopes()).filter(
        (e) => (e.kind === 'end-of-slice' ? e.run : e.id?.run) === 'run-cursor-twice',
      );
      // One end-of-slice marker per link, the winner's; link 0's records twice, under the same ids.
      expect(
        run
          .filter((e) => e.kind === 'end-of-slice')
          .map((m) => m.kind === 'end-of-slice' && m.slice)
          .sort(),
      ).toEqual(['s000000', 's000001', 's000002']);
      const ids = run.flatMap((e) => (e.kind === 'data' ? [`${e.id.slice}/${e.id.pos}`] : []));
      expect(ids).toHaveLength(33);
      expect(new Set(ids).size).toBe(23);
    });

    it('does not fan a chain out: with READER_FAN_OUT above 1 the trigger reads the chain itself, link by link', async () => {
      const { job } = cursorJob();
      const invoked: ReaderRequest[] = [];
      const result = await readRun(
        { runId: 'run-cursor-fan' },
        deps({ job, fanOut: 3, continueRun: async (request) => void invoked.push(request) }),
      );

      expect(result).toMatchObject({ fannedOut: 0, slicesReadNow: 3, read: 23, done: true });
      expect(invoked).toEqual([]);
    });
  });

  it('says what to do when a run has no source', async () => {
    await expect(readRun({ runId: 'run-nowhere' }, deps())).rejects.toThrow(/SOURCE_BUCKET/);
  });
});

function raise(error: Error): never {
  throw error;
}
