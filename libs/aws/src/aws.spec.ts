import { kinesisClient, s3Client } from './index';

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
