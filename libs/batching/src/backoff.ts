/** Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff and Jitter"). */

export interface BackoffOptions {
  /** Ceiling of the first delay, in ms. */
  baseMs: number;
  /** Upper bound of any delay, in ms. */
  capMs: number;
  /** Uniform in [0, 1); injectable for deterministic tests. Defaults to Math.random. */
  random?: () => number;
}

/**
 * Delay before retry number `attempt` (0 for the first retry): uniform in
 * `[0, min(capMs, baseMs * 2^attempt))`. Full jitter spreads competing writers apart, which is
 * what a throttled shard needs.
 *
 * @example
 * ```ts
 * await sleep(backoffDelay(2, { baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs })); // < 200 ms
 * ```
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 0)
    throw new RangeError(`attempt must be an integer >= 0, got ${attempt}`);
  if (!(opts.baseMs >= 0) || !(opts.capMs >= 0))
    throw new RangeError(`baseMs and capMs must be >= 0, got ${opts.baseMs} and ${opts.capMs}`);
  // 2 ** attempt grows to Infinity for huge attempts; Math.min keeps the cap.
  const ceiling = Math.min(opts.capMs, opts.baseMs * 2 ** attempt);
  const random = opts.random ?? Math.random;
  return Math.floor(random() * ceiling);
}
