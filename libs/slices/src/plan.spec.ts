import { DEFAULTS, MiB } from '@pipeline/limits';
import { SliceIdSchema } from '@pipeline/records';
import {
  describeSlice,
  nextLink,
  planCursorChain,
  planCustom,
  planByteRanges,
  planNumberRange,
  planPages,
  SlicePlanError,
  sliceId,
  SliceSpecSchema,
  type ByteRangeSlice,
} from './index';

const ranges = (slices: ByteRangeSlice[]) => slices.map((s) => [s.key, s.start, s.end]);

describe('sliceId', () => {
  it('pads the plan index so ids sort in plan order', () => {
    expect(sliceId(0)).toBe('s000000');
    expect(sliceId(42)).toBe('s000042');
    expect(sliceId(DEFAULTS.maxSlicesPerRun - 1) > sliceId(9)).toBe(true);
  });

  it('makes ids that SliceIdSchema accepts', () => {
    expect(SliceIdSchema.safeParse(sliceId(DEFAULTS.maxSlicesPerRun - 1)).success).toBe(true);
  });

  it('rejects a negative index', () => {
    expect(() => sliceId(-1)).toThrow(SlicePlanError);
  });
});

describe('planByteRanges', () => {
  it('cuts an object into ranges of sliceBytes with the remainder last', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: 20 }], { sliceBytes: 8 });

    expect(slices).toEqual([
      { kind: 'bytes', id: 's000000', bucket: 'in', key: 'a', start: 0, end: 8, objectSize: 20 },
      { kind: 'bytes', id: 's000001', bucket: 'in', key: 'a', start: 8, end: 16, objectSize: 20 },
      { kind: 'bytes', id: 's000002', bucket: 'in', key: 'a', start: 16, end: 20, objectSize: 20 },
    ]);
  });

  it('makes no short last slice when the size is an exact multiple of sliceBytes', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: 24 }], { sliceBytes: 8 });

    expect(ranges(slices)).toEqual([
      ['a', 0, 8],
      ['a', 8, 16],
      ['a', 16, 24],
    ]);
  });

  it('gives a 1-byte object one 1-byte slice', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: 1 }], { sliceBytes: 8 });

    expect(ranges(slices)).toEqual([['a', 0, 1]]);
  });

  it('gives an object smaller than sliceBytes one slice', () => {
    expect(ranges(planByteRanges([{ bucket: 'in', key: 'a', size: 5 }]))).toEqual([['a', 0, 5]]);
  });

  it('gives empty objects no slice', () => {
    const slices = planByteRanges(
      [
        { bucket: 'in', key: 'empty', size: 0 },
        { bucket: 'in', key: 'full', size: 3 },
      ],
      { sliceBytes: 8 },
    );

    expect(slices.map((s) => [s.id, s.key])).toEqual([['s000000', 'full']]);
  });

  it('returns no slices for no objects', () => {
    expect(planByteRanges([])).toEqual([]);
  });

  it('uses DEFAULTS.sliceBytes when sliceBytes is not given', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: DEFAULTS.sliceBytes + 1 }]);

    expect(ranges(slices)).toEqual([
      ['a', 0, DEFAULTS.sliceBytes],
      ['a', DEFAULTS.sliceBytes, DEFAULTS.sliceBytes + 1],
    ]);
  });

  it('clamps sliceBytes to DEFAULTS.maxSliceBytes', () => {
    const size = DEFAULTS.maxSliceBytes * 2;

    const slices = planByteRanges([{ bucket: 'in', key: 'a', size }], { sliceBytes: DEFAULTS.maxSliceBytes * 4 });

    expect(slices.map((s) => s.end - s.start)).toEqual([DEFAULTS.maxSliceBytes, DEFAULTS.maxSliceBytes]);
  });

  it('gives the same ids whatever order the objects are listed in', () => {
    const objects = [
      { bucket: 'b2', key: 'x', size: 10 },
      { bucket: 'b1', key: 'z', size: 10 },
      { bucket: 'b1', key: 'a/b', size: 25 },
      { bucket: 'b1', key: 'B', size: 3 },
    ];

    const forward = planByteRanges(objects, { sliceBytes: 10 });
    const backward = planByteRanges([...objects].reverse(), { sliceBytes: 10 });

    expect(backward).toEqual(forward);
    expect(forward.map((s) => `${s.id} ${s.bucket}/${s.key}@${s.start}`)).toEqual([
      's000000 b1/B@0',
      's000001 b1/a/b@0',
      's000002 b1/a/b@10',
      's000003 b1/a/b@20',
      's000004 b1/z@0',
      's000005 b2/x@0',
    ]);
  });

  it('covers every byte of every object exactly once', () => {
    const objects = [
      { bucket: 'in', key: 'a', size: 1000 },
      { bucket: 'in', key: 'b', size: 999 },
      { bucket: 'in', key: 'c', size: 7 },
    ];

    const slices = planByteRanges(objects, { sliceBytes: 7 });

    for (const o of objects) {
      const own = slices.filter((s) => s.key === o.key);
      expect(own[0].start).toBe(0);
      own.slice(1).forEach((s, i) => {
        expect(s.start).toBe(own[i].end);
      });
      expect(own[own.length - 1].end).toBe(o.size);
      own.forEach((s) => {
        expect(s.objectSize).toBe(o.size);
      });
    }
  });

  it('accepts a plan of exactly DEFAULTS.maxSlicesPerRun slices', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: DEFAULTS.maxSlicesPerRun }], { sliceBytes: 1 });

    expect(slices).toHaveLength(DEFAULTS.maxSlicesPerRun);
    expect(slices[slices.length - 1].id).toBe(sliceId(DEFAULTS.maxSlicesPerRun - 1));
  });

  it('refuses a plan over DEFAULTS.maxSlicesPerRun and names the sliceBytes that would fit', () => {
    const plan = () =>
      planByteRanges([{ bucket: 'in', key: 'a', size: DEFAULTS.maxSlicesPerRun + 1 }], { sliceBytes: 1 });

    expect(plan).toThrow(SlicePlanError);
    expect(plan).toThrow(/needs 100001 slices, more than the 100000 a run allows: raise sliceBytes to at least 2/);
  });

  it('counts slices over all objects against the limit', () => {
    const half = DEFAULTS.maxSlicesPerRun / 2;
    const objects = [
      { bucket: 'in', key: 'a', size: half },
      { bucket: 'in', key: 'b', size: half + 1 },
    ];

    expect(() => planByteRanges(objects, { sliceBytes: 1 })).toThrow(SlicePlanError);
  });

  it('says to split the run when even the largest slices are too many', () => {
    const objects = Array.from({ length: DEFAULTS.maxSlicesPerRun + 1 }, (_, i) => ({
      bucket: 'in',
      key: `k${i}`,
      size: 1,
    }));

    expect(() => planByteRanges(objects)).toThrow(/split the source into several runs/);
  });

  it.each([0, -1, 1.5, Number.NaN])('rejects sliceBytes %p', (sliceBytes) => {
    expect(() => planByteRanges([{ bucket: 'in', key: 'a', size: 1 }], { sliceBytes })).toThrow(
      /sliceBytes .* positive integer/,
    );
  });

  it('rejects a negative or fractional size', () => {
    expect(() => planByteRanges([{ bucket: 'in', key: 'a', size: -1 }])).toThrow(SlicePlanError);
    expect(() => planByteRanges([{ bucket: 'in', key: 'a', size: 0.5 }])).toThrow(SlicePlanError);
  });

  it('rejects an object listed twice', () => {
    const twice = [
      { bucket: 'in', key: 'a', size: 1 },
      { bucket: 'in', key: 'a', size: 1 },
    ];

    expect(() => planByteRanges(twice)).toThrow(/listed twice/);
  });

  it('makes slices that SliceSpecSchema accepts', () => {
    const slices = planByteRanges([{ bucket: 'in', key: 'a', size: 3 * MiB }], { sliceBytes: MiB });

    slices.forEach((s) => {
      expect(SliceSpecSchema.parse(s)).toEqual(s);
    });
  });
});

