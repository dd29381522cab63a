import { KINESIS } from '@pipeline/limits';
import { BatchPacker, ItemTooLargeError, packBatches, type BatchLimits } from './packer';

const limits: BatchLimits = {
  maxCount: KINESIS.maxRecordsPerPut,
  maxBytes: KINESIS.maxBytesPerPut,
  maxItemBytes: KINESIS.maxRecordBytes,
};
const sizeOf = (n: number): number => n;
const units = (count: number): number[] => Array.from({ length: count }, () => 1);
/** Item sizes, none over maxItemBytes, that add up to `total`. */
function sizesSummingTo(total: number): number[] {
  const sizes: number[] = [];
  for (let left = total; left > 0; left -= sizes[sizes.length - 1]) sizes.push(Math.min(left, limits.maxItemBytes));
  return sizes;
}

describe('packBatches', () => {
  it('puts exactly maxCount items in one batch', () => {
    const batches = [...packBatches(units(limits.maxCount), sizeOf, limits)];

    expect(batches.map((b) => b.length)).toEqual([limits.maxCount]);
  });

  it('starts a second batch for item maxCount + 1', () => {
    const batches = [...packBatches(units(limits.maxCount + 1), sizeOf, limits)];

    expect(batches.map((b) => b.length)).toEqual([limits.maxCount, 1]);
  });

  it('puts items totalling exactly maxBytes in one batch', () => {
    const sizes = sizesSummingTo(limits.maxBytes);

    const batches = [...packBatches(sizes, sizeOf, limits)];

    expect(batches).toEqual([sizes]);
  });

  it('starts a second batch when the items total one byte over maxBytes', () => {
    const sizes = [...sizesSummingTo(limits.maxBytes), 1];

    const batches = [...packBatches(sizes, sizeOf, limits)];

    expect(batches).toEqual([sizes.slice(0, -1), [1]]);
  });

  it('accepts an item of exactly maxItemBytes', () => {
    const batches = [...packBatches([limits.maxItemBytes], sizeOf, limits)];

    expect(batches).toEqual([[limits.maxItemBytes]]);
  });

  it('rejects an item one byte over maxItemBytes, naming its size and the limit', () => {
    const oversized = limits.maxItemBytes + 1;

    const pack = () => [...packBatches([oversized], sizeOf, limits)];

    expect(pack).toThrow(ItemTooLargeError);
    expect(pack).toThrow(`item of ${oversized} bytes is over the limit of ${limits.maxItemBytes} bytes per item`);
  });

  it('keeps the items in order across batches', () => {
    const items = Array.from({ length: 1234 }, (_, i) => i);

    const batches = [...packBatches(items, () => 1, limits)];

    expect(batches.flat()).toEqual(items);
  });

  it('yields nothing for no items', () => {
    expect([...packBatches([], sizeOf, limits)]).toEqual([]);
  });

  it('packs lazily, reading no further than the batch it yields', () => {
    let read = 0;
    function* counted(): Generator<number> {
      for (;;) {
        read += 1;
        yield 1;
      }
    }

    const first = packBatches(counted(), sizeOf, limits).next();

    expect(first.value).toHaveLength(limits.maxCount);
    expect(read).toBe(limits.maxCount + 1);
  });

  it('refuses limits where one item could exceed a batch', () => {
    const bad = { maxCount: 1, maxBytes: 10, maxItemBytes: 11 };

    expect(() => [...packBatches([1], sizeOf, bad)]).toThrow(RangeError);
  });
});

describe('BatchPacker', () => {
  it('returns nothing from add while the batch still has room', () => {
    const packer = new BatchPacker(sizeOf, limits);

    const results = units(limits.maxCount).map((item) => packer.add(item));

    expect(results.every((r) => r === undefined)).toBe(true);
    expect(packer.pending).toEqual({ count: limits.maxCount, bytes: limits.maxCount });
  });

  it('returns the full batch when the next item would overflow it, keeping that item', () => {
    const packer = new BatchPacker(sizeOf, { maxCount: 2, maxBytes: 10, maxItemBytes: 10 });
    packer.add(4);
    packer.add(5);

    const full = packer.add(3);

    expect(full).toEqual([4, 5]);
    expect(packer.drain()).toEqual([3]);
  });

  it('returns undefined from drain when nothing is buffered', () => {
    const packer = new BatchPacker(sizeOf, limits);

    expect(packer.drain()).toBeUndefined();
  });

  it('leaves the batch unchanged when it rejects a too large item', () => {
    const packer = new BatchPacker(sizeOf, limits);
    packer.add(1);

    expect(() => packer.add(limits.maxItemBytes + 1)).toThrow(ItemTooLargeError);
    expect(packer.drain()).toEqual([1]);
  });

  it('rejects a negative or non-finite measured size', () => {
    const packer = new BatchPacker(sizeOf, limits);

    expect(() => packer.add(-1)).toThrow(RangeError);
    expect(() => packer.add(Number.NaN)).toThrow(RangeError);
  });
});
