import type { JobSource, SourceContext } from '@pipeline/job';
import type { SliceSpec } from '@pipeline/slices';
import type { ObjectSource } from './object-source';
import type { RowResult } from './rows';
import type { ChainEnd } from './source';
import { sourceFor, sourceKind } from './sources';

const noObjects: ObjectSource = {
  async *list() {},
  getRange: async () => {
    throw new Error('not S3');
  },
};

const options = { run: 'run-1', objects: noObjects, sliceBytes: 1024, defaultConcurrency: 2, invocations: 1 };

async function readAll(source: JobSource): Promise<{ slices: SliceSpec[]; rows: Map<string, RowResult[]> }> {
  const s = sourceFor(source, options);
  const slices = await s.plan();
  const rows = new Map<string, RowResult[]>();
  for (const slice of slices) {
    const list: RowResult[] = [];
    for await (const row of s.read(slice)) list.push(row);
    rows.set(slice.id, list);
  }
  return { slices, rows };
}

describe('a job source of ids', () => {
  it('plans [from, to) in slices of sliceSize, asking the source for `to`, and reads each slice with one call', async () => {
    const calls: { from: number; to: number }[] = [];
    const { slices, rows } = await readAll({
      kind: 'ids',
      from: 1,
      to: async (context: SourceContext) => (context.run === 'run-1' ? 8 : 0),
      sliceSize: 3,
      read: (range) => {
        calls.push(range);
        return Array.from({ length: range.to - range.from }, (_, i) => ({ user: range.from + i }));
      },
    });

    expect(slices).toEqual([
      { kind: 'numbers', id: 's000000', from: 1, to: 4 },
      { kind: 'numbers', id: 's000001', from: 4, to: 7 },
      { kind: 'numbers', id: 's000002', from: 7, to: 8 },
    ]);
    expect(calls).toHaveLength(3);
    expect(rows.get('s000001')).toEqual([
      { pos: 0, ok: true, row: { user: 4 } },
      { pos: 1, ok: true, row: { user: 5 } },
      { pos: 2, ok: true, row: { user: 6 } },
    ]);
  });

  it('keeps a value that cannot be a record at its position, as an error entry, so the count stays exact', async () => {
    const { rows } = await readAll({ kind: 'ids', from: 0, to: 3, sliceSize: 3, read: () => [{ a: 1 }, undefined, 2] });

    expect(rows.get('s000000')?.map((r) => [r.pos, r.ok])).toEqual([
      [0, true],
      [1, false],
      [2, true],
    ]);
  });
});

describe('a job source of pages', () => {
  it('asks the page count once, slices the pages, and numbers rows across a slice’s pages', async () => {
    let counted = 0;
    const { slices, rows } = await readAll({
      kind: 'pages',
      pageCount: async () => {
        counted += 1;
        return 3;
      },
      pagesPerSlice: 2,
      // An async iterable is a page too.
      fetchPage: async function* (page) {
        yield `${page}a`;
        yield `${page}b`;
      },
    });

    expect(counted).toBe(1);
    expect(slices.map((s) => s.id)).toEqual(['s000000', 's000001']);
    expect(rows.get('s000000')?.map((r) => [r.pos, r.ok && r.row])).toEqual([
      [0, '1a'],
      [1, '1b'],
      [2, '2a'],
      [3, '2b'],
    ]);
    expect(rows.get('s000001')?.map((r) => [r.pos, r.ok && r.row])).toEqual([
      [0, '3a'],
      [1, '3b'],
    ]);
  });
});

/** A cursor API over `items` rows, `perPage` a page; cursors are `c<offset>`, the last page has none. */
function cursorApi(items: number, perPage: number) {
  const asked: (string | undefined)[] = [];
  const fetchPage = (cursor: string | undefined) => {
    asked.push(cursor);
    const from = cursor === undefined ? 0 : Number(cursor.slice(1));
    const rows = Array.from({ length: Math.max(0, Math.min(perPage, items - from)) }, (_, i) => from + i);
    return { rows, next: from + perPage < items ? `c${from + perPage}` : null };
  };
  return { asked, fetchPage };
}

/** Reads a chain link by link, as the reader does: each link's end names the next. */
async function readChain(source: JobSource) {
  const s = sourceFor(source, options);
  const links: SliceSpec[] = [];
  const rows: RowResult[][] = [];
  let link: SliceSpec | null | undefined = (await s.plan())[0];
  while (link) {
    links.push(link);
    const end: ChainEnd = {};
    const list: RowResult[] = [];
    for await (const row of s.read(link, end)) list.push(row);
    rows.push(list);
    link = end.next;
  }
  return { chain: s.chain, links, rows };
}

