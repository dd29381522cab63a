import { KiB, MiB } from '@pipeline/limits';

/**
 * Bounds of the source reader, named once. They keep a reader's memory bounded whatever the data:
 * a line is the only thing ever held whole, and only up to `maxLineBytes`.
 */
export const SOURCE_LIMITS = {
  /**
   * The longest line (bytes, newline excluded) read as a row. A longer line becomes an error entry
   * instead of growing a buffer without end; it also bounds how far a slice reads past its end.
   */
  maxLineBytes: 8 * MiB,
  /** The first read past a slice's end, to finish its last line; each further read doubles it. */
  overrunWindowBytes: 64 * KiB,
  /** How much of an over-long line an error entry keeps, so the user can find it. */
  rawPreviewBytes: 1 * KiB,
  /**
   * Requests (the first included) for one byte range whose body breaks off mid-way (a reset or
   * aborted connection): each resumes at the first byte not yet read.
   */
  rangeReadAttempts: 3,
  /** Attempts per HTTP request of a job's source (the first included) before its slice fails. */
  httpAttempts: 5,
  /** Backoff between HTTP attempts: full jitter on base * 2^(attempt-1), capped. */
  httpBackoffBaseMs: 200,
  httpBackoffCapMs: 10_000,
  /** The longest `Retry-After` the reader waits; a source asking for more fails the slice, saying so. */
  maxRetryAfterMs: 60_000,
  /** One HTTP request of a source: a server that answers nothing in this time is retried like a 5xx. */
  httpRequestTimeoutMs: 30_000,
} as const;
