import type { PagesSource } from '@pipeline/job';
import { planPages, type PageSlice } from '@pipeline/slices';
import type { RowResult } from './rows';
import { numberRows, resolveCount, type SliceSource, type SourceEnv } from './source';

/**
 * The pages of an API: the page count asked once at planning time, slices of `pagesPerSlice` pages,
 * each page fetched with the job's `fetchPage`, in page order (positions run on across the slice's pages).
 *
 * @example
 * pagesSource({ kind: 'pages', pageCount: async ({ http }) => (await http.json(`${api}/meta`)).pages,
 *   pagesPerSlice: 5, fetchPage: (page, { http }) => http.json(`${api}/items?page=${page}`) }, env);
 */
export function pagesSource(source: PagesSource, env: SourceEnv): SliceSource<PageSlice> {
  return {
    async plan() {
      const pageCount = await resolveCount(source.pageCount, env.context, 'page count');
      return planPages({ firstPage: source.firstPage ?? 1, pageCount, pagesPerSlice: source.pagesPerSlice });
    },
    async *read(slice): AsyncIterable<RowResult> {
      let pos = 0;
      for (let page = slice.firstPage; page < slice.firstPage + slice.pageCount; page++) {
        let last = -1;
        for await (const row of numberRows(source.fetchPage(page, env.context))) {
          last = row.pos;
          yield { ...row, pos: pos + row.pos };
        }
        pos += last + 1;
      }
    },
  };
}
