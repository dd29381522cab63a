import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalServer } from './servers';

/** What the proxy does to PutRecords calls: fail a share of their entries as Kinesis does when throttling. */
export interface KinesisFaults {
  /** Share (0..1) of PutRecords entries answered with ProvisionedThroughputExceededException and not written. */
  throttleShare?: number;
  random?: () => number;
}

export interface KinesisFaultProxy extends LocalServer {
  setFaults(faults: KinesisFaults | undefined): void;
  stats(): { putRecordsCalls: number; entriesThrottled: number };
}

/**
 * A Kinesis endpoint in front of another that throttles a share of PutRecords entries: the call
 * answers 200 with FailedRecordCount and per-entry error codes, and only the other entries reach the
 * stream — the partial failure the SDK does not retry and callers must. Every other call passes through.
 */
export async function startKinesisFaultProxy(target: string, initial?: KinesisFaults): Promise<KinesisFaultProxy> {
  let faults = initial;
  const counters = { putRecordsCalls: 0, entriesThrottled: 0 };
  const upstream = new URL(target);

  const forward = (
    req: IncomingMessage,
    body: Buffer,
  ): Promise<{ status: number; headers: Record<string, string>; body: Buffer }> =>
    new Promise((resolve, reject) => {
      const headers = { ...req.headers, host: upstream.host, 'content-length': String(body.length) };
      const out = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (c: Buffer) => chunks.push(c));
          res.on('end', () =>
            resolve({
              status: res.statusCode ?? 500,
              headers: res.headers as Record<string, string>,
              body: Buffer.concat(chunks),
            }),
          );
          res.on('error', reject);
        },
      );
      out.on('error', reject);
      out.end(body);
    });

  const reply = (res: ServerResponse, status: number, headers: Record<string, string>, body: Buffer) => {
    const { 'content-length': _length, 'transfer-encoding': _encoding, ...rest } = headers;
    res.writeHead(status, { ...rest, 'content-length': String(body.length) });
    res.end(body);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = Buffer.concat(chunks);
        const share = faults?.throttleShare ?? 0;
        if (req.headers['x-amz-target'] !== 'Kinesis_20131202.PutRecords' || share <= 0) {
          const upstreamReply = await forward(req, body);
          return reply(res, upstreamReply.status, upstreamReply.headers, upstreamReply.body);
        }
        counters.putRecordsCalls += 1;
        const input = JSON.parse(body.toString('utf8')) as {
          StreamName?: string;
          StreamARN?: string;
          Records: unknown[];
        };
        const random = faults?.random ?? Math.random;
        const throttled = input.Records.map(() => random() < share);
        const passed = input.Records.filter((_, i) => !throttled[i]);
        let results: Record<string, unknown>[] = [];
        if (passed.length) {
          const upstreamReply = await forward(req, Buffer.from(JSON.stringify({ ...input, Records: passed })));
          if (upstreamReply.status !== 200)
            return reply(res, upstreamReply.status, upstreamReply.headers, upstreamReply.body);
          results = (JSON.parse(upstreamReply.body.toString('utf8')) as { Records: Record<string, unknown>[] }).Records;
        }
        let next = 0;
        let failed = 0;
        const records = throttled.map((isThrottled) => {
          if (!isThrottled) {
            const result = results[next++];
            if (result.ErrorCode) failed += 1;
            return result;
          }
          failed += 1;
          counters.entriesThrottled += 1;
          return {
            ErrorCode: 'ProvisionedThroughputExceededException',
            ErrorMessage: 'Rate exceeded for shard in stream (injected by the fault proxy)',
          };
        });
        reply(
          res,
          200,
          { 'content-type': 'application/x-amz-json-1.1' },
          Buffer.from(JSON.stringify({ FailedRecordCount: failed, Records: records })),
        );
      } catch (error) {
        reply(
          res,
          500,
          { 'content-type': 'application/json' },
          Buffer.from(JSON.stringify({ __type: 'InternalFailure', message: String(error) })),
        );
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    setFaults: (next) => {
      faults = next;
    },
    stats: () => ({ ...counters }),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
