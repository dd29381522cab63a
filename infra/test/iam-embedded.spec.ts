import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import {
  functionCredentials,
  identitiesFromTemplates,
  LOCAL_S3_CREDENTIALS,
  startIamGateway,
  startLocalS3,
  type CfnTemplate,
  type IamGateway,
  type LocalIdentity,
  type LocalServer,
  type PolicyDocument,
} from '@pipeline/local-stack';
import { s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { countFailure } from '@pipeline/run-ledger';
import { pipelineNames } from '../src/names';
import { synthPipeline, TEST_ENV, TEST_SCOPE } from './helpers';

const names = pipelineNames('dev');
const LOCAL_BUCKET = 'pipeline-results';
const PROCESSOR = 'pipeline-processor';
const failing = { run: 'r1', slice: 's1', pos: 7 };

/**
 * The processor's policy as it was before each role got exactly its keys: it could read the whole
 * ledger but write only parked records, so counting a record's failures was denied in AWS.
 */
const POLICY_BEFORE: PolicyDocument = {
  Statement: [
    { Effect: 'Allow', Action: 's3:ListBucket', Resource: `arn:aws:s3:::${LOCAL_BUCKET}` },
    { Effect: 'Allow', Action: 's3:GetObject', Resource: `arn:aws:s3:::${LOCAL_BUCKET}/runs/*` },
    { Effect: 'Allow', Action: 's3:PutObject', Resource: `arn:aws:s3:::${LOCAL_BUCKET}/runs/*/parked/processor/*` },
  ],
};

describe('GIVEN the processor’s role as the CDK app synthesizes it, enforced by the embedded stack', () => {
  let dir: string;
  let s3: LocalServer;
  let gateway: IamGateway;
  let identities: Map<string, LocalIdentity>;
  let processorStore: ObjectStore;
  let client: S3Client;
  /** The identities the gateway checks: each test sets the policy it runs under. */
  let current: ReadonlyMap<string, LocalIdentity> = new Map();

  beforeAll(async () => {
    const pipeline = synthPipeline({}, { apps: ['processor'] });
    const templates = [pipeline.templates.shared, pipeline.templates.processor].map((t) => t.toJSON() as CfnTemplate);
    pipeline.cleanup();
    identities = identitiesFromTemplates(
      {
        templates,
        functions: { [PROCESSOR]: names.functions.processor },
        names: { [names.bucket('results', TEST_ENV.account, TEST_ENV.region)]: LOCAL_BUCKET },
      },
      TEST_SCOPE,
    );
    dir = await mkdtemp(join(tmpdir(), 'iam-embedded-'));
    s3 = await startLocalS3({ directory: dir, buckets: [LOCAL_BUCKET] });
    gateway = await startIamGateway({
      service: 's3',
      upstream: s3.endpoint,
      scope: TEST_SCOPE,
      identities: () => current,
    });
    client = new S3Client({
      endpoint: gateway.endpoint,
      region: TEST_ENV.region,
      forcePathStyle: true,
      credentials: functionCredentials(PROCESSOR),
      requestChecksumCalculation: 'WHEN_REQUIRED',
    });
    processorStore = s3ObjectStore(client);
  });
  afterAll(async () => {
    client?.destroy();
    await gateway?.close();
    await s3?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('WHEN the processor counts a record’s failed invocations with the synthesized policy', () => {
    it('THEN each count is read back and rewritten under runs/<run>/failures/', async () => {
      current = identities;

      expect(await countFailure(processorStore, LOCAL_BUCKET, failing, 'timeout')).toBe(1);
      expect(await countFailure(processorStore, LOCAL_BUCKET, failing, 'timeout')).toBe(2);
    });

    it('THEN it still may not write the run’s manifest', async () => {
      current = identities;

      await expect(processorStore.put(LOCAL_BUCKET, LAYOUT.manifestKey('r1'), '{}')).rejects.toMatchObject({
        name: 'AccessDenied',
        $metadata: { httpStatusCode: 403 },
      });
    });
  });

  describe('WHEN it counts them with the policy from before', () => {
    it('THEN S3 refuses the write with AccessDenied naming the action and the key', async () => {
      current = new Map([
        [
          PROCESSOR,
          { principal: `arn:aws:sts::${TEST_ENV.account}:assumed-role/old/${PROCESSOR}`, policies: [POLICY_BEFORE] },
        ],
      ]);
      const other = { ...failing, pos: 8 };

      const counting = countFailure(processorStore, LOCAL_BUCKET, other, 'timeout');

      await expect(counting).rejects.toMatchObject({ name: 'AccessDenied', $metadata: { httpStatusCode: 403 } });
      await expect(counting).rejects.toThrow(
        `not authorized to perform: s3:PutObject on resource: arn:aws:s3:::${LOCAL_BUCKET}/${LAYOUT.failuresKey(other)}`,
      );
    });
  });

  it('THEN the operator’s own credentials are not checked (operator actions are not a function’s calls)', async () => {
    const admin = new S3Client({
      endpoint: gateway.endpoint,
      region: TEST_ENV.region,
      forcePathStyle: true,
      credentials: LOCAL_S3_CREDENTIALS,
    });
    await s3ObjectStore(admin).put(LOCAL_BUCKET, LAYOUT.controlKey('r1'), '{"state":"paused"}');
    admin.destroy();
  });
});
