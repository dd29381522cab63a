/** Sending a batch whose entries can fail one by one (PutRecords, PutRecordBatch), with bounded retries. */
import { DEFAULTS } from '@pipeline/limits';
import { backoffDelay } from './backoff';

/** One entry a call reports as failed; `index` points into the items passed to that call. */
export interface EntryFailure {
  index: number;
  code: string;
  message: string;
}

/** An item still failing once the attempts are spent (or failing with a code that is not retried). */
export interface FailedItem<T> {
  item: T;
  code: string;
  message: string;
}

export interface RetryOptions {
  /** Calls in all, the first one included; at least 1. */
  attempts: number;
  /** Backoff between calls: full jitter on baseMs * 2^retry, capped at capMs. */
  baseMs: number;
  capMs: number;
  /** Injectable for tests; defaults to a real timer. */
  sleep?: (ms: number) => Promise<void>;
  /** Injectable for tests; defaults to Math.random. */
  random?: () => number;
  /** Whether an entry's error code is worth retrying; defaults to every code. */
  isRetryable?: (code: string) => boolean;
}

export interface RetryResult<T> {
  /** Calls made to `send`. */
  attempts: number;
  /** Items that were not accepted, in their original order. */
  failed: FailedItem<T>[];
}

/**
 * Retry options with the project's defaults (DEFAULTS.putAttempts, backoffBaseMs, backoffCapMs)
 * for whatever the caller leaves out.
 *
 * @example
 * ```ts
 * putRetryOptions({ attempts: 3 }); // { attempts: 3, baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs }
 * ```
 */
export function putRetryOptions(opts: Partial<RetryOptions> = {}): RetryOptions {
  return {
    ...opts,
    attempts: opts.attempts ?? DEFAULTS.putAttempts,
    baseMs: opts.baseMs ?? DEFAULTS.backoffBaseMs,
    capMs: opts.capMs ?? DEFAULTS.backoffCapMs,
  };
}

const realSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Sends `items`, then re-sends only the entries reported as failed, until all are accepted or
 * `attempts` calls have been made, sleeping a full-jitter backoff between calls. A call that
 * throws (the whole request failed, e.g. throttled) is retried with the same entries and the error
 * is rethrown after the last attempt. Retried entries travel after the others, so order is not
 * kept across a retry.
 *
 * @example
 * ```ts
 * const { failed } = await sendWithRetry(records, (batch) => port.putRecords(stream, batch), {
 *   attempts: DEFAULTS.putAttempts, baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs,
 * });
 * if (failed.length) deadLetter(failed);
 * ```
 */
export async function sendWithRetry<T>(
  items: T[],
  send: (items: T[]) => Promise<EntryFailure[]>,
  opts: RetryOptions,
): Promise<RetryResult<T>> {
  if (!Number.isInteger(opts.attempts) || opts.attempts < 1)
    throw new RangeError(`attempts must be an integer >= 1, got ${opts.attempts}`);
  const sleep = opts.sleep ?? realSleep;
  const isRetryable = opts.isRetryable ?? (() => true);

  // Failures are keyed by the item's position in `items`, so the result keeps the caller's order.
  const final = new Map<number, EntryFailure>();
  let pending = items.map((_, i) => i);
  let calls = 0;

  while (pending.length > 0) {
    if (calls > 0) await sleep(backoffDelay(calls - 1, opts));
    const sent = pending;
    calls += 1;
    const lastCall = calls >= opts.attempts;

    let failures: EntryFailure[];
    try {
      failures = await send(sent.map((i) => items[i]));
    } catch (error) {
      if (lastCall) throw error;
      continue;
    }

    pending = [];
    const seen = new Set<number>();
    for (const failure of failures) {
      if (
        !Number.isInteger(failure.index) ||
        failure.index < 0 ||
        failure.index >= sent.length ||
        seen.has(failure.index)
      ) {
        throw new RangeError(
          `send reported failed entry index ${failure.index} for a call of ${sent.length} entries; fix the port's response mapping`,
        );
      }
      seen.add(failure.index);
      const original = sent[failure.index];
      if (!lastCall && isRetryable(failure.code)) pending.push(original);
      else final.set(original, { ...failure, index: original });
    }
    pending.sort((a, b) => a - b);
  }

  const failed = [...final.values()]
    .sort((a, b) => a.index - b.index)
    .map(({ index, code, message }) => ({ item: items[index], code, message }));
  return { attempts: calls, failed };
}

/**
 * Error codes of failed entries with their counts, for error messages.
 *
 * @example
 * ```ts
 * summarizeCodes([{ code: 'InternalFailure' }, { code: 'InternalFailure' }]); // 'InternalFailure x2'
 * ```
 */
export function summarizeCodes(failed: { code: string }[]): string {
  const counts = new Map<string, number>();
  for (const { code } of failed) counts.set(code, (counts.get(code) ?? 0) + 1);
  return [...counts].map(([code, n]) => `${code} x${n}`).join(', ');
}
