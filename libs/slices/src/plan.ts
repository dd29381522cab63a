import { z } from 'zod';
import { DEFAULTS } from '@pipeline/limits';
import { SliceIdSchema } from '@pipeline/records';

/**
 * Slices: the units a run's source is cut into. One slice is read by one reader invocation, travels
 * under one partition key and is finished by one end-of-slice marker, so a plan decides both the
 * parallelism of a run and its bookkeeping cost (one marker per slice, never one per record).
 *
 * Planning is pure: the same input always gives the same slices with the same ids.
 */

/**
 * A byte range `[start, end)` of one S3 object. It owns every line whose first byte lies in the
 * range (Hadoop's rule): a line that straddles `end` belongs to this slice, a line that straddles
 * `start` to the slice before, so every line of the object is owned by exactly one slice.
 */
export interface ByteRangeSlice {
  kind: 'bytes';
  id: string;
  bucket: string;
  key: string;
  start: number;
  /** Exclusive. */
  end: number;
  /** The object's size when the plan was made. */
  objectSize: number;
}

/** Numbers `[from, to)`, for sources addressed by id or offset. */
export interface NumberRangeSlice {
  kind: 'numbers';
  id: string;
  from: number;
  /** Exclusive. */
  to: number;
}

/** `pageCount` pages starting at `firstPage`, for paginated APIs. */
export interface PageSlice {
  kind: 'pages';
  id: string;
  firstPage: number;
  pageCount: number;
}

/**
 * One link of a cursor chain: up to `pageCount` pages starting at `cursor` (absent: the API's first
 * page). Link `link` has id `sliceId(link)`; only the first link is planned, each later one is
 * recorded by the reader that read the link before it (see {@link nextLink}).
 */
export interface CursorSlice {
  kind: 'cursor';
  id: string;
  link: number;
  cursor?: string;
  pageCount: number;
}

/** One slice of a job's own source: what its `plan()` returned, kept as given. */
export interface CustomSlice {
  kind: 'custom';
  id: string;
  params: unknown;
}

export type SliceSpec = ByteRangeSlice | NumberRangeSlice | PageSlice | CursorSlice | CustomSlice;

/** An object to plan, as a listing returns it. */
export interface SourceObject {
  bucket: string;
  key: string;
  size: number;
}

/** A plan that cannot be made; the message says what to change. */
export class SlicePlanError extends Error {
  override readonly name = 'SlicePlanError';
}

/** Digits of a slice id: enough for the largest plan a run allows, so ids sort in plan order. */
const ID_DIGITS = String(DEFAULTS.maxSlicesPerRun).length;

/**
 * The id of the slice at `index` in plan order: `s000000`, `s000001`, …
 *
 * @example
 * sliceId(12); // 's000012'
 */
export function sliceId(index: number): string {
  if (!Number.isSafeInteger(index) || index < 0)
    throw new SlicePlanError(`slice index ${index} must be a non-negative integer`);
  return SliceIdSchema.parse(`s${String(index).padStart(ID_DIGITS, '0')}`);
}

/**
 * Cuts S3 objects into byte ranges of at most `sliceBytes` (default `DEFAULTS.sliceBytes`, clamped to
 * `DEFAULTS.maxSliceBytes`). Objects are sorted by bucket then key first, so ids do not depend on the
 * order a listing returned them in; empty objects get no slice.
 *
 * Ids are stable for the same set of objects and the same `sliceBytes`; adding an object shifts the
 * ids after it, so a run keeps the plan it started with.
 *
 * @throws SlicePlanError when the plan would exceed `DEFAULTS.maxSlicesPerRun` slices, or an input is invalid.
 * @example
 * planByteRanges([{ bucket: 'in', key: 'a.ndjson', size: 20 }], { sliceBytes: 8 });
 * // [{ kind: 'bytes', id: 's000000', start: 0, end: 8, … }, { id: 's000001', start: 8, end: 16, … },
 * //  { id: 's000002', start: 16, end: 20, … }]
 */
