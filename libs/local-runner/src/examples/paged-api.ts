import { z } from 'zod';
import { defineJob } from '@pipeline/job';
import { serveJson } from './serve';

/**
 * Worked example: a slow paginated API with a rate limit. The page count comes from the API's first
 * page; slices are runs of 3 pages; the source's load keeps the reader under the API's limit, and a
 * 429 (with `Retry-After`) is waited out and retried.
 *
 *   npm start -- --job libs/local-runner/src/examples/paged-api.ts
 *
 * Run locally, the job starts a stand-in API: 12 pages of 25 orders, at most 8 requests
 * a second (more are answered 429, Retry-After 1).
 */
const PAGES = 12;
const PER_PAGE = 25;
const LIMIT_PER_SECOND = 8;
let api = process.env.ORDERS_API_URL ?? '';

export const job = defineJob({
  name: 'paged-orders',
  source: {
    kind: 'pages',
    pageCount: async ({ http }) => (await http.json<{ pages: number }>(`${api}/orders?page=1`)).pages,
    pagesPerSlice: 3,
    fetchPage: async (page, { http }) => (await http.json<{ orders: unknown[] }>(`${api}/orders?page=${page}`)).orders,
    load: { requestsPerSecond: 5, concurrency: 2 },
  },
  input: z.object({ order: z.number().int(), cents: z.number().int() }),
  result: z.object({ order: z.number(), euros: z.number() }),
  transform: (row) => ({ order: row.order, euros: row.cents / 100 }),
  local: {
    async start() {
      const seen: number[] = [];
      let refused = 0;
      const server = await serveJson((_req, url) => {
        const now = Date.now();
        seen.push(now);
        if (seen.filter((t) => t > now - 1_000).length > LIMIT_PER_SECOND) {
          refused += 1;
          return { status: 429, headers: { 'retry-after': '1' }, body: { error: 'rate limited' } };
        }
        const page = Number(url.searchParams.get('page') ?? '1');
        const orders =
          page < 1 || page > PAGES
            ? []
            : Array.from({ length: PER_PAGE }, (_, i) => ({ order: (page - 1) * PER_PAGE + i, cents: 100 + i }));
        return { body: { pages: PAGES, orders } };
      });
      api = server.url;
      return {
        report: () =>
          `orders API: ${seen.length} request(s), ${refused} refused with 429 (limit ${LIMIT_PER_SECOND}/s)`,
        stop: () => server.stop(),
      };
    },
  },
});
