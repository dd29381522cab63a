import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the test API does with the n-th request (0-based): answer, refuse, fail or drop it. */
export type Fault = { status: number; retryAfter?: string } | 'drop';

export interface ApiServer {
  url: string;
  /** Every request as the server saw it, in arrival order, with its own clock (performance.now). */
  log: { at: number; path: string }[];
  stop(): Promise<void>;
}

/**
 * A real HTTP API on 127.0.0.1 for tests: answers `answer(path)` as JSON after `latencyMs`, except
 * the requests `faults` names by arrival index.
 */
export async function startApiServer(opts: {
  answer: (url: URL) => unknown;
  latencyMs?: number;
  faults?: Map<number, Fault> | ((index: number) => Fault | undefined);
}): Promise<ApiServer> {
  const log: ApiServer['log'] = [];
  const faultOf = (i: number) => (typeof opts.faults === 'function' ? opts.faults(i) : opts.faults?.get(i));
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const index = log.length;
    log.push({ at: performance.now(), path: req.url ?? '' });
    const fault = faultOf(index);
    setTimeout(() => {
      if (fault === 'drop') {
        req.socket.destroy();
        return;
      }
      if (fault) {
        res.writeHead(fault.status, fault.retryAfter ? { 'retry-after': fault.retryAfter } : {});
        res.end(`fault ${fault.status}`);
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify(opts.answer(new URL(req.url ?? '/', 'http://localhost'))));
    }, opts.latencyMs ?? 0);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    log,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The most requests the log holds in any window of `windowMs` (inclusive of its start). */
export function busiestWindow(times: readonly number[], windowMs: number): number {
  const sorted = [...times].sort((a, b) => a - b);
  let most = 0;
  for (let i = 0, j = 0; j < sorted.length; j++) {
    while (sorted[j] - sorted[i] >= windowMs) i++;
    most = Math.max(most, j - i + 1);
  }
  return most;
}
