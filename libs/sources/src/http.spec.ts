import { boundedHttp, parseRetryAfter, retryWaitMs, SourceRequestError, type HttpEvent } from './http';
import { SOURCE_LIMITS } from './limits';
import { invocationShare, RatePacer } from './rate';
import { busiestWindow, startApiServer, type ApiServer, type Fault } from './test/api-server';

const noWait = { sleep: async () => undefined, random: () => 0 };

describe('the rate pacer', () => {
  it('spaces request starts 1000/rate ms apart, measured from when the last one really started', () => {
    const pacer = new RatePacer(10);
    expect(pacer.delay(0)).toBeLessThanOrEqual(0);
    pacer.started(0);
    expect(pacer.delay(30)).toBe(70);
    pacer.started(130); // a late start moves the next one on: starts are never closer than the spacing
    expect(pacer.delay(200)).toBe(30);
    expect(pacer.delay(230)).toBe(0);
  });

  it('shares a run’s rate evenly among the invocations that may read it at once', () => {
    expect(invocationShare(12, 4)).toBe(3);
    expect(() => invocationShare(12, 0)).toThrow(/positive integer/);
  });
});

describe('Retry-After and backoff', () => {
  it('reads Retry-After as seconds or as an HTTP date', () => {
    expect(parseRetryAfter('3', 0)).toBe(3_000);
    expect(parseRetryAfter('Thu, 01 Jan 1970 00:00:05 GMT', 1_000)).toBe(4_000);
    expect(parseRetryAfter('soon', 0)).toBeUndefined();
    expect(parseRetryAfter(null, 0)).toBeUndefined();
  });

  it('waits at least what Retry-After asks, else full jitter on a capped exponential', () => {
    expect(retryWaitMs(1, 5_000, () => 0.999)).toBe(5_000);
    expect(retryWaitMs(3, undefined, () => 0.5)).toBe(2 * SOURCE_LIMITS.httpBackoffBaseMs);
    expect(retryWaitMs(50, undefined, () => 0.999)).toBeLessThan(SOURCE_LIMITS.httpBackoffCapMs);
  });
});

describe('a bounded HTTP client against a real API on loopback', () => {
  let server: ApiServer | undefined;
  afterEach(async () => {
    await server?.stop();
    server = undefined;
  });

  it('holds the rate: the server never sees more than the bound in any one-second window', async () => {
    const rate = 10;
    server = await startApiServer({ answer: (url) => ({ page: Number(url.searchParams.get('page')) }), latencyMs: 30 });
    const events: HttpEvent[] = [];
    const http = boundedHttp({
      load: { concurrency: 4, attempts: 1, requestsPerSecond: rate },
      onEvent: (e) => events.push(e),
    });

    const pages = await Promise.all(Array.from({ length: 16 }, (_, page) => http.json(`${server!.url}/?page=${page}`)));

    expect(pages).toEqual(Array.from({ length: 16 }, (_, page) => ({ page })));
    // The client's own decisions: starts at least 1000/rate ms apart (measured on the same clock the pacer reads).
    const starts = events.filter((e) => e.type === 'start').map((e) => e.at);
    for (let i = 1; i < starts.length; i++) expect(starts[i] - starts[i - 1]).toBeGreaterThanOrEqual(1_000 / rate);
    // The server's log: a request may arrive up to one spacing late, so a window holds at most the bound + 1 more.
    expect(server.log).toHaveLength(16);
    expect(
      busiestWindow(
        server.log.map((r) => r.at),
        1_000,
      ),
    ).toBeLessThanOrEqual(rate + 2);
  });

  it('retries a 429 (waiting what Retry-After asks), a 503 and a dropped connection, then succeeds', async () => {
    server = await startApiServer({
      answer: () => ({ ok: true }),
      faults: new Map<number, Fault>([
        [0, { status: 429, retryAfter: '2' }],
        [1, { status: 503 }],
        [2, 'drop'],
      ]),
    });
    const events: HttpEvent[] = [];
    const waits: number[] = [];
    const http = boundedHttp({
      load: { concurrency: 1, attempts: 4 },
      sleep: async (ms) => void waits.push(ms),
      random: () => 0,
      onEvent: (e) => events.push(e),
    });

    await expect(http.json(`${server.url}/x`)).resolves.toEqual({ ok: true });

    expect(server.log).toHaveLength(4);
    expect(waits[0]).toBe(2_000);
    expect(events.filter((e) => e.type === 'retry').map((e) => (e as { reason: string }).reason)).toEqual([
      expect.stringMatching(/^429/),
      expect.stringMatching(/^503/),
      expect.stringMatching(/^no answer/),
    ]);
  });

  it('gives up after its attempts, saying what the source answered and what to do', async () => {
    server = await startApiServer({ answer: () => ({}), faults: () => ({ status: 500 }) });
    const http = boundedHttp({ load: { concurrency: 1, attempts: 3 }, ...noWait });

    const failure = http.json(`${server.url}/down`);

    await expect(failure).rejects.toThrow(SourceRequestError);
    await expect(failure).rejects.toThrow(/failed 3 time\(s\), last with 500.*re-trigger the run/);
    expect(server.log).toHaveLength(3);
  });

  it('does not retry an answer that retrying cannot change (404)', async () => {
    server = await startApiServer({ answer: () => ({}), faults: () => ({ status: 404 }) });
    const http = boundedHttp({ load: { concurrency: 1, attempts: 5 }, ...noWait });

    await expect(http.json(`${server.url}/missing`)).rejects.toThrow(/answered 404.*check the URL/);
    expect(server.log).toHaveLength(1);
  });

  it('refuses to wait longer than it may when Retry-After asks for too much', async () => {
    const tooLong = String(SOURCE_LIMITS.maxRetryAfterMs / 1000 + 1);
    server = await startApiServer({ answer: () => ({}), faults: () => ({ status: 429, retryAfter: tooLong }) });
    const http = boundedHttp({ load: { concurrency: 1, attempts: 5 }, ...noWait });

    await expect(http.json(`${server.url}/busy`)).rejects.toThrow(
      /asked to retry after .* lower the job's requestsPerSecond/,
    );
    expect(server.log).toHaveLength(1);
  });

  it('keeps at most `concurrency` requests in flight', async () => {
    let inFlight = 0;
    let most = 0;
    const fakeFetch = (async () => {
      inFlight += 1;
      most = Math.max(most, inFlight);
      await new Promise((resolve) => setImmediate(resolve));
      inFlight -= 1;
      return new Response('{}', { status: 200 });
    }) as unknown as typeof fetch;
    const http = boundedHttp({ load: { concurrency: 3, attempts: 1 }, fetch: fakeFetch });

    await Promise.all(Array.from({ length: 10 }, () => http.json('http://api/x')));

    expect(most).toBe(3);
  });
});
