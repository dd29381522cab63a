import { S3Client } from '@aws-sdk/client-s3';
import { evaluate, functionCredentials, type LocalIdentity } from '@pipeline/local-stack';
import { job as activeJob } from '@pipeline/active-job';
import { s3ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { localIdentities, synthesizedRoles } from './iam';
import { LOCAL_FUNCTIONS, LOCAL_RESOURCES, LocalPipeline } from './local-pipeline';
import { tempDataDir } from './testing';

const REGION = 'us-east-1';
const s3Object = (bucket: string, key: string) => `arn:aws:s3:::${bucket}/${key}`;
const stream = (name: string) => `arn:aws:kinesis:${REGION}:000000000000:stream/${name}`;
const allowed = (identity: LocalIdentity | undefined, action: string, resource: string) =>
  evaluate(identity?.policies ?? [], { action, resource }).allowed;

describe('IAM on the embedded stack', () => {
  describe('each local function’s identity, from the roles the CDK app synthesizes', () => {
    let identities: Map<string, LocalIdentity>;
    beforeAll(async () => {
      identities = localIdentities(
        await synthesizedRoles(),
        LOCAL_FUNCTIONS,
        LOCAL_RESOURCES,
        REGION,
        'pipeline-delivery',
      );
    }, 120_000);

    it('is known by the function’s local name; the local Firehose has its delivery stream’s', () => {
      expect([...identities.keys()].sort()).toEqual([...Object.values(LOCAL_FUNCTIONS), 'pipeline-delivery'].sort());
    });

    it('lets the local Firehose write its delivery and error prefixes only, as its delivery role does', () => {
      const delivery = identities.get('pipeline-delivery');
      const results = LOCAL_RESOURCES.resultsBucket;

      expect(allowed(delivery, 's3:PutObject', s3Object(results, `${LAYOUT.resultsPrefix('r1')}x.gz`))).toBe(true);
      expect(allowed(delivery, 's3:PutObject', s3Object(results, `${LAYOUT.deliveryErrorsPrefix}x`))).toBe(true);
      expect(allowed(delivery, 's3:PutObject', s3Object(results, LAYOUT.completeKey('r1')))).toBe(false);
    });

    it('carries its deployed role’s policies, renamed to the local streams, buckets and delivery stream', () => {
      const reader = identities.get(LOCAL_FUNCTIONS.reader);
      const processor = identities.get(LOCAL_FUNCTIONS.processor);
      const writer = identities.get(LOCAL_FUNCTIONS.writer);
      const failures = LAYOUT.failuresKey({ run: 'r1', slice: 's1', pos: 3 });

      expect(allowed(reader, 'kinesis:PutRecords', stream(LOCAL_RESOURCES.recordsStream))).toBe(true);
      expect(allowed(reader, 'kinesis:PutRecords', stream(LOCAL_RESOURCES.resultsStream))).toBe(false);
      expect(allowed(reader, 's3:GetObject', s3Object(LOCAL_RESOURCES.sourceBucket, 'example/part-0.ndjson'))).toBe(
        true,
      );
      expect(allowed(processor, 's3:PutObject', s3Object(LOCAL_RESOURCES.resultsBucket, failures))).toBe(true);
      expect(
        allowed(processor, 's3:PutObject', s3Object(LOCAL_RESOURCES.resultsBucket, LAYOUT.manifestKey('r1'))),
      ).toBe(false);
      expect(
        allowed(
          writer,
          'firehose:PutRecordBatch',
          `arn:aws:firehose:${REGION}:000000000000:deliverystream/${LOCAL_RESOURCES.deliveryStream}`,
        ),
      ).toBe(true);
    });

    it('is synthesized once and then read from the cache', async () => {
      expect(await synthesizedRoles()).toBe(await synthesizedRoles());
    });

    it('lets the processor claim context.once side effects of the active job only', () => {
      const processor = identities.get(LOCAL_FUNCTIONS.processor);
      const claim = (job: string) => s3Object(LOCAL_RESOURCES.resultsBucket, LAYOUT.onceClaimKey(job, 'r1/s1/3'));
      expect(allowed(processor, 's3:GetObject', claim(activeJob.name))).toBe(true);
      expect(allowed(processor, 's3:GetObject', claim('weekly-email'))).toBe(false);
    });
  });

  it('grants the processor the claims of the job a local pipeline runs (--job), and not the active job’s', async () => {
    const processor = localIdentities(
      await synthesizedRoles(process.env, 'weekly-email'),
      LOCAL_FUNCTIONS,
      LOCAL_RESOURCES,
      REGION,
    ).get(LOCAL_FUNCTIONS.processor);
    const claim = (job: string) => s3Object(LOCAL_RESOURCES.resultsBucket, LAYOUT.onceClaimKey(job, 'r1/s1/3'));
    expect(allowed(processor, 's3:GetObject', claim('weekly-email'))).toBe(true);
    expect(allowed(processor, 's3:GetObject', claim(activeJob.name))).toBe(false);
  }, 120_000);

  describe('a local pipeline', () => {
    it('checks every call a function signs by default, and lets the operator’s calls through', async () => {
      const data = await tempDataDir();
      const pipeline = await LocalPipeline.start({ dataDir: data.dir, streamsInMemory: true });
      const asProcessor = new S3Client({
        endpoint: process.env.AWS_ENDPOINT_URL_S3,
        region: REGION,
        forcePathStyle: true,
        credentials: functionCredentials(LOCAL_FUNCTIONS.processor),
      });
      try {
        const manifest = LAYOUT.manifestKey('r1');

        await expect(
          s3ObjectStore(asProcessor).put(LOCAL_RESOURCES.resultsBucket, manifest, '{}'),
        ).rejects.toMatchObject({
          name: 'AccessDenied',
        });
        await pipeline.store.put(LOCAL_RESOURCES.resultsBucket, manifest, '{}');

        expect(pipeline.deniedCalls()).toEqual([
          expect.objectContaining({
            accessKeyId: LOCAL_FUNCTIONS.processor,
            action: 's3:PutObject',
            resource: s3Object(LOCAL_RESOURCES.resultsBucket, manifest),
          }),
        ]);
      } finally {
        asProcessor.destroy();
        await pipeline.stop();
        await data.remove();
      }
    }, 120_000);

    it('checks nothing when started with iam: false', async () => {
      const data = await tempDataDir();
      const pipeline = await LocalPipeline.start({ dataDir: data.dir, streamsInMemory: true, iam: false });
      try {
        expect(pipeline.iam).toBeUndefined();
        expect(pipeline.deniedCalls()).toEqual([]);
      } finally {
        await pipeline.stop();
        await data.remove();
      }
    });
  });
});