export function planByteRanges(objects: readonly SourceObject[], opts: { sliceBytes?: number } = {}): ByteRangeSlice[] {
  const requested = opts.sliceBytes ?? DEFAULTS.sliceBytes;
  requirePositiveInteger('sliceBytes', requested);
  const sliceBytes = Math.min(requested, DEFAULTS.maxSliceBytes);
  const sorted = sortObjects(objects);

  const count = countByteSlices(sorted, sliceBytes);
  if (count > DEFAULTS.maxSlicesPerRun) {
    throw new SlicePlanError(
      `planning ${sorted.length} object(s) in slices of ${sliceBytes} bytes needs ${count} slices, ` +
        `more than the ${DEFAULTS.maxSlicesPerRun} a run allows: ${adviseSliceBytes(sorted)}`,
    );
  }

  const slices: ByteRangeSlice[] = [];
  for (const { bucket, key, size } of sorted) {
    for (let start = 0; start < size; start += sliceBytes) {
      const end = Math.min(start + sliceBytes, size);
      slices.push({ kind: 'bytes', id: sliceId(slices.length), bucket, key, start, end, objectSize: size });
    }
  }
  return slices;
}

/**
 * Cuts the numbers `[from, to)` into ranges of at most `sliceSize`.
 *
 * @throws SlicePlanError when the plan would exceed `DEFAULTS.maxSlicesPerRun` slices, or an input is invalid.
 * @example
 * planNumberRange({ from: 0, to: 25, sliceSize: 10 });
 * // [{ kind: 'numbers', id: 's000000', from: 0, to: 10 }, { id: 's000001', from: 10, to: 20 },
 * //  { id: 's000002', from: 20, to: 25 }]
 */
export function planNumberRange(opts: { from: number; to: number; sliceSize: number }): NumberRangeSlice[] {
  const { from, to, sliceSize } = opts;
  requireSafeInteger('from', from);
  requireSafeInteger('to', to);
  requirePositiveInteger('sliceSize', sliceSize);
  if (to < from) throw new SlicePlanError(`number range [${from}, ${to}) is reversed: to must be at least from`);

  const count = Math.ceil((to - from) / sliceSize);
  requireWithinSliceLimit(count, `the range [${from}, ${to}) in slices of ${sliceSize}`, 'raise sliceSize');

  const slices: NumberRangeSlice[] = [];
  for (let lo = from; lo < to; lo += sliceSize) {
    slices.push({ kind: 'numbers', id: sliceId(slices.length), from: lo, to: Math.min(lo + sliceSize, to) });
  }
  return slices;
}

/**
 * Cuts `pageCount` pages starting at `firstPage` (default 1, as most paginated APIs count) into
 * slices of at most `pagesPerSlice` pages.
 *
 * @throws SlicePlanError when the plan would exceed `DEFAULTS.maxSlicesPerRun` slices, or an input is invalid.
 * @example
 * planPages({ pageCount: 5, pagesPerSlice: 2 });
 * // [{ kind: 'pages', id: 's000000', firstPage: 1, pageCount: 2 }, { id: 's000001', firstPage: 3, pageCount: 2 },
 * //  { id: 's000002', firstPage: 5, pageCount: 1 }]
 */
export function planPages(opts: { firstPage?: number; pageCount: number; pagesPerSlice: number }): PageSlice[] {
  const firstPage = opts.firstPage ?? 1;
  const { pageCount, pagesPerSlice } = opts;
  requireSafeInteger('firstPage', firstPage);
  requireSafeInteger('pageCount', pageCount);
  if (pageCount < 0) throw new SlicePlanError(`pageCount ${pageCount} must not be negative`);
  requirePositiveInteger('pagesPerSlice', pagesPerSlice);
  requireSafeInteger('firstPage + pageCount', firstPage + pageCount);

  const count = Math.ceil(pageCount / pagesPerSlice);
  requireWithinSliceLimit(count, `${pageCount} pages in slices of ${pagesPerSlice}`, 'raise pagesPerSlice');

  const slices: PageSlice[] = [];
  for (let done = 0; done < pageCount; done += pagesPerSlice) {
    slices.push({
      kind: 'pages',
      id: sliceId(slices.length),
      firstPage: firstPage + done,
      pageCount: Math.min(pagesPerSlice, pageCount - done),
    });
  }
  return slices;
}