describe('planNumberRange', () => {
  it('cuts [from, to) into ranges of sliceSize', () => {
    expect(planNumberRange({ from: 5, to: 30, sliceSize: 10 })).toEqual([
      { kind: 'numbers', id: 's000000', from: 5, to: 15 },
      { kind: 'numbers', id: 's000001', from: 15, to: 25 },
      { kind: 'numbers', id: 's000002', from: 25, to: 30 },
    ]);
  });

  it('makes no short last slice when the range is an exact multiple', () => {
    expect(planNumberRange({ from: 0, to: 20, sliceSize: 10 }).map((s) => [s.from, s.to])).toEqual([
      [0, 10],
      [10, 20],
    ]);
  });

  it('returns no slices for an empty range', () => {
    expect(planNumberRange({ from: 7, to: 7, sliceSize: 10 })).toEqual([]);
  });

  it('accepts negative numbers', () => {
    expect(planNumberRange({ from: -3, to: 1, sliceSize: 2 }).map((s) => [s.from, s.to])).toEqual([
      [-3, -1],
      [-1, 1],
    ]);
  });

  it('rejects a reversed range', () => {
    expect(() => planNumberRange({ from: 10, to: 0, sliceSize: 1 })).toThrow(/reversed/);
  });

  it('rejects a sliceSize that is not a positive integer', () => {
    expect(() => planNumberRange({ from: 0, to: 10, sliceSize: 0 })).toThrow(SlicePlanError);
  });

  it('refuses a plan over DEFAULTS.maxSlicesPerRun', () => {
    expect(() => planNumberRange({ from: 0, to: DEFAULTS.maxSlicesPerRun + 1, sliceSize: 1 })).toThrow(
      /raise sliceSize/,
    );
  });
});

