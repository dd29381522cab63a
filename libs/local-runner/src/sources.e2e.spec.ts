import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { defineJob, type Job } from '@pipeline/job';
import { recordIdString } from '@pipeline/records';
import { LocalPipeline, type LocalPipelineOptions } from './local-pipeline';
import { DEFAULTS } from '@pipeline/limits';
import { runJob } from './run-job';
import { collatedLines, E2E_PIPELINE, tempDataDir } from './testing';

/**
 * A user API on loopback: `/count`, `/users?from&to` and `/items?page` (30 items a page, 7 pages).
 * `fail(n)` answers the n-th request (0-based) with a fault instead: 429, 503 or a dropped connection.
 */
async function startApi(fail: (n: number) => 429 | 503 | 'drop' | undefined = () => undefined) {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    const fault = fail(requests++);
    if (fault === 'drop') return void req.socket.destroy();
    if (fault) {
      res.writeHead(fault, fault === 429 ? { 'retry-after': '0' } : {});
      return void res.end('busy');
    }
    const url = new URL(req.url ?? '/', 'http://api');
    const n = (name: string) => Number(url.searchParams.get(name));
    const body =
      url.pathname === '/count'
        ? { count: 201 }
        : url.pathname === '/users'
          ? Array.from({ length: n('to') - n('from') }, (_, i) => ({
              id: n('from') + i,
              name: `user ${n('from') + i}`,
            }))
          : {
              pages: 7,
              items: n('page') > 7 ? [] : Array.from({ length: 30 }, (_, i) => ({ item: (n('page') - 1) * 30 + i })),
            };
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    requests: () => requests,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function run(job: Job, runId: string, options: Partial<LocalPipelineOptions> = {}) {
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE, job, ...options });
  try {
    const report = await runJob({ runId, pipeline, job, timeoutMs: 120_000 });
    const ids = (await collatedLines(pipeline.store, runId)).map((l) => l.id);
    return { report, ids, status: await pipeline.ledger.status(runId), lambda: pipeline.lambda?.stats() };
  } finally {
    await pipeline.stop();
    await data.remove();
  }
}

describe('sources that are not S3, end to end on the embedded stack', () => {
  jest.setTimeout(180_000);

  it('reads an id range whose end the API tells, one query a slice, every user exactly once', async () => {
    const api = await startApi();
    const sent: string[] = [];
    try {
      const job = defineJob({
        name: 'users',
        source: {
          kind: 'ids',
          from: 1,
          to: async ({ http }) => (await http.json<{ count: number }>(`${api.url}/count`)).count + 1,
          sliceSize: 50,
          read: ({ from, to }, { http }) => http.json<unknown[]>(`${api.url}/users?from=${from}&to=${to}`),
        },
        input: z.object({ id: z.number().int(), name: z.string() }),
        result: z.object({ greeted: z.number() }),
        transform: (user, { id }) => {
          sent.push(recordIdString(id));
          return { greeted: user.id };
        },
      });

      const { report, ids, status } = await run(job, 'run-users');

      expect(report).toMatchObject({ complete: true, conserved: true, read: 201, delivered: 201, deadLettered: 0 });
      expect(status.manifest).toMatchObject({ sourceKind: 'ids' });
      expect(status.slices).toHaveLength(5);
      expect(new Set(ids).size).toBe(201);
      expect(api.requests()).toBe(1 + 5);
    } finally {
      await api.stop();
    }
  });

  it('reads the pages of an API through 429s, 5xx and a dropped connection, every item exactly once', async () => {
    const faults = new Map<number, 429 | 503 | 'drop'>([
      [1, 429],
      [3, 503],
      [5, 'drop'],
    ]);
    const api = await startApi((n) => faults.get(n));
    try {
      const job = defineJob({
        name: 'items',
        source: {
          kind: 'pages',
          pageCount: async ({ http }) => (await http.json<{ pages: number }>(`${api.url}/items?page=1`)).pages,
          pagesPerSlice: 2,
          fetchPage: async (page, { http }) =>
            (await http.json<{ items: unknown[] }>(`${api.url}/items?page=${page}`)).items,
          load: { concurrency: 2, requestsPerSecond: 50, attempts: 4 },
        },
        input: z.object({ item: z.number().int() }),
        result: z.object({ item: z.number() }),
        transform: (row) => row,
      });

      const { report, ids, status } = await run(job, 'run-items');

      expect(report).toMatchObject({ complete: true, conserved: true, read: 210, delivered: 210, deadLettered: 0 });
      expect(status.slices).toHaveLength(4);
      expect(new Set(ids).size).toBe(210);
      // One request for the count, one per page, one per fault retried.
      expect(api.requests()).toBe(1 + 7 + faults.size);
    } finally {
      await api.stop();
    }
  });

  it("reads a job's own plan and read", async () => {
    const job = defineJob({
      name: 'tables',
      source: {
        kind: 'custom',
        plan: () => ['a', 'b', 'c'].map((table) => ({ table, rows: 40 })),
        read: (slice: { table: string; rows: number }) =>
          Array.from({ length: slice.rows }, (_, i) => ({ key: `${slice.table}${i}` })),
      },
      input: z.object({ key: z.string() }),
      result: z.object({ key: z.string() }),
      transform: (row) => row,
    });

    const { report, ids } = await run(job, 'run-tables');

    expect(report).toMatchObject({ complete: true, conserved: true, read: 120, delivered: 120 });
    expect(new Set(ids).size).toBe(120);
  });

  it('finishes a run longer than one reader invocation by fan-out: shares of slices, each a chain of invocations', async () => {
    // Every look at the clock moves it on a second; the timeout leaves time for one slice per invocation.
    let now = 0;
    const reader = { clock: () => (now += 1_000), timeoutMs: DEFAULTS.readerSliceTimeMarginMs + 1_500 };
    const job = defineJob({
      name: 'numbers',
      source: {
        kind: 'ids',
        from: 0,
        to: 120,
        sliceSize: 10,
        read: ({ from, to }) => Array.from({ length: to - from }, (_, i) => ({ n: from + i })),
      },
      input: z.object({ n: z.number().int() }),
      result: z.object({ n: z.number() }),
      transform: (row) => row,
    });

    const { report, ids, lambda } = await run(job, 'run-fan-out', {
      reader,
      env: { ...E2E_PIPELINE.env, READER_FAN_OUT: '3' },
    });

    expect(report).toMatchObject({ complete: true, conserved: true, read: 120, delivered: 120 });
    expect(new Set(ids).size).toBe(120);
    // The trigger fans out and reads nothing; then one invocation per slice, 4 in each of 3 shares.
    expect(lambda).toMatchObject({ invocations: 1 + 12, recursionStops: [], asyncErrors: [] });
  });
});
