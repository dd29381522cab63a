import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CreateStreamCommand, KinesisClient, PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { FirehoseClient, PutRecordBatchCommand } from '@aws-sdk/client-firehose';
import { GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_S3_CREDENTIALS, startLocalKinesis, startLocalS3, type LocalServer } from '../servers';
import { startIamGateway, type IamGateway, type LocalIdentity } from './gateway';
import { functionCredentials } from './identities';
import { CallMeter } from './meter';
import type { PolicyDocument } from './policy';

const scope = { partition: 'aws', region: 'us-east-1', accountId: '000000000000' };
const FN = 'pipeline-writer';
const STREAM = 'arn:aws:kinesis:us-east-1:000000000000:stream';
const policy: PolicyDocument = {
  Statement: [
    { Effect: 'Allow', Action: ['s3:GetObject', 's3:PutObject'], Resource: 'arn:aws:s3:::results/runs/*' },
    { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::spill/*' },
    { Effect: 'Allow', Action: 's3:ListBucket', Resource: 'arn:aws:s3:::results' },
    { Effect: 'Deny', Action: 's3:PutObject', Resource: 'arn:aws:s3:::results/runs/*/control.json' },
    { Effect: 'Allow', Action: 'kinesis:PutRecords', Resource: `${STREAM}/allowed` },
  ],
};
const identities = new Map<string, LocalIdentity>([
  [FN, { principal: `arn:aws:sts::000000000000:assumed-role/WriterRole/${FN}`, policies: [policy] }],
]);

describe('the IAM gateway in front of the embedded servers', () => {
  let dir: string;
  const servers: LocalServer[] = [];
  let s3Gateway: IamGateway;
  let kinesisGateway: IamGateway;
  let firehoseGateway: IamGateway;
  const meter = new CallMeter();
  const clientSettings = (endpoint: string, credentials = functionCredentials(FN)) => ({
    endpoint,
    region: scope.region,
    credentials,
    requestHandler: new NodeHttpHandler(),
    maxAttempts: 1,
  });
  let s3: S3Client;
  let kinesis: KinesisClient;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'iam-gateway-'));
    const s3Server = await startLocalS3({ directory: dir, buckets: ['results', 'spill'] });
    const kinesisServer = await startLocalKinesis();
    servers.push(s3Server, kinesisServer);
    s3Gateway = await startIamGateway({
      service: 's3',
      upstream: s3Server.endpoint,
      scope,
      identities: () => identities,
      meter,
    });
    kinesisGateway = await startIamGateway({
      service: 'kinesis',
      upstream: kinesisServer.endpoint,
      scope,
      identities: () => identities,
      meter,
    });
    // Nothing listens upstream: a refused call never gets there.
    firehoseGateway = await startIamGateway({
      service: 'firehose',
      upstream: 'http://127.0.0.1:9',
      scope,
      identities: () => identities,
    });
    servers.push(s3Gateway, kinesisGateway, firehoseGateway);
    s3 = new S3Client({
      ...clientSettings(s3Gateway.endpoint),
      forcePathStyle: true,
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    kinesis = new KinesisClient(clientSettings(kinesisGateway.endpoint));
    const admin = new KinesisClient(clientSettings(kinesisGateway.endpoint, LOCAL_S3_CREDENTIALS));
    for (const name of ['allowed', 'other'])
      await admin.send(new CreateStreamCommand({ StreamName: name, ShardCount: 1 }));
    admin.destroy();
  });
  afterAll(async () => {
    s3?.destroy();
    kinesis?.destroy();
    for (const server of servers.reverse()) await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('S3', () => {
    it('forwards an allowed call unchanged, signature and all', async () => {
      await s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'runs/r1/manifest.json', Body: '{}' }));
      const read = await s3.send(new GetObjectCommand({ Bucket: 'results', Key: 'runs/r1/manifest.json' }));
      expect(await read.Body?.transformToString()).toBe('{}');
    });

    it('answers a call no statement allows with 403 AccessDenied naming the caller, action and resource', async () => {
      const put = s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'collated/x', Body: '{}' }));
      await expect(put).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      await expect(put).rejects.toThrow(
        `User: arn:aws:sts::000000000000:assumed-role/WriterRole/${FN} is not authorized to perform: s3:PutObject on resource: arn:aws:s3:::results/collated/x because no identity-based policy allows the s3:PutObject action`,
      );
    });

    it('refuses what an explicit Deny covers, though an Allow covers it too', async () => {
      const put = s3.send(new PutObjectCommand({ Bucket: 'results', Key: 'runs/r1/control.json', Body: '{}' }));
      await expect(put).rejects.toThrow(/with an explicit deny/);
    });

    it('reads a missing object as NoSuchKey with s3:ListBucket, and as AccessDenied without, as S3 does', async () => {
      await expect(
        s3.send(new GetObjectCommand({ Bucket: 'results', Key: 'runs/r1/missing.json' })),
      ).rejects.toMatchObject({
        name: 'NoSuchKey',
      });
      await expect(s3.send(new GetObjectCommand({ Bucket: 'spill', Key: 'missing.json' }))).rejects.toMatchObject({
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
      await expect(s3.send(new HeadObjectCommand({ Bucket: 'spill', Key: 'missing.json' }))).rejects.toMatchObject({
        $metadata: { httpStatusCode: 403 },
      });
    });

    it('lets the operator’s credentials through unchecked', async () => {
      const admin = new S3Client({ ...clientSettings(s3Gateway.endpoint, LOCAL_S3_CREDENTIALS), forcePathStyle: true });
      await admin.send(new PutObjectCommand({ Bucket: 'results', Key: 'collated/by-operator', Body: 'x' }));
      admin.destroy();
    });
  });

  describe('Kinesis and Firehose', () => {
    const entry = { Data: Buffer.from('x'), PartitionKey: 'p' };

    it('forwards an allowed PutRecords to the stream', async () => {
      const out = await kinesis.send(new PutRecordsCommand({ StreamName: 'allowed', Records: [entry] }));
      expect(out.FailedRecordCount).toBe(0);
    });

    it('answers a refused call with AccessDeniedException, as Kinesis does', async () => {
      const put = kinesis.send(new PutRecordsCommand({ StreamName: 'other', Records: [entry] }));
      await expect(put).rejects.toMatchObject({ name: 'AccessDeniedException', $metadata: { httpStatusCode: 400 } });
      await expect(put).rejects.toThrow(`kinesis:PutRecords on resource: ${STREAM}/other`);
    });

    it('answers a refused Firehose call with AccessDeniedException', async () => {
      const firehose = new FirehoseClient(clientSettings(firehoseGateway.endpoint));
      const put = firehose.send(
        new PutRecordBatchCommand({ DeliveryStreamName: 'delivery', Records: [{ Data: Buffer.from('x') }] }),
      );
      await expect(put).rejects.toMatchObject({ name: 'AccessDeniedException' });
      firehose.destroy();
    });

    it('keeps every refused call for the run’s report', () => {
      expect(kinesisGateway.denied()).toEqual([
        expect.objectContaining({ accessKeyId: FN, action: 'kinesis:PutRecords', resource: `${STREAM}/other` }),
      ]);
    });
  });

  describe('the meter, for the run’s cost report', () => {
    const principal = `arn:aws:sts::000000000000:assumed-role/WriterRole/${FN}`;

    it('counts each allowed call once by principal and action, and neither refused calls nor the operator’s', () => {
      const { calls } = meter.read();
      expect(Object.keys(calls)).toEqual([principal]);
      // S3: the manifest put, its read, and the two reads of missing objects S3 answered (NoSuchKey, and
      // the 403 a caller without s3:ListBucket gets, which S3 still bills as a request).
      expect(calls[principal]).toEqual({
        's3:PutObject': 1,
        's3:GetObject': 4,
        'kinesis:PutRecords': 1,
      });
    });

    it('sizes every record put as its data plus its partition key, in started KiB', async () => {
      await kinesis.send(
        new PutRecordsCommand({
          StreamName: 'allowed',
          Records: [
            { Data: Buffer.alloc(1024 - 1), PartitionKey: 'p' },
            { Data: Buffer.alloc(1024), PartitionKey: 'p' },
          ],
        }),
      );
      expect(meter.read().puts['kinesis:PutRecords']).toEqual({
        records: 3,
        bytes: 2 + 1024 + 1025,
        byStartedKiB: { 1: 2, 2: 1 },
      });
    });
  });
});