describe('planPages', () => {
  it('starts at page 1 by default and puts the remainder last', () => {
    expect(planPages({ pageCount: 5, pagesPerSlice: 2 })).toEqual([
      { kind: 'pages', id: 's000000', firstPage: 1, pageCount: 2 },
      { kind: 'pages', id: 's000001', firstPage: 3, pageCount: 2 },
      { kind: 'pages', id: 's000002', firstPage: 5, pageCount: 1 },
    ]);
  });

  it('starts at the given first page', () => {
    expect(planPages({ firstPage: 0, pageCount: 4, pagesPerSlice: 2 }).map((s) => [s.firstPage, s.pageCount])).toEqual([
      [0, 2],
      [2, 2],
    ]);
  });

  it('returns no slices for no pages', () => {
    expect(planPages({ pageCount: 0, pagesPerSlice: 3 })).toEqual([]);
  });

  it('rejects a negative page count', () => {
    expect(() => planPages({ pageCount: -1, pagesPerSlice: 3 })).toThrow(SlicePlanError);
  });

  it('refuses a plan over DEFAULTS.maxSlicesPerRun', () => {
    expect(() => planPages({ pageCount: DEFAULTS.maxSlicesPerRun + 1, pagesPerSlice: 1 })).toThrow(
      /raise pagesPerSlice/,
    );
  });
});

