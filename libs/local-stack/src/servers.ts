import { mkdir } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import kinesalite from 'kinesalite';
import S3rver from 's3rver';

/** A local server speaking an AWS API on loopback. */
export interface LocalServer {
  endpoint: string;
  close(): Promise<void>;
}

const LOOPBACK = '127.0.0.1';

/**
 * Starts a Kinesis API server. With `path` its streams persist on disk (LevelDB), so a later
 * process reads the same streams; without it they live in memory.
 */
export async function startLocalKinesis(options: { path?: string; port?: number } = {}): Promise<LocalServer> {
  if (options.path) await mkdir(options.path, { recursive: true });
  const server = kinesalite({ path: options.path, createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 100 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, LOOPBACK, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        (server as unknown as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}

/** Credentials the local S3 server checks signatures with. */
export const LOCAL_S3_CREDENTIALS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } as const;

/** Starts an S3 API server whose buckets are folders under `directory`. */
export async function startLocalS3(options: { directory: string; port?: number; buckets?: string[] }): Promise<LocalServer> {
  await mkdir(options.directory, { recursive: true });
  const server = new S3rver({
    address: LOOPBACK,
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    vhostBuckets: false,
    configureBuckets: (options.buckets ?? []).map((name) => ({ name })),
  });
  const { port } = await server.run();
  return {
    endpoint: `http://${LOOPBACK}:${port}`,
    close: async () => {
      (server.httpServer as unknown as { closeAllConnections?: () => void })?.closeAllConnections?.();
      await server.close();
    },
  };
}
