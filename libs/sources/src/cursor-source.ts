import type { CursorPage, CursorSource } from '@pipeline/job';
import { nextLink, planCursorChain, type CursorSlice } from '@pipeline/slices';
import type { RowResult } from './rows';
import { numberRows, type ChainEnd, type SliceSource, type SourceEnv } from './source';

/** A page that cannot be read as `{ rows, next }`: the slice fails, saying what to return. */
export class CursorPageError extends Error {
  override readonly name = 'CursorPageError';
}

/**
 * A cursor-paginated API: a chain of slices, each up to `pagesPerSlice` pages fetched one after
 * another with `fetchPage(cursor)`, positions running on across the slice's pages. The page that
 * answers no next cursor ends the chain; otherwise the slice's last cursor starts the next link,
 * which `read` hands back through `end.next` for the reader to record with the slice's read marker.
 *
 * @example
 * cursorSource({ kind: 'cursor', pagesPerSlice: 10, fetchPage: async (cursor, { http }) => {
 *   const page = await http.json<{ items: unknown[]; next?: string }>(`${api}/items?after=${cursor ?? ''}`);
 *   return { rows: page.items, next: page.next };
 * } }, env);
 */
export function cursorSource(source: CursorSource, env: SourceEnv): SliceSource<CursorSlice> {
  return {
    chain: true,
    async plan() {
      return planCursorChain({ firstCursor: source.firstCursor, pagesPerSlice: source.pagesPerSlice });
    },
    async *read(slice, end?: ChainEnd<CursorSlice>): AsyncIterable<RowResult> {
      let cursor = slice.cursor;
      let pos = 0;
      for (let page = 0; page < slice.pageCount; page++) {
        const { rows, next } = checkPage(await source.fetchPage(cursor, env.context), cursor);
        let last = -1;
        for await (const row of numberRows(rows)) {
          last = row.pos;
          yield { ...row, pos: pos + row.pos };
        }
        pos += last + 1;
        if (next === undefined) {
          if (end) end.next = null;
          return;
        }
        cursor = next;
      }
      if (end) end.next = nextLink(slice, cursor as string);
    },
  };
}

/** The page's rows and its next cursor (undefined: the last page). */
function checkPage(page: CursorPage, cursor: string | undefined): { rows: CursorPage['rows']; next?: string } {
  const at = cursor === undefined ? 'the first page' : `the page at cursor ${JSON.stringify(cursor)}`;
  if (page === null || typeof page !== 'object' || !('rows' in page))
    throw new CursorPageError(`fetchPage for ${at} returned ${JSON.stringify(page)}: return { rows, next }`);
  const { rows, next } = page;
  if (next === undefined || next === null || next === '') return { rows };
  if (typeof next !== 'string')
    throw new CursorPageError(
      `fetchPage for ${at} returned next ${JSON.stringify(next)}: a cursor is a string (null or absent on the last page)`,
    );
  // The same cursor again would read the same page for ever.
  if (next === cursor)
    throw new CursorPageError(
      `fetchPage for ${at} returned the same cursor as next: check how the API's cursor is read`,
    );
  return { rows, next };
}
