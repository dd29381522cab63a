import { z } from 'zod';
import { defineJob } from '@pipeline/job';
import { serveJson } from './serve';

/**
 * Worked example: an API paginated by cursor, with no page count (a feed, a search, most SaaS list
 * endpoints). Each answer carries the next page's opaque cursor, the last page none; the run is read
 * as a chain of slices of 3 pages, each link's last cursor starting the next.
 *
 *   npm start -- --job libs/local-runner/src/examples/cursor-api.ts
 *
 * Run locally, the job starts a stand-in API: 250 events, 25 a page (10 pages, so 4 links).
 */
const EVENTS = 250;
const PER_PAGE = 25;
let api = process.env.EVENTS_API_URL ?? '';

export const job = defineJob({
  name: 'cursor-events',
  source: {
    kind: 'cursor',
    pagesPerSlice: 3,
    fetchPage: async (cursor, { http }) => {
      const page = await http.json<{ events: unknown[]; next?: string }>(
        `${api}/events${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      return { rows: page.events, next: page.next };
    },
    load: { requestsPerSecond: 10, concurrency: 1 },
  },
  input: z.object({ event: z.number().int(), kind: z.enum(['signup', 'login']) }),
  result: z.object({ event: z.number(), signup: z.boolean() }),
  transform: (row) => ({ event: row.event, signup: row.kind === 'signup' }),
  local: {
    async start() {
      let requests = 0;
      const server = await serveJson((_req, url) => {
        requests += 1;
        const cursor = url.searchParams.get('cursor');
        const from = cursor ? Number(Buffer.from(cursor, 'base64url').toString().replace('after:', '')) : 0;
        const events = Array.from({ length: Math.max(0, Math.min(PER_PAGE, EVENTS - from)) }, (_, i) => ({
          event: from + i,
          kind: (from + i) % 7 === 0 ? 'signup' : 'login',
        }));
        const next =
          from + PER_PAGE < EVENTS ? Buffer.from(`after:${from + PER_PAGE}`).toString('base64url') : undefined;
        return { body: { events, ...(next ? { next } : {}) } };
      });
      api = server.url;
      return { report: () => `events API: ${requests} request(s)`, stop: () => server.stop() };
    },
  },
});
