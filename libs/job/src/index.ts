import type { z } from 'zod';
import type { RecordId } from '@pipeline/records';

/**
 * A job: the one module a user writes to adapt the pipeline to their data.
 *
 * @example
 * export const job = defineJob({
 *   name: 'greetings',
 *   source: { format: 'ndjson' },
 *   input: z.object({ name: z.string() }),
 *   result: z.object({ greeting: z.string() }),
 *   transform: (row) => ({ greeting: `hello ${row.name}` }),
 * });
 */
export interface Job<Input = unknown, Result = unknown> {
  name: string;
  /**
   * Where the records come from: S3 objects (a format: `{ format: 'ndjson' }`), an id range, the pages
   * of an API (counted, or a chain of cursors), or the job's own plan and read. See {@link JobSource}.
   */
  source: JobSource;
  /** Validates one parsed row; a row that fails is dead-lettered as invalid-input. */
  input: z.ZodType<Input>;
  /** Validates what transform returns; a result that fails is dead-lettered as invalid-result. */
  result: z.ZodType<Result>;
  /**
   * Turns one input into one result. Throw `PermanentError` for a record that can never succeed
   * (it is dead-lettered); any other error is treated as transient and retried.
   */
  transform(input: Input, context: TransformContext): Result | Promise<Result>;
  /**
   * Local runs only (`npm start -- --job …`): stand-ins for the services the job calls (a user API, a
   * mail API), started before the run is triggered and stopped after it; `report()` is printed.
   */
  local?: { start(): Promise<{ stop(): Promise<void>; report?(): string }> };
  /**
   * Transforms run at once within a batch (default DEFAULTS.transformConcurrency). Results still go
   * out in stream order; 1 runs them one after another. Keep it within what the services the
   * transform calls can bear, times the shards.
   */
  concurrency?: number;
  /**
   * How many dead letters a run may have and still complete (like Distributed Map's
   * ToleratedFailureCount/Percentage; either bound passing is enough). Absent: any number.
   * A run over it ends as failed; its successes are still collated.
   */
  toleratedFailures?: ToleratedFailures;
}

/** Dead letters a run may have: at most `count`, or at most `percentage` % of the records read. */
export interface ToleratedFailures {
  count?: number;
  percentage?: number;
}

export type SourceFormat =
  | { format: 'ndjson' }
  | {
      format: 'csv' /** Column names; when absent the object's first line is the header. */;
      columns?: string[];
      delimiter?: string;
    };

/** S3 objects under the run's source prefix, parsed in this format. */
export type ObjectsSource = SourceFormat;

/**
 * How hard the reader may press a source that is not S3: every request a source function makes
 * through `context.http` is bounded by these, across every slice of the run read at once.
 */
export interface SourceLoad {
  /** Requests in flight at once (per reader invocation). */
  concurrency?: number;
  /** Requests per second for the whole run. */
  requestsPerSecond?: number;
  /** Attempts per request (the first included) before the slice fails. */
  attempts?: number;
}

/** A bounded HTTP client: rate, concurrency, retries of 429/5xx/dropped connections with backoff. */
export interface SourceHttp {
  /** GETs (or sends `init`) and parses the JSON answer; any status other than 2xx, 429 or 5xx fails at once. */
  json<T = unknown>(
    url: string,
    init?: { method?: string; headers?: Record<string, string>; body?: string },
  ): Promise<T>;
}

/** What a source function gets besides its slice. */
export interface SourceContext {
  http: SourceHttp;
  /** The run being read (a stable name for the job's own logs or idempotency keys). */
  run: string;
}

/** Rows, as a list or a stream; each row becomes one record, at its position in the slice. */
export type SourceRows = readonly unknown[] | AsyncIterable<unknown> | Iterable<unknown>;

/**
 * Ids `[from, to)` cut into slices of `sliceSize`; each slice is read by `read({ from, to })`
 * (one query for a range of users, say). `to` may be a function that asks the source at planning time.
 */
export interface IdRangeSource {
  kind: 'ids';
  from: number;
  /** Exclusive. */
  to: number | ((context: SourceContext) => Promise<number>);
  sliceSize: number;
  read(range: { from: number; to: number }, context: SourceContext): SourceRows | Promise<SourceRows>;
  load?: SourceLoad;
}

