/**
 * The local Firehose endpoint: Firehose's JSON 1.1 API over HTTP, as `@aws-sdk/client-firehose`
 * v3 speaks it (`POST /`, `X-Amz-Target: Firehose_20150804.<Operation>`,
 * `Content-Type: application/x-amz-json-1.1`, blobs as base64), delivering to S3.
 *
 * Signatures are not checked: any credentials work.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { S3Client } from '@aws-sdk/client-s3';
import { FIREHOSE } from '@pipeline/limits';
import { FirehoseEngine, type BufferOverride, type FirehoseFaults, type LocalFirehoseStats } from './engine';
import { FirehoseApiError, serializationError, unknownOperation } from './errors';
import { s3ObjectSink } from './object-sink';
import { FirehoseStateFiles } from './state-files';

export interface LocalFirehoseOptions {
  /** Where delivered objects go. */
  s3: S3Client;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: any free port. */
  port?: number;
  /**
   * JSON file holding the delivery-stream definitions, so a later process sees the same streams.
   * Accepted but undelivered records are journaled next to it (`<stateFile>.buffers.ndjson`) and
   * re-buffered on start, so a killed process loses nothing. Without it everything is in memory.
   */
  stateFile?: string;
  /** Caps every stream's BufferingHints (local runs want small buffers). */
  bufferOverride?: BufferOverride;
  /** Epoch ms for arrival times, and so for object keys; Date.now by default. */
  clock?: () => number;
  faults?: FirehoseFaults;
}

export interface LocalFirehose {
  /** `http://<host>:<port>`, for the client's `endpoint` or AWS_ENDPOINT_URL_FIREHOSE. */
  endpoint: string;
  /** Delivers every buffer now; rejects with FirehoseDeliveryError if S3 refused (records kept). */
  flush(): Promise<void>;
  /** Stops accepting requests, flushes, then stops. */
  close(): Promise<void>;
  stats(): LocalFirehoseStats;
  setFaults(faults: FirehoseFaults | undefined): void;
}

const TARGET_PREFIX = 'Firehose_20150804.';
const DEFAULT_REGION = 'us-east-1';
/**
 * Largest request body read. A valid PutRecordBatch carries at most 4 MiB of data, which base64
 * and JSON grow by about a third; anything beyond three times that cannot be a valid request.
 */
export const MAX_REQUEST_BODY_BYTES = 3 * FIREHOSE.maxBytesPerBatch;

/**
 * Starts a Firehose-compatible endpoint delivering to the given S3.
 *
 * @example
 * const firehose = await startLocalFirehose({ s3, stateFile: '.local/firehose.json', bufferOverride: { intervalMs: 500 } });
 * const client = new FirehoseClient({ endpoint: firehose.endpoint, region: 'us-east-1' });
 * // ... CreateDeliveryStream, PutRecordBatch ...
 * await firehose.close(); // delivers what is buffered
 */
export async function startLocalFirehose(options: LocalFirehoseOptions): Promise<LocalFirehose> {
  const engine = new FirehoseEngine({
    sink: s3ObjectSink(options.s3),
    files: options.stateFile === undefined ? undefined : new FirehoseStateFiles(options.stateFile),
    bufferOverride: options.bufferOverride,
    clock: options.clock,
    faults: options.faults,
  });
  await engine.restore();

  const active = new Set<Promise<void>>();
  const server = createServer((request, response) => {
    const handled = handle(engine, request, response).finally(() => active.delete(handled));
    active.add(handled);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  const { address, port } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;

  let closing: Promise<void> | undefined;
  return {
    endpoint: `http://${host}:${port}`,
    flush: () => engine.flush(),
    stats: () => engine.stats(),
    setFaults: (faults) => engine.setFaults(faults),
    close: () => {
      closing ??= (async () => {
        const stopped = new Promise<void>((resolve) => server.close(() => resolve()));
        server.closeIdleConnections();
        await Promise.all([...active]);
        try {
          await engine.flush();
        } finally {
          engine.stop();
          server.closeAllConnections();
          await stopped;
        }
      })();
      return closing;
    },
  };
}

async function handle(engine: FirehoseEngine, request: IncomingMessage, response: ServerResponse): Promise<void> {
  try {
    const body = await readBody(request);
    const target = header(request, 'x-amz-target');
    if (request.method !== 'POST' || target === undefined || !target.startsWith(TARGET_PREFIX))
      throw unknownOperation(target);
    let input: unknown;
    try {
      input = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      throw serializationError('Request body is not valid JSON');
    }
    if (input === null || typeof input !== 'object' || Array.isArray(input))
      throw serializationError('Request body must be a JSON object');
    const output = await engine.handle(target.slice(TARGET_PREFIX.length), input as Record<string, unknown>, {
      region: regionOf(request),
    });
    send(response, 200, output);
  } catch (error) {
    if (error instanceof FirehoseApiError) send(response, error.status, error.toBody());
    else
      send(response, 500, {
        __type: 'InternalFailure',
        message: error instanceof Error ? error.message : String(error),
      });
  }
}

function readBody(request: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on('data', (chunk: Buffer) => {
      size += chunk.length;
      // Keep reading (and discarding) so the client gets an answer rather than a reset.
      if (size <= MAX_REQUEST_BODY_BYTES) chunks.push(chunk);
    });
    request.on('end', () => {
      if (size > MAX_REQUEST_BODY_BYTES) {
        reject(
          new FirehoseApiError(
            'InvalidArgumentException',
            `Request body of ${size} bytes is larger than any valid Firehose request`,
          ),
        );
      } else {
        resolve(Buffer.concat(chunks));
      }
    });
    request.on('error', reject);
  });
}

function header(request: IncomingMessage, name: string): string | undefined {
  const value = request.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** The region the client signed for (`Credential=<key>/<date>/<region>/firehose/aws4_request`), used in ARNs. */
function regionOf(request: IncomingMessage): string {
  const match = /Credential=[^/]+\/\d{8}\/([^/]+)\//.exec(header(request, 'authorization') ?? '');
  return match?.[1] ?? DEFAULT_REGION;
}

function send(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'Content-Type': 'application/x-amz-json-1.1',
    'Content-Length': Buffer.byteLength(text),
    'x-amzn-RequestId': randomUUID(),
  });
  response.end(text);
}