/**
 * The first link of a cursor chain: all a cursor run can plan, since its length is unknown until
 * a page answers without a next cursor.
 *
 * @example
 * planCursorChain({ pagesPerSlice: 10 });
 * // [{ kind: 'cursor', id: 's000000', link: 0, pageCount: 10 }]
 */
export function planCursorChain(opts: { firstCursor?: string; pagesPerSlice: number }): CursorSlice[] {
  requirePositiveInteger('pagesPerSlice', opts.pagesPerSlice);
  return [cursorLink(0, opts.firstCursor, opts.pagesPerSlice)];
}

/**
 * The link after `slice`, starting at `cursor` (the next cursor its last page answered): same
 * pages per slice, the next id. Deterministic, so a link read again records the same next link.
 *
 * @throws SlicePlanError when the chain would exceed `DEFAULTS.maxSlicesPerRun` links (an API whose
 * cursors never end), or the cursor is empty.
 * @example
 * nextLink({ kind: 'cursor', id: 's000000', link: 0, pageCount: 10 }, 'c10');
 * // { kind: 'cursor', id: 's000001', link: 1, cursor: 'c10', pageCount: 10 }
 */
export function nextLink(slice: CursorSlice, cursor: string): CursorSlice {
  if (cursor === '')
    throw new SlicePlanError(`the cursor after ${describeSlice(slice)} is empty: an empty cursor ends the chain`);
  requireWithinSliceLimit(
    slice.link + 2,
    `a chain of cursor links longer than ${DEFAULTS.maxSlicesPerRun}`,
    "raise pagesPerSlice, or check that the API's last page answers no next cursor",
  );
  return cursorLink(slice.link + 1, cursor, slice.pageCount);
}

function cursorLink(link: number, cursor: string | undefined, pageCount: number): CursorSlice {
  return { kind: 'cursor', id: sliceId(link), link, ...(cursor === undefined ? {} : { cursor }), pageCount };
}

/**
 * Gives each of a job's own slices its id, in the order its `plan()` returned them.
 *
 * @throws SlicePlanError when the plan exceeds `DEFAULTS.maxSlicesPerRun` slices or a slice is not JSON.
 * @example
 * planCustom([{ table: 'a' }, { table: 'b' }]);
 * // [{ kind: 'custom', id: 's000000', params: { table: 'a' } }, { kind: 'custom', id: 's000001', params: { table: 'b' } }]
 */
export function planCustom(params: readonly unknown[]): CustomSlice[] {
  requireWithinSliceLimit(
    params.length,
    `${params.length} slices of the job's own plan`,
    'return fewer, larger slices',
  );
  return params.map((p, index) => {
    if (p === undefined || JSON.stringify(p) === undefined)
      throw new SlicePlanError(`slice ${index} of the job's plan is not a JSON value: return plain data from plan()`);
    return { kind: 'custom', id: sliceId(index), params: JSON.parse(JSON.stringify(p)) as unknown };
  });
}

/**
 * One line for logs.
 *
 * @example
 * describeSlice({ kind: 'bytes', id: 's000001', bucket: 'in', key: 'a.csv', start: 8, end: 16, objectSize: 20 });
 * // 'slice s000001: s3://in/a.csv bytes [8, 16) of 20'
 */
export function describeSlice(slice: SliceSpec): string {
  switch (slice.kind) {
    case 'bytes':
      return `slice ${slice.id}: s3://${slice.bucket}/${slice.key} bytes [${slice.start}, ${slice.end}) of ${slice.objectSize}`;
    case 'numbers':
      return `slice ${slice.id}: numbers [${slice.from}, ${slice.to})`;
    case 'pages': {
      const last = slice.firstPage + slice.pageCount - 1;
      return `slice ${slice.id}: pages ${slice.firstPage}-${last} (${slice.pageCount} page${slice.pageCount === 1 ? '' : 's'})`;
    }
    case 'cursor':
      return `slice ${slice.id}: link ${slice.link} of a cursor chain, up to ${slice.pageCount} page${slice.pageCount === 1 ? '' : 's'} from ${slice.cursor === undefined ? 'the first page' : `cursor ${JSON.stringify(slice.cursor.slice(0, 200))}`}`;
    case 'custom':
      return `slice ${slice.id}: ${JSON.stringify(slice.params).slice(0, 200)}`;
  }
}

