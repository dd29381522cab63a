/**
 * A pacing token bucket of burst 1: request starts are at least `1000 / requestsPerSecond` ms apart,
 * measured between the moments the requests really started, so any window of W ms holds at most
 * `W * rate / 1000 + 1` starts. Pure: the caller gives the time, asks how long to wait, and says when
 * it started (one caller at a time: see `boundedHttp`'s gate).
 *
 * @example
 * const pace = new RatePacer(10);
 * pace.delay(0); // 0
 * pace.started(0);
 * pace.delay(30); // 70: the next request waits until 100
 */
export class RatePacer {
  readonly spacingMs: number;
  private last = Number.NEGATIVE_INFINITY;

  constructor(requestsPerSecond: number) {
    if (!(requestsPerSecond > 0) || !Number.isFinite(requestsPerSecond))
      throw new RangeError(`requestsPerSecond is ${requestsPerSecond}: it must be a positive number`);
    this.spacingMs = 1_000 / requestsPerSecond;
  }

  /** Milliseconds to wait before a request may start at `now` (0 or less: it may start). */
  delay(now: number): number {
    // Written as the spacing less the time since the last start: 0 or less exactly when
    // `now - last >= spacingMs` in floating point too, which is how starts are compared.
    return this.spacingMs - (now - this.last);
  }

  /** Records that a request started at `now`. */
  started(now: number): void {
    this.last = now;
  }
}

/**
 * The rate one reader invocation may use so that the run as a whole stays under `requestsPerSecond`:
 * invocations reading the run at once share it evenly (at most `invocations` of them, the fan-out bound).
 */
export function invocationShare(requestsPerSecond: number, invocations: number): number {
  if (!Number.isSafeInteger(invocations) || invocations < 1)
    throw new RangeError(`invocations is ${invocations}: it must be a positive integer`);
  return requestsPerSecond / invocations;
}

/** At most `limit` tasks at once; the others wait their turn in order. */
export class Semaphore {
  private active = 0;
  private readonly waiting: (() => void)[] = [];

  constructor(private readonly limit: number) {
    if (!Number.isSafeInteger(limit) || limit < 1)
      throw new RangeError(`concurrency is ${limit}: it must be a positive integer`);
  }

  async run<T>(task: () => Promise<T>): Promise<T> {
    if (this.active >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.active += 1;
    try {
      return await task();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active -= 1;
    }
  }
}
