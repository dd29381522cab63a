import { fork, type ChildProcess } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A local server speaking an AWS API on loopback. */
export interface LocalServer {
  endpoint: string;
  /** The server's process, when it has one of its own. */
  pid?: number;
  close(): Promise<void>;
  /** Why the server stopped on its own, if it did: requests to it fail from then on. */
  failure?(): LocalServerError | undefined;
}

/** The embedded stack's own failures, saying which server, what happened and what to do. */
export class LocalServerError extends Error {
  override readonly name = 'LocalServerError';
}

/** Credentials the local S3 server checks signatures with. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

const NAMES = { kinesis: 'Kinesis server (kinesalite)', s3: 'S3 server (s3rver)' } as const;
let firstFailure: LocalServerError | undefined;

/** The first local server of this process that stopped on its own, if any: the cause behind the errors that follow. */
export function localServerFailure(): LocalServerError | undefined {
  return firstFailure;
}

/** kinesalite's LevelDB refuses a data folder another process holds open. */
const LOCKED = /LOCK: Resource temporarily unavailable|IO error: lock/;
const MAX_HELD_CHARS = 64 * 1024;

async function startServerProcess(
  kind: 'kinesis' | 's3',
  location: string,
): Promise<LocalServer & { locked(): boolean; live(): void }> {
  const child = fork(join(__dirname, 'server-process.js'), [kind, location], {
    execArgv: kind === 's3' ? ['--openssl-legacy-provider'] : [],
    // The servers must not inherit a test runner's or tsx's loaders.
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  // Until the server is known to work, what it prints is held back: a locked data folder is then
  // reported once, in the project's words, not as LevelDB's stack trace.
  let held: string | undefined = '';
  child.stderr?.setEncoding('utf8').on('data', (text: string) => {
    if (held === undefined) process.stderr.write(text);
    else if (held.length < MAX_HELD_CHARS) held += text;
  });
  const locked = () => LOCKED.test(held ?? '');
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code, signal) =>
      reject(
        new LocalServerError(
          `the local ${NAMES[kind]} exited (${signal ?? `code ${code}`}) before it listened${held ? `:\n${held}` : ''}`,
        ),
      ),
    );
  });
  let closing = false;
  let failure: LocalServerError | undefined;
  child.once('exit', (code, signal) => {
    if (closing) return;
    failure = new LocalServerError(
      `the local ${NAMES[kind]} (pid ${child.pid}) stopped unexpectedly (${signal ? `killed by ${signal}` : `exit code ${code}`}): ` +
        'every request to it fails from now on. Run the same command again: the run resumes from what is on disk' +
        (location === '-' ? '' : ` in ${location}`),
    );
    firstFailure ??= failure;
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    pid: child.pid,
    locked,
    live() {
      if (held) process.stderr.write(held);
      held = undefined;
    },
    failure: () => failure,
    async close() {
      closing = true;
      if (!isRunning(child)) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

function isRunning(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null && child.connected;
}

/**
 * Starts a Kinesis API server (kinesalite) in its own process. With `path` its streams persist on
 * disk (LevelDB), so a later process reads the same streams; without it they live in memory.
 */
export async function startLocalKinesis(options: { path?: string } = {}): Promise<LocalServer> {
  if (!options.path) {
    const server = await startServerProcess('kinesis', '-');
    server.live();
    return server;
  }
  await mkdir(options.path, { recursive: true });
  // The data folder stays locked until the last process that used it has gone (a killed run's
  // server exits a moment after it): wait for it, a bounded while.
  for (let attempt = 0; ; attempt++) {
    const server = await startServerProcess('kinesis', options.path);
    if (await answers(server.endpoint)) {
      server.live();
      return server;
    }
    await server.close();
    if (attempt >= LOCK_WAIT_ATTEMPTS)
      throw new LocalServerError(
        `the Kinesis data in ${options.path} is locked by another process${server.locked() ? ' (LevelDB lock)' : ''}: ` +
          'another pipeline command is using the same data folder. Wait for it to finish, or give this one another --data-dir',
      );
    await new Promise((resolve) => setTimeout(resolve, LOCK_WAIT_MS));
  }
}

const LOCK_WAIT_ATTEMPTS = 50;
const LOCK_WAIT_MS = 100;

/** Whether the server answers a ListStreams call (kinesalite opens its data on the first call). */
async function answers(endpoint: string): Promise<boolean> {
  try {
    const response = await fetch(endpoint, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.1',
        'x-amz-target': 'Kinesis_20131202.ListStreams',
        // kinesalite checks that a signature is there, not that it is right.
        'x-amz-date': '20260101T000000Z',
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20260101/us-east-1/kinesis/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: '{}',
    });
    return response.ok;
  } catch {
    return false;
  }
}

/** Starts an S3 API server (s3rver) in its own process; buckets are folders under `directory`. */
export async function startLocalS3(options: { directory: string; buckets?: string[] }): Promise<LocalServer> {
  for (const bucket of options.buckets ?? []) await mkdir(join(options.directory, bucket), { recursive: true });
  await mkdir(options.directory, { recursive: true });
  const server = await startServerProcess('s3', options.directory);
  server.live();
  return server;
}
