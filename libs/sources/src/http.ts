import type { SourceHttp, SourceLoad } from '@pipeline/job';
import { SOURCE_LIMITS } from './limits';
import { RatePacer, Semaphore } from './rate';

/** A request of a job's source that failed for good; the message says what the source answered and how often. */
export class SourceRequestError extends Error {
  override readonly name = 'SourceRequestError';
  constructor(
    message: string,
    readonly status?: number,
  ) {
    super(message);
  }
}

export interface BoundedHttpOptions {
  /** The job's bounds; the rate given here is this client's share (see `invocationShare`). */
  load: Required<Pick<SourceLoad, 'concurrency' | 'attempts'>> & { requestsPerSecond?: number };
  fetch?: typeof fetch;
  /** Milliseconds, monotonic. */
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  /** In [0, 1): the backoff's jitter. */
  random?: () => number;
  /** Every decision, for tests and logs: when a request was let through, and why one is retried. */
  onEvent?: (event: HttpEvent) => void;
}

export type HttpEvent =
  | { type: 'start'; url: string; attempt: number; at: number }
  | { type: 'retry'; url: string; attempt: number; waitMs: number; reason: string };

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * An HTTP client that bounds its load on a source: at most `concurrency` requests in flight, starts
 * paced to `requestsPerSecond` (retries included: a retry is a request), and 429, 5xx, timeouts and
 * dropped connections retried with full-jitter backoff that waits at least what `Retry-After` asks,
 * up to `attempts` in all. Any other status fails at once: retrying a 404 changes nothing.
 *
 * @throws SourceRequestError once a request is out of attempts, or answers a status that is not retried.
 */
export function boundedHttp(options: BoundedHttpOptions): SourceHttp {
  const doFetch = options.fetch ?? fetch;
  const now = options.now ?? (() => performance.now());
  const sleep = options.sleep ?? sleepFor;
  const random = options.random ?? Math.random;
  const emit = options.onEvent ?? (() => undefined);
  const pacer = options.load.requestsPerSecond ? new RatePacer(options.load.requestsPerSecond) : undefined;
  const slots = new Semaphore(options.load.concurrency);
  // Requests pass the pacer one at a time, each waiting until its start is far enough from the last.
  // Resolves with the instant the pacer counted the request as started: the one its `start` event names.
  let gate: Promise<number> = Promise.resolve(0);
  const paced = (): Promise<number> => {
    if (!pacer) return Promise.resolve(now());
    gate = gate.then(async () => {
      for (let wait = pacer.delay(now()); wait > 0; wait = pacer.delay(now())) await sleep(wait);
      const startedAt = now();
      pacer.started(startedAt);
      return startedAt;
    });
    return gate;
  };

  const once = async (url: string, init: RequestInit, attempt: number): Promise<Outcome> => {
    emit({ type: 'start', url, attempt, at: await paced() });
    let response: Response;
    try {
      response = await doFetch(url, { ...init, signal: AbortSignal.timeout(SOURCE_LIMITS.httpRequestTimeoutMs) });
    } catch (error) {
      const cause = (error as { cause?: { code?: string; message?: string } }).cause;
      return { retry: true, reason: `no answer (${cause?.code ?? cause?.message ?? (error as Error).message})` };
    }
    if (response.ok) {
      try {
        return { value: await response.json() };
      } catch (error) {
        // A body cut off mid-way is a dropped connection; a whole body that is not JSON is the source's answer.
        const text = (error as Error).message;
        if (/terminated|aborted|other side closed/i.test(text))
          return { retry: true, reason: `body cut off (${text})` };
        throw new SourceRequestError(`${url} answered ${response.status} with a body that is not JSON: ${text}`);
      }
    }
    const body = (await response.text().catch(() => '')).slice(0, 200);
    if (response.status === 429 || response.status >= 500) {
      return {
        retry: true,
        reason: `${response.status}${body ? ` ${body}` : ''}`,
        status: response.status,
        retryAfterMs: parseRetryAfter(response.headers.get('retry-after'), Date.now()),
      };
    }
    throw new SourceRequestError(
      `${url} answered ${response.status}${body ? `: ${body}` : ''}; only 429 and 5xx are retried: check the URL and the source's credentials`,
      response.status,
    );
  };

  return {
    json<T>(url: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}) {
      return slots.run(async () => {
        for (let attempt = 1; ; attempt++) {
          const outcome = await once(url, init, attempt);
          if ('value' in outcome) return outcome.value as T;
          if (attempt >= options.load.attempts) {
            throw new SourceRequestError(
              `${url} failed ${attempt} time(s), last with ${outcome.reason}: the source is overloaded or down; re-trigger the run once it is back (slices already read are skipped)`,
              outcome.status,
            );
          }
          if (outcome.retryAfterMs !== undefined && outcome.retryAfterMs > SOURCE_LIMITS.maxRetryAfterMs) {
            throw new SourceRequestError(
              `${url} asked to retry after ${Math.round(outcome.retryAfterMs / 1000)} s, more than the ${SOURCE_LIMITS.maxRetryAfterMs / 1000} s the reader waits: lower the job's requestsPerSecond or re-trigger the run later`,
              outcome.status,
            );
          }
          const waitMs = retryWaitMs(attempt, outcome.retryAfterMs, random);
          emit({ type: 'retry', url, attempt, waitMs, reason: outcome.reason });
          await sleep(waitMs);
        }
      });
    },
  };
}

type Outcome = { value: unknown } | { retry: true; reason: string; status?: number; retryAfterMs?: number };

/**
 * How long to wait before attempt `attempt + 1`: full jitter on base * 2^(attempt-1), capped, and never
 * less than what the source asked for in `Retry-After`.
 */
export function retryWaitMs(attempt: number, retryAfterMs: number | undefined, random: () => number): number {
  const ceiling = Math.min(SOURCE_LIMITS.httpBackoffCapMs, SOURCE_LIMITS.httpBackoffBaseMs * 2 ** (attempt - 1));
  return Math.max(Math.floor(random() * ceiling), retryAfterMs ?? 0);
}

/**
 * `Retry-After` in milliseconds: delay-seconds or an HTTP-date (RFC 9110 §10.2.3); undefined when
 * absent or unreadable.
 *
 * @example
 * parseRetryAfter('2', Date.now()); // 2000
 */
export function parseRetryAfter(value: string | null, nowMs: number): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1_000;
  const at = Date.parse(text);
  return Number.isNaN(at) ? undefined : Math.max(0, at - nowMs);
}
