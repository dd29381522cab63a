import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { ListStreamsCommand } from '@aws-sdk/client-kinesis';
import { EndpointError, explainEndpointFailure, kinesisClient, s3Client } from './index';

describe('AWS clients from the standard settings', () => {
  it('addresses S3 by path when a custom endpoint is set (emulators serve buckets by path)', async () => {
    const client = s3Client({ AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:9000' });
    expect(await client.config.forcePathStyle).toBe(true);
  });

  it('addresses S3 by host name on AWS', async () => {
    expect(await s3Client({}).config.forcePathStyle).toBe(false);
  });

  it('talks HTTP/1.1 to Kinesis, which a plain http:// endpoint needs', () => {
    expect(kinesisClient().config.requestHandler.constructor.name).toBe('NodeHttpHandler');
  });
});

describe('a call that cannot reach its service', () => {
  /** A loopback port nothing listens on: bound, then released. */
  async function closedPort(): Promise<number> {
    const server = createServer();
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const { port } = server.address() as AddressInfo;
    await new Promise((done) => server.close(done));
    return port;
  }

  it('fails with an error naming the service, the endpoint and the variable to check', async () => {
    const endpoint = `http://127.0.0.1:${await closedPort()}`;
    const env = { AWS_ENDPOINT_URL_KINESIS: endpoint, AWS_REGION: 'us-east-1' };
    const saved = { ...process.env };
    Object.assign(process.env, env, { AWS_ACCESS_KEY_ID: 'x', AWS_SECRET_ACCESS_KEY: 'y', AWS_MAX_ATTEMPTS: '1' });
    try {
      const client = kinesisClient(env);
      const error = await client.send(new ListStreamsCommand({})).catch((e: unknown) => e);
      client.destroy();

      expect(error).toBeInstanceOf(EndpointError);
      expect((error as Error).message).toBe(
        `Kinesis at ${endpoint} is unreachable (ECONNREFUSED): check that a server listens there, or unset AWS_ENDPOINT_URL_KINESIS to use the embedded stack`,
      );
    } finally {
      process.env = saved;
    }
  });

  it('explains missing credentials, naming the service and where it is', () => {
    const missing = Object.assign(new Error('Could not load credentials from any providers'), {
      name: 'CredentialsProviderError',
    });
    const error = explainEndpointFailure('S3', missing, { AWS_ENDPOINT_URL: 'http://localhost:4566' });

    expect(error).toBeInstanceOf(EndpointError);
    expect((error as Error).message).toMatch(/^S3 at http:\/\/localhost:4566 needs credentials and none were found/);
  });

  it('passes an error the service returned through as it is', () => {
    const denied = Object.assign(new Error('denied'), { name: 'AccessDeniedException' });

    expect(explainEndpointFailure('FIREHOSE', denied, {})).toBe(denied);
  });
});