describe('planCustom', () => {
  it("numbers a job's own slices in the order its plan gave them, keeping each as JSON", () => {
    const slices = planCustom([{ table: 'b' }, { table: 'a', since: new Date(0) }]);
    expect(slices).toEqual([
      { kind: 'custom', id: 's000000', params: { table: 'b' } },
      { kind: 'custom', id: 's000001', params: { table: 'a', since: '1970-01-01T00:00:00.000Z' } },
    ]);
    expect(slices.every((slice) => SliceSpecSchema.safeParse(slice).success)).toBe(true);
  });

  it('refuses a slice that is not JSON and a plan over the slice limit, saying what to do', () => {
    expect(() => planCustom([1, undefined])).toThrow(/slice 1 of the job's plan is not a JSON value/);
    expect(() => planCustom(new Array(DEFAULTS.maxSlicesPerRun + 1).fill(0))).toThrow(/return fewer, larger slices/);
  });
});

describe('describeSlice', () => {
  it('names the object and the byte range of a byte-range slice', () => {
    const [slice] = planByteRanges([{ bucket: 'in', key: 'data/a.csv', size: 20 }], { sliceBytes: 8 });

    expect(describeSlice(slice)).toBe('slice s000000: s3://in/data/a.csv bytes [0, 8) of 20');
  });

  it('names the numbers of a number-range slice', () => {
    const [slice] = planNumberRange({ from: 0, to: 10, sliceSize: 10 });

    expect(describeSlice(slice)).toBe('slice s000000: numbers [0, 10)');
  });

  it('names the pages of a page slice', () => {
    const [first, last] = planPages({ pageCount: 4, pagesPerSlice: 3 });

    expect(describeSlice(first)).toBe('slice s000000: pages 1-3 (3 pages)');
    expect(describeSlice(last)).toBe('slice s000001: pages 4-4 (1 page)');
  });
});

describe('SliceSpecSchema', () => {
  it('rejects a byte-range slice that ends past its object', () => {
    const bad = { kind: 'bytes', id: 's000000', bucket: 'in', key: 'a', start: 0, end: 9, objectSize: 8 };

    expect(SliceSpecSchema.safeParse(bad).success).toBe(false);
  });

  it('rejects an id that is not a safe slice id', () => {
    expect(SliceSpecSchema.safeParse({ kind: 'numbers', id: 'a/b', from: 0, to: 1 }).success).toBe(false);
  });
});

describe('cursor chains: planCursorChain and nextLink', () => {
  it('plans only the first link, from the first cursor when one is given', () => {
    expect(planCursorChain({ pagesPerSlice: 3 })).toEqual([{ kind: 'cursor', id: 's000000', link: 0, pageCount: 3 }]);
    expect(planCursorChain({ firstCursor: 'a', pagesPerSlice: 3 })).toEqual([
      { kind: 'cursor', id: 's000000', link: 0, cursor: 'a', pageCount: 3 },
    ]);
  });

  it('gives the link after a slice the next id, its cursor and the same pages per slice, the same every time', () => {
    const [first] = planCursorChain({ pagesPerSlice: 3 });
    const second = nextLink(first, 'c3');
    expect(second).toEqual({ kind: 'cursor', id: 's000001', link: 1, cursor: 'c3', pageCount: 3 });
    expect(nextLink(second, 'c6')).toEqual(nextLink(second, 'c6'));
    expect(nextLink(second, 'c6').id).toBe(sliceId(2));
  });

  it('refuses a link past DEFAULTS.maxSlicesPerRun, so a chain whose cursors never end cannot run away', () => {
    const last = {
      kind: 'cursor' as const,
      id: sliceId(DEFAULTS.maxSlicesPerRun - 1),
      link: DEFAULTS.maxSlicesPerRun - 1,
      pageCount: 1,
    };
    expect(() => nextLink({ ...last, id: sliceId(last.link - 1), link: last.link - 1 }, 'x')).not.toThrow();
    expect(() => nextLink(last, 'x')).toThrow(SlicePlanError);
    expect(() => nextLink(last, 'x')).toThrow(/next cursor/);
  });

  it('refuses an empty cursor and a pagesPerSlice that is not a positive integer', () => {
    expect(() => nextLink(planCursorChain({ pagesPerSlice: 1 })[0], '')).toThrow(SlicePlanError);
    expect(() => planCursorChain({ pagesPerSlice: 0 })).toThrow(SlicePlanError);
  });

  it('makes links that SliceSpecSchema accepts and describeSlice names', () => {
    const [first] = planCursorChain({ pagesPerSlice: 2 });
    const second = nextLink(first, 'abc');
    expect(SliceSpecSchema.parse(first)).toEqual(first);
    expect(SliceSpecSchema.parse(second)).toEqual(second);
    expect(describeSlice(first)).toBe('slice s000000: link 0 of a cursor chain, up to 2 pages from the first page');
    expect(describeSlice(second)).toBe('slice s000001: link 1 of a cursor chain, up to 2 pages from cursor "abc"');
  });
});
