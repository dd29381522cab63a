import type { JobSource, SourceContext } from '@pipeline/job';
import type { SliceSpec } from '@pipeline/slices';
import type { ObjectSource } from './object-source';
import type { RowResult } from './rows';
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
      /kind 'ids', 'pages' or 'custom'/,
    );
  });

  it('plans S3 objects only with a place to read them from', async () => {
    await expect(sourceFor({ format: 'ndjson' }, options).plan()).rejects.toThrow(/no source/);
  });
});
