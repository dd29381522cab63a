import { fork } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';

/** A local server speaking an AWS API on loopback. */
export interface LocalServer {
  endpoint: string;
  close(): Promise<void>;
}

/** Credentials the local S3 server checks signatures with. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

async function startServerProcess(kind: 'kinesis' | 's3', location: string): Promise<LocalServer> {
  const child = fork(join(__dirname, 'server-process.js'), [kind, location], {
    execArgv: kind === 's3' ? ['--openssl-legacy-provider'] : [],
    // The servers must not inherit a test runner's or tsx's loaders.
    env: { ...process.env, NODE_OPTIONS: '' },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  const port = await new Promise<number>((resolve, reject) => {
    child.once('message', (message) => resolve((message as { port: number }).port));
    child.once('exit', (code) =>
      reject(new Error(`the local ${kind} server exited with code ${code} before it listened`)),
    );
  });
  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.disconnect();
      await exited;
    },
  };
}

/**
 * Starts a Kinesis API server (kinesalite) in its own process. With `path` its streams persist on
 * disk (LevelDB), so a later process reads the same streams; without it they live in memory.
 */
export async function startLocalKinesis(options: { path?: string } = {}): Promise<LocalServer> {
  if (!options.path) return startServerProcess('kinesis', '-');
  await mkdir(options.path, { recursive: true });
  // The data folder stays locked until the last process that used it has gone (a killed run's
  // server exits a moment after it): wait for it, a bounded while.
  for (let attempt = 0; ; attempt++) {
    const server = await startServerProcess('kinesis', options.path);
    if (await answers(server.endpoint)) return server;
    await server.close();
    if (attempt >= LOCK_WAIT_ATTEMPTS)
      throw new Error(`the Kinesis data in ${options.path} stays locked by another process`);
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
  return startServerProcess('s3', options.directory);
}
