import type { ByteRangeSlice } from '@pipeline/slices';
import { readSliceLines, SourceReadError, type SliceLine } from './lines';
import { s3ObjectSource, type ObjectSource } from './object-source';
import { byteLength, collect, generateText, mapLimit, recorded, rechunked, sliceObject } from './test/data';
import { startLocalS3, type LocalS3 } from './test/local-s3';

const BUCKET = 'source-bucket';
/** Slices read at once in the tests that read many. */
const CONCURRENCY = 8;

describe('readSliceLines', () => {
  let s3: LocalS3;
  let source: ObjectSource;

  beforeAll(async () => {
    s3 = await startLocalS3();
    await s3.createBucket(BUCKET);
    source = s3ObjectSource(s3.client);
  });

  afterAll(() => s3.stop());

  /** Puts `text` and reads it in slices of `sliceBytes`: the lines each slice yields, in plan order. */
  async function readInSlices(
    key: string,
    text: string,
    sliceBytes: number,
    from: ObjectSource = source,
  ): Promise<SliceLine[][]> {
    await s3.put(BUCKET, key, text);
    const slices = sliceObject(BUCKET, key, byteLength(text), sliceBytes);
    return Promise.all(slices.map((slice) => collect(readSliceLines(from, slice))));
  }

  const texts = (entries: SliceLine[]) => entries.map((e) => (e.ok ? e.line : `!${e.error}`));

  describe('owning every line exactly once', () => {
    const { text, lines } = generateText(40, 16, 7);
    const size = byteLength(text);
    const sliceSizes = [1, 2, 3, 4, 5, 7, 11, 16, 31, 64, 100, 257, 1000, size - 1, size, size + 1];

    beforeAll(() => s3.put(BUCKET, 'generated.txt', text));

    it.each(sliceSizes)('reads every line once, in order, with slices of %p bytes', async (sliceBytes) => {
      const slices = sliceObject(BUCKET, 'generated.txt', size, sliceBytes);

      const perSlice = await mapLimit(slices, CONCURRENCY, (slice) => collect(readSliceLines(source, slice)));

      expect(perSlice.flatMap(texts)).toEqual(lines);
      perSlice.forEach((entries) => {
        expect(entries.map((e) => e.pos)).toEqual(entries.map((_, i) => i));
      });
    });

    it('keeps multi-byte characters whole when the network splits them across chunks', async () => {
      const slices = sliceObject(BUCKET, 'generated.txt', size, 97);

      const perSlice = await Promise.all(slices.map((slice) => collect(readSliceLines(rechunked(source, 1), slice))));

      expect(perSlice.flatMap(texts)).toEqual(lines);
    });

    it('gives the same positions on a second read', async () => {
      const slices = sliceObject(BUCKET, 'generated.txt', size, 50);

      const first = await Promise.all(slices.map((slice) => collect(readSliceLines(source, slice))));
      const second = await Promise.all(slices.map((slice) => collect(readSliceLines(rechunked(source, 3), slice))));

      expect(second).toEqual(first);
    });
  });

  it('gives a line that straddles a boundary to the slice where it starts', async () => {
    // bytes: "aaaa\n" 0-4, "bbbbbb\n" 5-11, "cc\n" 12-14; boundary at 7 falls inside "bbbbbb".
    const perSlice = await readInSlices('straddle.txt', 'aaaa\nbbbbbb\ncc\n', 7);

    expect(perSlice.map(texts)).toEqual([['aaaa', 'bbbbbb'], ['cc'], []]);
  });

  it('gives a line that starts exactly on a boundary to the later slice', async () => {
    // "ab\n" is bytes 0-2, so "cd" starts at byte 3, the second slice's first byte.
    const perSlice = await readInSlices('on-boundary.txt', 'ab\ncd\nef\n', 3);

    expect(perSlice.map(texts)).toEqual([['ab'], ['cd'], ['ef']]);
  });

  it('drops the carriage return of CRLF line ends', async () => {
    const perSlice = await readInSlices('crlf.txt', 'one\r\ntwo\r\nthree\r\n', 4);

    expect(perSlice.flatMap(texts)).toEqual(['one', 'two', 'three']);
  });

  it('reads a last line that has no newline', async () => {
    const perSlice = await readInSlices('no-trailing-newline.txt', 'first\nlast', 3);

    expect(perSlice.flatMap(texts)).toEqual(['first', 'last']);
  });

  it('reads a one-byte object', async () => {
    const perSlice = await readInSlices('one-byte.txt', 'x', 1);

    expect(perSlice).toEqual([[{ pos: 0, ok: true, line: 'x' }]]);
  });

  it('skips blank lines without giving them a position', async () => {
    const [entries] = await readInSlices('blank.txt', 'a\n\n   \r\n\nb\n', 1000);

    expect(entries).toEqual([
      { pos: 0, ok: true, line: 'a' },
      { pos: 1, ok: true, line: 'b' },
    ]);
  });

  it('drops a UTF-8 byte-order mark at the start of the object', async () => {
    const [entries] = await readInSlices('bom.txt', '\uFEFFfirst\nsecond\n', 1000);

    expect(texts(entries)).toEqual(['first', 'second']);
  });

  it('reads only past its end as far as its last line goes', async () => {
    const text = `${'a'.repeat(10)}\n${'b'.repeat(100)}\n${'c'.repeat(10)}\n`;
    await s3.put(BUCKET, 'overrun.txt', text);
    const [first] = sliceObject(BUCKET, 'overrun.txt', byteLength(text), 20);
    const { source: watched, ranges } = recorded(source);

    const entries = await collect(readSliceLines(watched, first));

    expect(texts(entries)).toEqual(['a'.repeat(10), 'b'.repeat(100)]);
    expect(ranges).toEqual([
      [0, 19],
      [20, byteLength(text) - 1],
    ]);
  });

  it('stops reading a slice that starts inside a line longer than itself', async () => {
    const text = `${'x'.repeat(50)}\nnext\n`;
    await s3.put(BUCKET, 'inside-long-line.txt', text);
    const slices = sliceObject(BUCKET, 'inside-long-line.txt', byteLength(text), 10);
    const { source: watched, ranges } = recorded(source);

    const entries = await collect(readSliceLines(watched, slices[2]));

    expect(entries).toEqual([]);
    expect(ranges).toEqual([[19, 29]]);
  });

  describe('the long-line guard', () => {
    const maxLineBytes = 16;
    const long = 'L'.repeat(maxLineBytes + 5);

    it('reports a line over maxLineBytes as an error entry with its start, and reads the lines around it', async () => {
      await s3.put(BUCKET, 'long-line.txt', `before\n${long}\nafter\n`);
      const slice = sliceObject(BUCKET, 'long-line.txt', 7 + long.length + 1 + 6, 1000)[0];

      const entries = await collect(readSliceLines(source, slice, { maxLineBytes }));

      expect(entries).toEqual([
        { pos: 0, ok: true, line: 'before' },
        {
          pos: 1,
          ok: false,
          error: expect.stringMatching(/line at byte 7 of s3:\/\/source-bucket\/long-line.txt is longer than 16 bytes/),
          raw: long,
        },
        { pos: 2, ok: true, line: 'after' },
      ]);
    });

    it('accepts a line of exactly maxLineBytes', async () => {
      const exact = 'E'.repeat(maxLineBytes);
      const [entries] = await readInSlices('exact-line.txt', `${exact}\n`, 1000);

      expect(entries).toEqual([{ pos: 0, ok: true, line: exact }]);
    });

    it('stops past the slice end once the last line is over the bound, without reading the rest', async () => {
      const huge = 'H'.repeat(500);
      const text = `ok\n${huge}\n`;
      await s3.put(BUCKET, 'huge-last-line.txt', text);
      const [first, ...rest] = sliceObject(BUCKET, 'huge-last-line.txt', byteLength(text), 8);
      const { source: watched, ranges } = recorded(source);

      const entries = await collect(readSliceLines(watched, first, { maxLineBytes }));
      const others = await Promise.all(rest.map((slice) => collect(readSliceLines(source, slice, { maxLineBytes }))));

      expect(texts(entries)).toEqual(['ok', expect.stringMatching(/longer than 16 bytes/)]);
      expect(ranges).toHaveLength(2);
      expect(others.flat()).toEqual([]);
    });
  });

  it('reports a line that is not valid UTF-8 as an error entry', async () => {
    const bytes = new Uint8Array([...Buffer.from('good\n'), 0xff, 0xfe, 0x0a, ...Buffer.from('fine\n')]);
    await s3.put(BUCKET, 'bad-utf8.txt', bytes);
    const [slice] = sliceObject(BUCKET, 'bad-utf8.txt', bytes.length, 1000);

    const entries = await collect(readSliceLines(source, slice));

    expect(entries).toEqual([
      { pos: 0, ok: true, line: 'good' },
      { pos: 1, ok: false, error: expect.stringMatching(/line at byte 5 .* is not valid UTF-8/), raw: '\uFFFD\uFFFD' },
      { pos: 2, ok: true, line: 'fine' },
    ]);
  });

  it('fails with SourceReadError when the object is shorter than the slice expects', async () => {
    await s3.put(BUCKET, 'shrunk.txt', 'short\n');
    const slice: ByteRangeSlice = {
      kind: 'bytes',
      id: 's000000',
      bucket: BUCKET,
      key: 'shrunk.txt',
      start: 0,
      end: 100,
      objectSize: 100,
    };

    await expect(collect(readSliceLines(source, slice))).rejects.toThrow(SourceReadError);
  });

  it('refuses a slice whose range lies outside its object', async () => {
    const slice: ByteRangeSlice = {
      kind: 'bytes',
      id: 's000000',
      bucket: BUCKET,
      key: 'any.txt',
      start: 5,
      end: 20,
      objectSize: 10,
    };

    await expect(collect(readSliceLines(source, slice))).rejects.toThrow(/outside an object of 10 bytes/);
  });
});
