import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { startLocalS3 } from '@pipeline/local-stack';
import { runJob } from './run-job';
import { E2E_PIPELINE, tempDataDir } from './testing';

/**
 * The user points one service at an endpoint of their own; the others stay embedded. Here "their"
 * S3 is another S3 API server on loopback, reached with credentials of their own.
 */
describe('GIVEN AWS_ENDPOINT_URL_S3 names an S3 endpoint of the user’s, and no other endpoint is set', () => {
  jest.setTimeout(180_000);
  const saved = { ...process.env };
  afterEach(() => {
    process.env = { ...saved };
  });

  it('THEN the run uses that S3 for every bucket, and embeds Kinesis and Firehose', async () => {
    const data = await tempDataDir();
    const theirs = await startLocalS3({ directory: join(data.dir, 'their-s3') });
    try {
      for (const name of ['AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_KINESIS', 'AWS_ENDPOINT_URL_FIREHOSE'])
        delete process.env[name];
      Object.assign(process.env, {
        AWS_ENDPOINT_URL_S3: theirs.endpoint,
        AWS_ACCESS_KEY_ID: 'their-key',
        AWS_SECRET_ACCESS_KEY: 'their-secret',
        AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
      });

      const report = await runJob({
        ...E2E_PIPELINE,
        dataDir: join(data.dir, 'pipeline'),
        runId: 'run-their-s3',
        data: { records: 300 },
      });

      expect(report).toMatchObject({ complete: true, conserved: true, read: 300 });
      expect(report.outputDir).toBeUndefined();
      // Their server holds the buckets; the embedded stack started no S3 of its own.
      expect(existsSync(join(data.dir, 'their-s3', 'pipeline-results', 'runs', 'run-their-s3'))).toBe(true);
      expect(existsSync(join(data.dir, 'pipeline', 's3'))).toBe(false);
      expect(existsSync(join(data.dir, 'pipeline', 'kinesis'))).toBe(true);
      // The user's endpoint and credentials are as they set them.
      expect(process.env.AWS_ENDPOINT_URL_S3).toBe(theirs.endpoint);
      expect(process.env.AWS_ACCESS_KEY_ID).toBe('their-key');
    } finally {
      await theirs.close();
      await data.remove();
    }
  });
});
