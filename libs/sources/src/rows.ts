import { parse as parseCsv, type CsvError } from 'csv-parse/sync';
import type { SourceFormat } from '@pipeline/job';
import type { ByteRangeSlice } from '@pipeline/slices';
import { SOURCE_LIMITS } from './limits';
import { readSliceLines, trimLine, type ReadLinesOptions, type SliceLine } from './lines';
import type { ObjectSource } from './object-source';

/**
 * Rows: lines parsed in the job's source format. A line that cannot be parsed is an error entry
 * with its reason and its raw text, at its own position, so the rows around it are unaffected.
 *
 * CSV and byte-range slicing: a slice boundary can fall anywhere, so each line must be one whole
 * record. A quoted field that holds a newline splits its record over two lines; both halves are
 * reported as error entries (an unclosed quote, a stray quote or a wrong column count), never
 * joined. Write such data one record per line, or as NDJSON.
 */

/** One parsed row, or why its line is not a row. `pos` is the line's position in its slice. */
export type RowResult =
  | { pos: number; ok: true; row: unknown }
  | { pos: number; ok: false; error: string; raw: string };

export type CsvFormat = Extract<SourceFormat, { format: 'csv' }>;

/** A CSV header that cannot be used; the message says what to fix. */
export class CsvHeaderError extends Error {
  override readonly name = 'CsvHeaderError';
}

const DEFAULT_DELIMITER = ',';
const NEWLINE = 0x0a;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Parses lines into rows. NDJSON: one JSON value per line. CSV: one record per line, as an object
 * keyed by the header's columns (values are strings); a record whose column count differs from the
 * header's is an error entry. Error entries of `lines` pass through unchanged.
 *
 * @param header CSV only: the column names, usually from {@link readCsvHeader}; defaults to `format.columns`.
 * @throws CsvHeaderError for CSV without a header or `format.columns`.
 * @example
 * for await (const r of parseRows(readSliceLines(source, slice), { format: 'ndjson' })) {
 *   if (r.ok) handle(r.pos, r.row); else deadLetter(r.pos, r.error, r.raw);
 * }
 */
export async function* parseRows(
  lines: AsyncIterable<SliceLine>,
  format: SourceFormat,
  header?: readonly string[],
): AsyncIterable<RowResult> {
  const parseLine = format.format === 'csv' ? csvLineParser(format, header) : parseJsonLine;
  for await (const entry of lines) {
    if (!entry.ok) {
      yield entry;
      continue;
    }
    const parsed = parseLine(entry.line);
    yield parsed.ok
      ? { pos: entry.pos, ok: true, row: parsed.row }
      : { pos: entry.pos, ok: false, error: parsed.error, raw: entry.line };
  }
}

/**
 * The column names of a CSV object: `format.columns` when set, else the object's first line,
 * parsed with the format's delimiter. Every slice of the object needs them; read them once per
 * object and pass them to {@link readSliceRows} as `header` to save a request per slice.
 * Give `objectSize` when known: reads then stop at the object's end, and an empty object is not read.
 *
 * @throws CsvHeaderError when the first line is missing, blank, too long or names a column twice or not at all.
 * @example
 * const header = await readCsvHeader(source, 'input', 'people.csv', { format: 'csv' }); // ['name', 'age']
 */
export async function readCsvHeader(
  source: ObjectSource,
  bucket: string,
  key: string,
  format: CsvFormat,
  opts: { maxLineBytes?: number; objectSize?: number } = {},
): Promise<string[]> {
  const where = `s3://${bucket}/${key}`;
  if (format.columns) return checkHeader(format.columns, `the columns of the job's source format`);

  const line = await readFirstLine(
    source,
    bucket,
    key,
    opts.maxLineBytes ?? SOURCE_LIMITS.maxLineBytes,
    opts.objectSize,
  );
  if (line.trim() === '') {
    throw new CsvHeaderError(
      `${where} has no header: its first line must name the columns, or set columns in the job's source format`,
    );
  }
  const values = parseCsvLine(line, format.delimiter ?? DEFAULT_DELIMITER);
  if (!Array.isArray(values)) throw new CsvHeaderError(`the header of ${where} is not a CSV record: ${values}`);
  return checkHeader(values, `the header of ${where}`);
}

/**
 * The rows a byte-range slice owns: {@link readSliceLines} then {@link parseRows}. For CSV whose
 * header is the object's first line, the header is read (unless given) and the slice at byte 0 does
 * not emit it as a row nor count it in `pos`.
 *
 * @example
 * for await (const r of readSliceRows(s3ObjectSource(client), slice, job.source)) { … }
 */
