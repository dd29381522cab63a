import type { SourceFormat } from '@pipeline/job';
import type { ByteRangeSlice } from '@pipeline/slices';
import { s3ObjectSource, type ObjectSource } from './object-source';
import { CsvHeaderError, parseRows, readCsvHeader, readSliceRows, type RowResult } from './rows';
import { byteLength, collect, generateLines, mapLimit, recorded, sliceObject } from './test/data';
import { startLocalS3, type LocalS3 } from './test/local-s3';

const BUCKET = 'source-bucket';
const NDJSON: SourceFormat = { format: 'ndjson' };
const CSV: SourceFormat = { format: 'csv' };
/** Slices read at once in the tests that read many. */
const CONCURRENCY = 8;

describe('rows', () => {
  let s3: LocalS3;
  let source: ObjectSource;

  beforeAll(async () => {
    s3 = await startLocalS3();
    await s3.createBucket(BUCKET);
    source = s3ObjectSource(s3.client);
  });

  afterAll(() => s3.stop());

  /**
   * Puts `text` and reads its rows in slices of `sliceBytes`, in plan order. With `cacheHeader` the
   * CSV header is read once for all slices, as a reader does; without, each slice reads it.
   */
  async function rowsInSlices(
    key: string,
    text: string,
    format: SourceFormat,
    sliceBytes: number,
    cacheHeader = false,
  ): Promise<RowResult[][]> {
    await s3.put(BUCKET, key, text);
    const header =
      cacheHeader && format.format === 'csv' ? await readCsvHeader(source, BUCKET, key, format) : undefined;
    const slices = sliceObject(BUCKET, key, byteLength(text), sliceBytes);
    return mapLimit(slices, CONCURRENCY, (slice) => collect(readSliceRows(source, slice, format, { header })));
  }

  async function wholeObject(key: string, text: string): Promise<ByteRangeSlice> {
    await s3.put(BUCKET, key, text);
    return sliceObject(BUCKET, key, byteLength(text), byteLength(text))[0];
  }

  describe('NDJSON', () => {
    it('parses each line as JSON', async () => {
      const [rows] = await rowsInSlices('people.ndjson', '{"name":"ada"}\n[1,2]\n"text"\n', NDJSON, 1000);

      expect(rows).toEqual([
        { pos: 0, ok: true, row: { name: 'ada' } },
        { pos: 1, ok: true, row: [1, 2] },
        { pos: 2, ok: true, row: 'text' },
      ]);
    });

    it('reports a malformed line as an error entry with its reason and raw text, between good rows', async () => {
      const [rows] = await rowsInSlices('malformed.ndjson', '{"a":1}\n{"a":\n{"a":3}\n', NDJSON, 1000);

      expect(rows).toEqual([
        { pos: 0, ok: true, row: { a: 1 } },
        { pos: 1, ok: false, error: expect.stringMatching(/^line is not valid JSON: /), raw: '{"a":' },
        { pos: 2, ok: true, row: { a: 3 } },
      ]);
    });

    it('passes on the error entry of an over-long line', async () => {
      const slice = await wholeObject('long.ndjson', `{"a":1}\n{"long":"${'x'.repeat(50)}"}\n`);

      const rows = await collect(readSliceRows(source, slice, NDJSON, { maxLineBytes: 20 }));

      expect(rows).toEqual([
        { pos: 0, ok: true, row: { a: 1 } },
        {
          pos: 1,
          ok: false,
          error: expect.stringMatching(/longer than 20 bytes/),
          raw: expect.stringMatching(/^\{"long":"x+/),
        },
      ]);
    });

    it('reads every row once across slices of many sizes', async () => {
      const values = generateLines(20, 10, 3).map((text, id) => ({ id, text }));
      const text = values.map((v) => JSON.stringify(v)).join('\n');

      for (const sliceBytes of [1, 7, 64, byteLength(text)]) {
        const perSlice = await rowsInSlices('generated.ndjson', text, NDJSON, sliceBytes);

        expect(perSlice.flat().map((r) => (r.ok ? r.row : r.error))).toEqual(values);
      }
    });
  });

  describe('CSV', () => {
    it('keys each row by the header and does not emit the header as a row', async () => {
      const [rows] = await rowsInSlices('people.csv', 'name,age\nada,36\nalan,41\n', CSV, 1000);

      expect(rows).toEqual([
        { pos: 0, ok: true, row: { name: 'ada', age: '36' } },
        { pos: 1, ok: true, row: { name: 'alan', age: '41' } },
      ]);
    });

    it('uses the object header in slices that do not start at byte 0', async () => {
      const perSlice = await rowsInSlices('later.csv', 'name,age\nada,36\nalan,41\ngrace,85\n', CSV, 16);

      // Lines start at 0 (header), 9, 16, 24; slices are [0, 16), [16, 32), [32, 33).
      expect(perSlice).toEqual([
        [{ pos: 0, ok: true, row: { name: 'ada', age: '36' } }],
        [
          { pos: 0, ok: true, row: { name: 'alan', age: '41' } },
          { pos: 1, ok: true, row: { name: 'grace', age: '85' } },
        ],
        [],
      ]);
    });

    it('reads every row once across slices of many sizes, quoted fields, CRLF and multi-byte text included', async () => {
      const texts = generateLines(20, 10, 5);
      const text = `id,text\r\n${texts.map((t, i) => `${i},"${t}"\r\n`).join('')}`;
      const expected = texts.map((t, i) => ({ id: String(i), text: t }));

      for (const sliceBytes of [1, 2, 5, 9, 33, 128, byteLength(text)]) {
        const perSlice = await rowsInSlices('generated.csv', text, CSV, sliceBytes, true);

        expect(perSlice.flat().map((r) => (r.ok ? r.row : r.error))).toEqual(expected);
      }
    });

    it('treats the first line as data when the format names the columns', async () => {
      const format: SourceFormat = { format: 'csv', columns: ['name', 'age'] };

      const [rows] = await rowsInSlices('no-header.csv', 'ada,36\nalan,41\n', format, 1000);

      expect(rows.map((r) => r.ok && r.row)).toEqual([
        { name: 'ada', age: '36' },
        { name: 'alan', age: '41' },
      ]);
    });

    it('reads quoted and unquoted fields alike, empty fields and spaces kept', async () => {
      const [rows] = await rowsInSlices('quoting.csv', 'x,y,z\n a,, c\n" a",""," c"\n', CSV, 1000);

      expect(rows.map((r) => r.ok && r.row)).toEqual([
        { x: ' a', y: '', z: ' c' },
        { x: ' a', y: '', z: ' c' },
      ]);
    });

    it('reports a line holding a lone carriage return as more than one record', async () => {
      const [rows] = await rowsInSlices('lone-cr.csv', 'x,y\n1,2\r3,4\n', CSV, 1000);

      expect(rows).toEqual([
        { pos: 0, ok: false, error: expect.stringMatching(/holds 2 CSV records/), raw: '1,2\r3,4' },
      ]);
    });

    it('splits fields on the format delimiter', async () => {
      const [rows] = await rowsInSlices('semicolons.csv', 'a;b\n"1;x";2\n', { format: 'csv', delimiter: ';' }, 1000);

      expect(rows).toEqual([{ pos: 0, ok: true, row: { a: '1;x', b: '2' } }]);
    });

    it('reports a row whose column count differs from the header as an error entry, between good rows', async () => {
      const [rows] = await rowsInSlices('ragged.csv', 'a,b\n1,2\n1,2,3\n4,5\n', CSV, 1000);

      expect(rows).toEqual([
        { pos: 0, ok: true, row: { a: '1', b: '2' } },
        { pos: 1, ok: false, error: 'CSV row has 3 column(s), the header has 2', raw: '1,2,3' },
        { pos: 2, ok: true, row: { a: '4', b: '5' } },
      ]);
    });

    it('reports both halves of a record with a quoted newline as errors that say why', async () => {
      const [rows] = await rowsInSlices('quoted-newline.csv', 'a,b\n1,"two\nlines"\n3,4\n', CSV, 1000);

      expect(rows).toEqual([
        {
          pos: 0,
          ok: false,
          error: expect.stringMatching(/not a CSV record: Quote Not Closed.*one record per line/),
          raw: '1,"two',
        },
        {
          pos: 1,
          ok: false,
          error: expect.stringMatching(/not a CSV record: Invalid Opening Quote.*one record per line/),
          raw: 'lines"',
        },
        { pos: 2, ok: true, row: { a: '3', b: '4' } },
      ]);
    });

    it('does not read the header again when it is given', async () => {
      const slice = await wholeObject('given-header.csv', 'a,b\n1,2\n');
      const { source: watched, ranges } = recorded(source);

      const rows = await collect(readSliceRows(watched, slice, CSV, { header: ['a', 'b'] }));

      expect(rows).toEqual([{ pos: 0, ok: true, row: { a: '1', b: '2' } }]);
      expect(ranges).toEqual([[0, slice.end - 1]]);
    });

    it('needs a header to parse rows', async () => {
      const lines = (async function* () {})();

      await expect(collect(parseRows(lines, CSV))).rejects.toThrow(CsvHeaderError);
    });
  });

  describe('readCsvHeader', () => {
    it('reads the column names from the first line, dropping a BOM and CRLF', async () => {
      await s3.put(BUCKET, 'bom.csv', '\uFEFFname;"full, address"\r\nada;x\r\n');

      const header = await readCsvHeader(source, BUCKET, 'bom.csv', { format: 'csv', delimiter: ';' });

      expect(header).toEqual(['name', 'full, address']);
    });

    it('reads a header longer than the first read window', async () => {
      const columns = Array.from({ length: 12_000 }, (_, i) => `column_${i}`);
      await s3.put(BUCKET, 'wide.csv', `${columns.join(',')}\n${columns.map(() => '1').join(',')}\n`);

      expect(await readCsvHeader(source, BUCKET, 'wide.csv', CSV)).toEqual(columns);
    });

    it('reads a header that is the whole object', async () => {
      await s3.put(BUCKET, 'only-header.csv', 'a,b');

      expect(await readCsvHeader(source, BUCKET, 'only-header.csv', CSV)).toEqual(['a', 'b']);
    });

    it('returns the format columns without reading the object', async () => {
      expect(await readCsvHeader(source, BUCKET, 'does-not-exist.csv', { format: 'csv', columns: ['x'] })).toEqual([
        'x',
      ]);
    });

    it('refuses an empty object', async () => {
      await s3.put(BUCKET, 'empty.csv', '');

      const read = readCsvHeader(source, BUCKET, 'empty.csv', CSV, { objectSize: 0 });

      await expect(read).rejects.toThrow(/has no header: its first line must name the columns/);
    });

    it('reads no further than the object size it is given', async () => {
      await s3.put(BUCKET, 'sized.csv', 'a,b');
      const { source: watched, ranges } = recorded(source);

      await readCsvHeader(watched, BUCKET, 'sized.csv', CSV, { objectSize: 3 });

      expect(ranges).toEqual([[0, 2]]);
    });

    it('refuses a blank first line', async () => {
      await s3.put(BUCKET, 'blank-first.csv', '\na,b\n');

      await expect(readCsvHeader(source, BUCKET, 'blank-first.csv', CSV)).rejects.toThrow(CsvHeaderError);
    });

    it('refuses a header that names a column twice', async () => {
      await s3.put(BUCKET, 'twice.csv', 'a,b,a\n');

      await expect(readCsvHeader(source, BUCKET, 'twice.csv', CSV)).rejects.toThrow(/names column "a" twice/);
    });

    it('refuses a header that leaves a column unnamed', async () => {
      await s3.put(BUCKET, 'unnamed.csv', 'a,,c\n');

      await expect(readCsvHeader(source, BUCKET, 'unnamed.csv', CSV)).rejects.toThrow(/leaves column 2 unnamed/);
    });

    it('refuses a header longer than maxLineBytes', async () => {
      await s3.put(BUCKET, 'long-header.csv', `${'h'.repeat(100)}\n`);

      await expect(readCsvHeader(source, BUCKET, 'long-header.csv', CSV, { maxLineBytes: 50 })).rejects.toThrow(
        /longer than 50 bytes/,
      );
    });
  });
});
