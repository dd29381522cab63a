import { s3Error, scriptedClient } from './scripted-s3';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { ConditionalWriteConflictError, countingMemoryStore, s3ObjectStore, type ObjectStore } from './index';

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