export async function* readSliceRows(
  source: ObjectSource,
  slice: ByteRangeSlice,
  format: SourceFormat,
  opts: ReadLinesOptions & { header?: readonly string[] } = {},
): AsyncIterable<RowResult> {
  let header = opts.header;
  if (format.format === 'csv' && header === undefined) {
    header = await readCsvHeader(source, slice.bucket, slice.key, format, { ...opts, objectSize: slice.objectSize });
  }
  const skipHeaderLine = format.format === 'csv' && !format.columns;
  yield* parseRows(readSliceLines(source, slice, { ...opts, skipHeaderLine }), format, header);
}

type LineParse = { ok: true; row: unknown } | { ok: false; error: string };

function parseJsonLine(line: string): LineParse {
  try {
    return { ok: true, row: JSON.parse(line) };
  } catch (error) {
    return { ok: false, error: `line is not valid JSON: ${(error as Error).message}` };
  }
}

function csvLineParser(format: CsvFormat, header: readonly string[] | undefined): (line: string) => LineParse {
  const columns = header ?? format.columns;
  if (!columns)
    throw new CsvHeaderError(
      'CSV rows need a header: pass the result of readCsvHeader, or set columns in the job source format',
    );
  const delimiter = format.delimiter ?? DEFAULT_DELIMITER;
  return (line) => {
    const values = parseCsvLine(line, delimiter);
    if (!Array.isArray(values)) return { ok: false, error: values };
    if (values.length !== columns.length) {
      return { ok: false, error: `CSV row has ${values.length} column(s), the header has ${columns.length}` };
    }
    return { ok: true, row: Object.fromEntries(columns.map((column, i) => [column, values[i]])) };
  };
}

/** The fields of one CSV line, or why it is not one record. */
function parseCsvLine(line: string, delimiter: string): string[] | string {
  // Without quotes or carriage returns, csv-parse (default options) only splits on the delimiter;
  // doing that directly is many times faster than a parser per line.
  if (!line.includes('"') && !line.includes('\r')) return line.split(delimiter);
  let records: string[][];
  try {
    records = parseCsv(line, { delimiter, relax_column_count: true, skip_empty_lines: false, bom: false });
  } catch (error) {
    const { code, message } = error as CsvError;
    const hint = /QUOTE/.test(code ?? '')
      ? ' (a quoted field holding a newline is not supported when objects are read in byte ranges: write one record per line)'
      : '';
    return `line is not a CSV record: ${message}${hint}`;
  }
  if (records.length !== 1) return `line holds ${records.length} CSV records, expected one (a stray carriage return?)`;
  return records[0];
}

function checkHeader(columns: readonly string[], what: string): string[] {
  const seen = new Set<string>();
  columns.forEach((column, i) => {
    if (column.trim() === '') throw new CsvHeaderError(`${what} leaves column ${i + 1} unnamed: name every column`);
    if (seen.has(column))
      throw new CsvHeaderError(`${what} names column "${column}" twice: column names must be unique`);
    seen.add(column);
  });
  if (seen.size === 0) throw new CsvHeaderError(`${what} names no column`);
  return [...columns];
}

/**
 * The object's first line (BOM and CR dropped), read in growing windows so a short header costs
 * one small request; empty for an empty object. Without `size` the end shows as a short read.
 */
async function readFirstLine(
  source: ObjectSource,
  bucket: string,
  key: string,
  maxLineBytes: number,
  size = Infinity,
): Promise<string> {
  const parts: Uint8Array[] = [];
  let length = 0;
  let window: number = SOURCE_LIMITS.overrunWindowBytes;
  while (length < size) {
    const asked = Math.min(window, size - length);
    let received = 0;
    let newlineAt = -1;
    for await (const chunk of await source.getRange(bucket, key, length, length + asked - 1)) {
      const newline = chunk.indexOf(NEWLINE);
      const take = newline === -1 ? chunk : chunk.subarray(0, newline);
      parts.push(take);
      received += chunk.length;
      length += take.length;
      if (length > maxLineBytes) {
        throw new CsvHeaderError(
          `the header of s3://${bucket}/${key} is longer than ${maxLineBytes} bytes: is this a CSV object?`,
        );
      }
      if (newline !== -1) {
        newlineAt = newline;
        break;
      }
    }
    if (newlineAt !== -1 || received < asked) break;
    window *= 2;
  }
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  try {
    return strictUtf8.decode(trimLine(bytes, true));
  } catch {
    throw new CsvHeaderError(`the header of s3://${bucket}/${key} is not valid UTF-8: save the object as UTF-8`);
  }
}
