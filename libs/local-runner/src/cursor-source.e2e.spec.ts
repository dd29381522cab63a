import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { handler as readerHandler } from '@apps/reader';
import { defineJob } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import { LocalPipeline, type LocalPipelineOptions } from './local-pipeline';
import { runJob } from './run-job';
import { collatedLines, deadLetterIds, E2E_PIPELINE, tempDataDir } from './testing';

const ITEMS = 270;
const PER_PAGE = 30;
/** Item 77's `item` is not a number: the processor dead-letters it, so conservation counts both sides. */
const INVALID = 77;

/**
 * A cursor-paginated API on loopback: `/items?after=<cursor>` answers 30 items and the next cursor
 * (opaque: base64 of the next offset), none on the last page; no page count anywhere. While
 * `down(cursor)` is true the API answers 503 for that cursor; `hold(cursor)` delays the answer.
 */
async function startCursorApi(
  down: (cursor: string) => boolean = () => false,
  hold: (cursor: string) => Promise<void> = async () => undefined,
) {
  const asked: string[] = [];
  const server: Server = createServer(async (req, res) => {
    const cursor = new URL(req.url ?? '/', 'http://api').searchParams.get('after') ?? '';
    asked.push(cursor);
    await hold(cursor);
    if (down(cursor)) {
      res.writeHead(503);
      return void res.end('busy');
    }
    const from = cursor ? Number(Buffer.from(cursor, 'base64url').toString()) : 0;
    const items = Array.from({ length: Math.max(0, Math.min(PER_PAGE, ITEMS - from)) }, (_, i) => ({
      item: from + i === INVALID ? 'x' : from + i,
    }));
    const next = from + PER_PAGE < ITEMS ? Buffer.from(String(from + PER_PAGE)).toString('base64url') : null;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ items, next }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { url, asked, stop: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const cursorOf = (offset: number) => Buffer.from(String(offset)).toString('base64url');

function itemsJob(api: string) {
  return defineJob({
    name: 'cursor-items',
    source: {
      kind: 'cursor',
      pagesPerSlice: 2,
      fetchPage: async (cursor, { http }) => {
        const page = await http.json<{ items: unknown[]; next: string | null }>(`${api}/items?after=${cursor ?? ''}`);
        return { rows: page.items, next: page.next };
      },
      load: { attempts: 2 },
    },
    input: z.object({ item: z.number().int() }),
    result: z.object({ item: z.number() }),
    transform: (row) => row,
  });
}

async function start(options: Partial<LocalPipelineOptions>) {
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE, ...options });
  return {
    pipeline,
    async close() {
      await pipeline.stop();
      await data.remove();
    },
  };
}

describe('a cursor-paginated API, end to end on the embedded stack: a chain of slices', () => {
  jest.setTimeout(180_000);

  it('reads the chain one link per reader invocation, each handing on to the next, every item once', async () => {
    const api = await startCursorApi();
    // Every look at the clock moves it on a second; the timeout leaves time for one link per invocation.
    let now = 0;
    const reader = { clock: () => (now += 1_000), timeoutMs: DEFAULTS.readerSliceTimeMarginMs + 1_500 };
    const job = itemsJob(api.url);
    const h = await start({ job, reader });
    try {
      const report = await runJob({ runId: 'run-cursor', pipeline: h.pipeline, job, timeoutMs: 120_000 });

      const status = await h.pipeline.ledger.status('run-cursor');
      const ids = (await collatedLines(h.pipeline.store, 'run-cursor')).map((l) => l.id);
      const letters = await deadLetterIds(h.pipeline.store, 'run-cursor');
      expect(report).toMatchObject({ complete: true, conserved: true, read: ITEMS, delivered: ITEMS - 1 });
      expect(report.deadLettered).toBe(1);
      expect(status.manifest).toMatchObject({ sourceKind: 'cursor', chain: true });
      expect(status.slices.map((s) => [s.id, s.read?.count])).toEqual([
        ['s000000', 60],
        ['s000001', 60],
        ['s000002', 60],
        ['s000003', 60],
        ['s000004', 30],
      ]);
      expect(status.chainOpen).toBeUndefined();
      expect(new Set(ids).size).toBe(ITEMS - 1);
      expect(letters).toEqual(['run-cursor/s000001/17']);
      // One invocation per link, none after the last; every page asked once, in order.
      expect(h.pipeline.lambda?.stats()).toMatchObject({ invocations: 5, recursionStops: [], asyncErrors: [] });
      expect(api.asked).toEqual(['', ...Array.from({ length: 8 }, (_, i) => cursorOf((i + 1) * PER_PAGE))]);
    } finally {
      await h.close();
      await api.stop();
    }
  });

  it('lets one of two readers of a run triggered at once read the chain on, the other stopping at the link it finds taken', async () => {
    // The first page is answered once both readers asked for it: both are inside link 0 before either records it.
    let firstPages = 0;
    let bothAsked: () => void = () => undefined;
    const together = new Promise<void>((resolve) => (bothAsked = resolve));
    const api = await startCursorApi(
      () => false,
      async (cursor) => {
        if (cursor !== '') return;
        if (++firstPages === 2) bothAsked();
        await together;
      },
    );
    const job = itemsJob(api.url);
    const h = await start({ job });
    try {
      await h.pipeline.startConsumers();
      // The schedule's invocation, and a second one at the same time. The local Lambda runs one invocation
      // at a time, so the second calls the reader's handler itself (the same wiring, under the reader's role).
      const readers = await Promise.all([
        h.pipeline.read({ runId: 'run-cursor-twice' }),
        readerHandler({ runId: 'run-cursor-twice' }),
      ]);
      expect(readers.map((r) => [r.slicesReadNow, r.slicesTaken]).sort()).toEqual([
        [0, 1],
        [5, 0],
      ]);
      // Every page once, and link 0's two pages once more: not the whole chain twice.
      expect(api.asked).toHaveLength(9 + 2);
      expect(api.asked.filter((cursor) => cursor === '' || cursor === cursorOf(30))).toHaveLength(4);

      const report = await runJob({ runId: 'run-cursor-twice', pipeline: h.pipeline, job, timeoutMs: 120_000 });
      expect(report).toMatchObject({ complete: true, conserved: true, read: ITEMS, delivered: ITEMS - 1 });
      expect(api.asked).toHaveLength(11);
      const ids = (await collatedLines(h.pipeline.store, 'run-cursor-twice')).map((l) => l.id);
      expect(new Set(ids).size).toBe(ITEMS - 1);
      // The reader's role allows the conditional PUTs of the plan and the read markers, and the read-back after a 412.
      expect(h.pipeline.deniedCalls()).toEqual([]);
    } finally {
      await h.close();
      await api.stop();
    }
  });

  it('fails the link whose cursor the API stops answering, is not complete with the chain open, and a re-trigger finishes it exactly', async () => {
    let apiDown = true;
    const api = await startCursorApi((cursor) => apiDown && cursor === cursorOf(150));
    const job = itemsJob(api.url);
    const h = await start({ job });
    try {
      await h.pipeline.startConsumers();
      // Link 2 (items 120…179) reads its first page, then its second page's cursor is out of attempts.
      await expect(h.pipeline.read({ runId: 'run-cursor-down' })).rejects.toThrow(
        /slice s000002: link 2 of a cursor chain.*503/s,
      );
      await h.pipeline.drain();

      const open = await h.pipeline.ledger.status('run-cursor-down');
      expect(open).toMatchObject({ chainOpen: true, slicesRead: 2, slicesDone: 2, read: 120 });
      expect(await h.pipeline.finish('run-cursor-down')).toEqual({ runId: 'run-cursor-down', state: 'running' });

      apiDown = false;
      api.asked.length = 0;
      const report = await runJob({ runId: 'run-cursor-down', pipeline: h.pipeline, job, timeoutMs: 120_000 });

      expect(report).toMatchObject({ complete: true, conserved: true, read: ITEMS, delivered: ITEMS - 1 });
      expect(report.deadLettered).toBe(1);
      // Resumed at the first link not read: links 0 and 1 are not asked for again.
      expect(api.asked[0]).toBe(cursorOf(120));
      expect(api.asked).toHaveLength(5);
      // Link 2's first page went out twice (before the failure and on the re-read): its records count once.
      const ids = (await collatedLines(h.pipeline.store, 'run-cursor-down')).map((l) => l.id);
      expect(ids).toHaveLength(ITEMS - 1);
      expect(new Set(ids).size).toBe(ITEMS - 1);
      expect((await h.pipeline.ledger.status('run-cursor-down')).slices).toHaveLength(5);
    } finally {
      await h.close();
      await api.stop();
    }
  });
});