const nonNegativeInt = z.number().int().nonnegative();

/** Validates a slice read back from a manifest or an event. */
export const SliceSpecSchema = z.discriminatedUnion('kind', [
  z
    .object({
      kind: z.literal('bytes'),
      id: SliceIdSchema,
      bucket: z.string().min(1),
      key: z.string().min(1),
      start: nonNegativeInt,
      end: nonNegativeInt,
      objectSize: nonNegativeInt,
    })
    .refine((s) => s.start < s.end && s.end <= s.objectSize, 'a byte-range slice needs start < end <= objectSize'),
  z
    .object({ kind: z.literal('numbers'), id: SliceIdSchema, from: z.number().int(), to: z.number().int() })
    .refine((s) => s.from < s.to, 'a number-range slice needs from < to'),
  z.object({
    kind: z.literal('pages'),
    id: SliceIdSchema,
    firstPage: z.number().int(),
    pageCount: z.number().int().positive(),
  }),
  z.object({
    kind: z.literal('cursor'),
    id: SliceIdSchema,
    link: nonNegativeInt,
    cursor: z.string().min(1).optional(),
    pageCount: z.number().int().positive(),
  }),
  z.object({ kind: z.literal('custom'), id: SliceIdSchema, params: z.unknown() }),
]);

function sortObjects(objects: readonly SourceObject[]): SourceObject[] {
  for (const o of objects) {
    if (!o.bucket || !o.key) throw new SlicePlanError(`object ${JSON.stringify(o)} needs a bucket and a key`);
    if (!Number.isSafeInteger(o.size) || o.size < 0) {
      throw new SlicePlanError(
        `object s3://${o.bucket}/${o.key} has size ${o.size}: a size must be a non-negative integer`,
      );
    }
  }
  // Code-unit order, not locale order: the same on every machine.
  const byName = (a: SourceObject, b: SourceObject) => compare(a.bucket, b.bucket) || compare(a.key, b.key);
  const sorted = [...objects].sort(byName);
  for (let i = 1; i < sorted.length; i++) {
    if (byName(sorted[i - 1], sorted[i]) === 0) {
      throw new SlicePlanError(
        `object s3://${sorted[i].bucket}/${sorted[i].key} is listed twice: list each object once`,
      );
    }
  }
  return sorted;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function countByteSlices(objects: readonly SourceObject[], sliceBytes: number): number {
  return objects.reduce((sum, o) => sum + Math.ceil(o.size / sliceBytes), 0);
}

/** The smallest slice size that fits the limit (the count only falls as slices grow), or what else to do. */
function adviseSliceBytes(objects: readonly SourceObject[]): string {
  if (countByteSlices(objects, DEFAULTS.maxSliceBytes) > DEFAULTS.maxSlicesPerRun) {
    return `even the largest slice size (${DEFAULTS.maxSliceBytes} bytes) is not enough, split the source into several runs`;
  }
  let lo = 1;
  let hi = DEFAULTS.maxSliceBytes;
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (countByteSlices(objects, mid) <= DEFAULTS.maxSlicesPerRun) hi = mid;
    else lo = mid + 1;
  }
  return `raise sliceBytes to at least ${lo}`;
}

function requireWithinSliceLimit(count: number, what: string, advice: string): void {
  if (count > DEFAULTS.maxSlicesPerRun) {
    throw new SlicePlanError(
      `planning ${what} needs ${count} slices, more than the ${DEFAULTS.maxSlicesPerRun} a run allows: ${advice}`,
    );
  }
}

function requireSafeInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value)) throw new SlicePlanError(`${name} is ${value}: it must be an integer`);
}

function requirePositiveInteger(name: string, value: number): void {
  if (!Number.isSafeInteger(value) || value < 1)
    throw new SlicePlanError(`${name} is ${value}: it must be a positive integer`);
}
