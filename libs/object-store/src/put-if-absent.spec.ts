import { type PutObjectCommand, type S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { ConditionalWriteConflictError, countingMemoryStore, s3ObjectStore, type ObjectStore } from './index';

/** An S3 error as the SDK raises it for a status and code. */
const s3Error = (status: number, name: string) =>
  new S3ServiceException({ name, $fault: 'client', $metadata: { httpStatusCode: status }, message: name });

/** An S3 client whose PutObject answers from a script, recording what it was sent. */
function scriptedClient(answers: (Error | undefined)[]) {
  const sent: PutObjectCommand[] = [];
  const client = {
    async send(command: PutObjectCommand) {
      sent.push(command);
      const answer = answers.shift();
      if (answer) throw answer;
      return {};
    },
  } as unknown as S3Client;
  return { client, sent };
}

/** What every ObjectStore must do with putIfAbsent, whatever holds the objects. */
function putIfAbsentRules(name: string, store: () => ObjectStore, bucket: string) {
  describe(`${name}: putIfAbsent`, () => {
    it('writes an absent key and says so', async () => {
      expect(await store().putIfAbsent(bucket, 'claims/a', 'first')).toBe(true);
      expect(Buffer.from((await store().get(bucket, 'claims/a'))!).toString()).toBe('first');
    });

    it('leaves an existing key as it is and says it was there', async () => {
      await store().put(bucket, 'claims/b', 'first');
      expect(await store().putIfAbsent(bucket, 'claims/b', 'second')).toBe(false);
      expect(Buffer.from((await store().get(bucket, 'claims/b'))!).toString()).toBe('first');
    });

    it('lets exactly one of concurrent calls for one key write it', async () => {
      const won = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store().putIfAbsent(bucket, 'claims/raced', `writer ${i}`)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      const winner = won.indexOf(true);
      expect(Buffer.from((await store().get(bucket, 'claims/raced'))!).toString()).toBe(`writer ${winner}`);
    });
  });
}

const memory = countingMemoryStore();
putIfAbsentRules('the in-memory store', () => memory, 'memory-bucket');

describe('the in-memory store', () => {
  it('counts a putIfAbsent as the PUT it stands for, written or not', async () => {
    const store = countingMemoryStore();
    await store.putIfAbsent('b', 'k', 'x');
    await store.putIfAbsent('b', 'k', 'x');
    expect(store.calls.put).toBe(2);
  });
});

describe('on a real S3 server', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['claims-bucket'] });
  });
  afterAll(() => stack.close());
  putIfAbsentRules('the S3 store', () => stack.store, 'claims-bucket');
});

describe('the S3 store: what a conditional PUT is sent and what its answers mean', () => {
  it('sends PutObject with If-None-Match: *', async () => {
    const { client, sent } = scriptedClient([undefined]);
    expect(await s3ObjectStore(client).putIfAbsent('b', 'k', 'x')).toBe(true);
    expect(sent[0].input).toMatchObject({ Bucket: 'b', Key: 'k', IfNoneMatch: '*' });
  });

  it('reads 412 PreconditionFailed as "the key exists"', async () => {
    const { client } = scriptedClient([s3Error(412, 'PreconditionFailed')]);
    expect(await s3ObjectStore(client).putIfAbsent('b', 'k', 'x')).toBe(false);
  });

  it('retries on 409 ConditionalRequestConflict, as the PutObject reference advises, until written or refused', async () => {
    const written = scriptedClient([s3Error(409, 'ConditionalRequestConflict'), undefined]);
    expect(await s3ObjectStore(written.client).putIfAbsent('b', 'k', 'x')).toBe(true);
    expect(written.sent).toHaveLength(2);
    const refused = scriptedClient([s3Error(409, 'ConditionalRequestConflict'), s3Error(412, 'PreconditionFailed')]);
    expect(await s3ObjectStore(refused.client).putIfAbsent('b', 'k', 'x')).toBe(false);
  });

  it('gives up after a bounded number of conflicts, naming the key', async () => {
    const { client, sent } = scriptedClient(
      Array.from({ length: 50 }, () => s3Error(409, 'ConditionalRequestConflict')),
    );
    await expect(s3ObjectStore(client).putIfAbsent('b', 'k', 'x')).rejects.toThrow(ConditionalWriteConflictError);
    expect(sent.length).toBeLessThan(50);
  });

  it('passes any other error on', async () => {
    const { client } = scriptedClient([s3Error(403, 'AccessDenied')]);
    await expect(s3ObjectStore(client).putIfAbsent('b', 'k', 'x')).rejects.toThrow('AccessDenied');
  });
});
