import type { JobSource, SourceContext, SourceRows } from '@pipeline/job';
import type { SliceSpec } from '@pipeline/slices';
import type { RowResult } from './rows';

/**
 * The seam between the reader and a job's source: plan a run's slices once, then read any slice
 * (again, after a failure) into the same rows at the same positions. The reader knows nothing else
 * of where records come from: a new kind of source is a new file here, not a change to the reader.
 */
export interface SliceSource<Slice extends SliceSpec = SliceSpec> {
  /** The slices of a run, in a deterministic order with deterministic ids. */
  plan(): Promise<Slice[]>;
  /**
   * A slice's rows, `pos` counting from 0; a row that cannot be a record is an error entry. A chain
   * source sets `end.next` once the slice's last row is read (see {@link ChainEnd}).
   */
  read(slice: Slice, end?: ChainEnd<Slice>): AsyncIterable<RowResult>;
  /**
   * True when the slices form a chain whose length is unknown at planning time (cursor pages):
   * `plan()` gives only the first link, and each link read names the next.
   */
  chain?: boolean;
}

/**
 * How a slice of a chain ended, filled in by `read()` when its rows are done: the next link (its
 * starting cursor), or null when this slice is the chain's last.
 */
export interface ChainEnd<Slice extends SliceSpec = SliceSpec> {
  next?: Slice | null;
}

/** What planning and reading a source may use besides the job's own functions. */
export interface SourceEnv {
  context: SourceContext;
}

/** True for the job sources read from S3 objects (a file format), rather than by the job's own functions. */
export function isObjectsSource(source: JobSource): source is Extract<JobSource, { format: string }> {
  return 'format' in source;
}

/**
 * The rows a job's function returned, numbered from 0: each value is a row; a value that is not JSON
 * (undefined, a function) is an error entry at its position, so the slice's count stays exact.
 */
export async function* numberRows(rows: SourceRows | Promise<SourceRows>): AsyncIterable<RowResult> {
  let pos = 0;
  for await (const row of (await rows) as AsyncIterable<unknown>) {
    if (row === undefined || typeof row === 'function' || typeof row === 'symbol') {
      yield { pos, ok: false, error: `the source returned ${typeof row} as a row: return JSON values`, raw: '' };
    } else {
      yield { pos, ok: true, row };
    }
    pos += 1;
  }
}

/** A number from the job, or the one its function asks the source for at planning time. */
export async function resolveCount(
  value: number | ((context: SourceContext) => Promise<number>),
  context: SourceContext,
  what: string,
): Promise<number> {
  const n = typeof value === 'function' ? await value(context) : value;
  if (!Number.isSafeInteger(n)) throw new RangeError(`the source's ${what} is ${n}: it must be an integer`);
  return n;
}
