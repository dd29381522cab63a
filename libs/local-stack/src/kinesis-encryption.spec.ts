import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  KinesisClient,
  StartStreamEncryptionCommand,
} from '@aws-sdk/client-kinesis';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { KINESIS } from '@pipeline/limits';
import { type LocalServer, startLocalKinesis } from './servers';

describe('the embedded Kinesis: server-side encryption (StartStreamEncryption), which kinesalite lacks', () => {
  let server: LocalServer;
  let kinesis: KinesisClient;

  beforeAll(async () => {
    server = await startLocalKinesis();
    kinesis = new KinesisClient({
      endpoint: server.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
      requestHandler: new NodeHttpHandler(),
    });
  });
  afterAll(async () => {
    kinesis.destroy();
    await server.close();
  });

  const summary = async (name: string) =>
    (await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }))).StreamDescriptionSummary;

  it('describes a new stream as unencrypted, and as KMS with its key once encryption is started', async () => {
    await kinesis.send(new CreateStreamCommand({ StreamName: 'enc', ShardCount: 1 }));
    expect(await summary('enc')).toMatchObject({ StreamStatus: 'ACTIVE', EncryptionType: 'NONE' });
    await kinesis.send(
      new StartStreamEncryptionCommand({ StreamName: 'enc', EncryptionType: 'KMS', KeyId: KINESIS.managedKeyAlias }),
    );
    expect(await summary('enc')).toMatchObject({ EncryptionType: 'KMS', KeyId: KINESIS.managedKeyAlias });
  });

  it('refuses a stream that does not exist with ResourceNotFoundException', async () => {
    await expect(
      kinesis.send(
        new StartStreamEncryptionCommand({
          StreamName: 'missing',
          EncryptionType: 'KMS',
          KeyId: KINESIS.managedKeyAlias,
        }),
      ),
    ).rejects.toMatchObject({ name: 'ResourceNotFoundException' });
  });
});