describe('a job source of cursor pages', () => {
  it('reads a chain of links of pagesPerSlice pages, each ending with the next link, the last with none', async () => {
    const api = cursorApi(10, 2);

    const { chain, links, rows } = await readChain({ kind: 'cursor', pagesPerSlice: 2, fetchPage: api.fetchPage });

    expect(chain).toBe(true);
    expect(links).toEqual([
      { kind: 'cursor', id: 's000000', link: 0, pageCount: 2 },
      { kind: 'cursor', id: 's000001', link: 1, cursor: 'c4', pageCount: 2 },
      { kind: 'cursor', id: 's000002', link: 2, cursor: 'c8', pageCount: 2 },
    ]);
    expect(rows.map((r) => r.map((row) => [row.pos, row.ok && row.row]))).toEqual([
      [
        [0, 0],
        [1, 1],
        [2, 2],
        [3, 3],
      ],
      [
        [0, 4],
        [1, 5],
        [2, 6],
        [3, 7],
      ],
      [
        [0, 8],
        [1, 9],
      ],
    ]);
    // One request a page: the last page (no next) is not followed by another.
    expect(api.asked).toEqual([undefined, 'c2', 'c4', 'c6', 'c8']);
  });

  it('starts at firstCursor, and reads a link again into the same rows and the same next link', async () => {
    const api = cursorApi(6, 2);
    const s = sourceFor({ kind: 'cursor', firstCursor: 'c2', pagesPerSlice: 1, fetchPage: api.fetchPage }, options);
    const [first] = await s.plan();
    const read = async () => {
      const end: ChainEnd = {};
      const list: RowResult[] = [];
      for await (const row of s.read(first, end)) list.push(row);
      return { list, next: end.next };
    };

    const once = await read();

    expect(once.list.map((r) => r.ok && r.row)).toEqual([2, 3]);
    expect(once.next).toMatchObject({ id: 's000001', cursor: 'c4' });
    expect(await read()).toEqual(once);
  });

  it('ends the chain at a page with next absent, null or empty, even when it is the first page', async () => {
    for (const next of [undefined, null, '']) {
      const { links, rows } = await readChain({
        kind: 'cursor',
        pagesPerSlice: 3,
        fetchPage: () => ({ rows: [], next }),
      });

      expect(links).toHaveLength(1);
      expect(rows).toEqual([[]]);
    }
  });

  it('fails the slice on a page that is not { rows, next } or whose next is its own cursor, saying what to return', async () => {
    const read = (fetchPage: () => unknown) => readChain({ kind: 'cursor', pagesPerSlice: 2, fetchPage } as JobSource);

    await expect(read(() => [1, 2])).rejects.toThrow(/return \{ rows, next \}/);
    await expect(read(() => ({ rows: [], next: 7 }))).rejects.toThrow(/a cursor is a string/);
    await expect(
      readChain({ kind: 'cursor', firstCursor: 'x', pagesPerSlice: 2, fetchPage: () => ({ rows: [1], next: 'x' }) }),
    ).rejects.toThrow(/the same cursor as next/);
  });
});

describe("a job's own source", () => {
  it('gives its planned slices ids in plan order, keeps their JSON, and reads each one', async () => {
    const { slices, rows } = await readAll({
      kind: 'custom',
      plan: () => [{ table: 'b' }, { table: 'a' }],
      read: (slice: { table: string }) => [`${slice.table}1`, `${slice.table}2`],
    });

    expect(slices).toEqual([
      { kind: 'custom', id: 's000000', params: { table: 'b' } },
      { kind: 'custom', id: 's000001', params: { table: 'a' } },
    ]);
    expect(rows.get('s000001')?.map((r) => r.ok && r.row)).toEqual(['a1', 'a2']);
  });

  it('refuses a plan whose slices are not JSON, saying what to return', async () => {
    await expect(
      sourceFor({ kind: 'custom', plan: () => [undefined], read: () => [] }, options).plan(),
    ).rejects.toThrow(/not a JSON value/);
  });
});

describe('choosing a source', () => {
  it('names each kind, a file format being S3 objects', () => {
    expect(sourceKind({ format: 'ndjson' })).toBe('objects');
    expect(sourceKind({ kind: 'ids', from: 0, to: 1, sliceSize: 1, read: () => [] })).toBe('ids');
  });

  it('says which kinds exist when given none of them', () => {
    expect(() => sourceFor({ kind: 'ftp' } as unknown as JobSource, options)).toThrow(
      /kind 'ids', 'pages', 'cursor' or 'custom'/,
    );
  });

  it('plans S3 objects only with a place to read them from', async () => {
    await expect(sourceFor({ format: 'ndjson' }, options).plan()).rejects.toThrow(/no source/);
  });
});