/**
 * Pages of an API: the page count is asked once at planning time, slices are runs of `pagesPerSlice`
 * pages, each page fetched with `fetchPage`.
 */
export interface PagesSource {
  kind: 'pages';
  /** Default 1. */
  firstPage?: number;
  pageCount: number | ((context: SourceContext) => Promise<number>);
  pagesPerSlice: number;
  fetchPage(page: number, context: SourceContext): SourceRows | Promise<SourceRows>;
  load?: SourceLoad;
}

/** One page of a cursor-paginated API: its rows, and the cursor of the page after it. */
export interface CursorPage {
  rows: SourceRows;
  /** The next page's cursor; absent, null or '' on the last page, which ends the run's chain of slices. */
  next?: string | null;
}

/**
 * A cursor-paginated API (no page count): the run is read as a chain of slices, each a run of up to
 * `pagesPerSlice` pages, the last cursor of one slice starting the next. The chain's length is known
 * only when a page answers without `next`; one link is read at a time.
 *
 * @example
 * source: {
 *   kind: 'cursor',
 *   pagesPerSlice: 10,
 *   fetchPage: async (cursor, { http }) => {
 *     const page = await http.json<{ items: unknown[]; next: string | null }>(`${API}/items?after=${cursor ?? ''}`);
 *     return { rows: page.items, next: page.next };
 *   },
 * }
 */
export interface CursorSource {
  kind: 'cursor';
  /** The first page's cursor; absent: the first page is fetched with `undefined`. */
  firstCursor?: string;
  pagesPerSlice: number;
  fetchPage(cursor: string | undefined, context: SourceContext): CursorPage | Promise<CursorPage>;
  load?: SourceLoad;
}

/**
 * Your own source: `plan()` returns the slices as JSON values (kept in the run's manifest, so the same
 * run reads the same slices), `read(slice)` returns the slice's rows, in the same order on every read.
 */
export interface CustomSource<Slice = unknown> {
  kind: 'custom';
  plan(context: SourceContext): readonly Slice[] | Promise<readonly Slice[]>;
  read(slice: Slice, context: SourceContext): SourceRows | Promise<SourceRows>;
  load?: SourceLoad;
}

// biome-ignore lint/suspicious/noExplicitAny: each custom source has its own slice type, which its read() narrows
export type JobSource = ObjectsSource | IdRangeSource | PagesSource | CursorSource | CustomSource<any>;

export interface TransformContext {
  /**
   * The record's id: the same on every attempt and every re-read of the run, so it is the
   * idempotency key to hand to an API with side effects (`Idempotency-Key: ${recordIdString(id)}`).
   */
  id: RecordId;
  /**
   * Runs a side effect that has no idempotency key of its own **at most once** per key: first claims
   * `once/<job>/<key>` in the results bucket with a conditional PUT (`If-None-Match: *`), then runs
   * `effect`; when the key was claimed before (a retried transform, a redriven or replayed record, a
   * concurrent duplicate) the effect is skipped and `ran` is false.
   *
   * - `key` defaults to the record's id (`<run>/<slice>/<pos>`): once per record per run. Give your
   *   own for another scope (`${id.run}/user-${user.id}`), or for a second effect of the same record.
   * - The claim comes first: an effect that fails after it is **not** run again. Its error goes on
   *   as the transform's (transient: retried, and the retry gets `ran: false`; PermanentError:
   *   dead-lettered as transform-failed). Catch it yourself to record what happened.
   * - A claim that cannot be written (S3 down, access denied) fails the transform as transient:
   *   the effect did not run.
   * - Cost: one S3 PUT per call (≈ $5 per million records), and the claims' storage until the
   *   results bucket's lifecycle rule expires them (`once.retentionDays`): after that a key can run again.
   */
  once<T>(effect: () => T | Promise<T>, key?: string): Promise<OnceOutcome<T>>;
}

/** What `context.once` did: ran the effect (its value), or skipped it because `claim` was taken before. */
export type OnceOutcome<T> = { ran: true; value: T; claim: string } | { ran: false; claim: string };

export { PermanentError } from './errors';

export function defineJob<Input, Result>(job: Job<Input, Result>): Job<Input, Result> {
  return job;
}

export { type ClaimPort, memoryClaims, onceClaimKey, transformContext } from './once';
