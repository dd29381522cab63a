import { s3Error, scriptedClient } from './scripted-s3';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import {
  ConditionalWriteConflictError,
  countingMemoryStore,
  type EtagWrites,
  type ObjectStore,
  s3ObjectStore,
} from './index';

const text = (bytes: Uint8Array | undefined) => (bytes === undefined ? undefined : Buffer.from(bytes).toString());

/** What every store with EtagWrites must do, whatever holds the objects. */
function putIfMatchRules(name: string, store: () => ObjectStore & EtagWrites, bucket: string) {
  describe(`${name}: getWithEtag and putIfMatch`, () => {
    it('reads an object with its ETag, and nothing for a missing key', async () => {
      await store().put(bucket, 'marks/a', 'first');
      const found = await store().getWithEtag(bucket, 'marks/a');
      expect(text(found?.bytes)).toBe('first');
      expect(found?.etag).toMatch(/^".+"$/);
      expect(await store().getWithEtag(bucket, 'marks/none')).toBeUndefined();
    });

    it('overwrites the object as it was read, and says so', async () => {
      await store().put(bucket, 'marks/b', 'first');
      const { etag } = (await store().getWithEtag(bucket, 'marks/b'))!;
      expect(await store().putIfMatch(bucket, 'marks/b', 'second', etag)).toBe(true);
      expect(text(await store().get(bucket, 'marks/b'))).toBe('second');
    });

    it('leaves an object changed since it was read as it is, and says it was not written', async () => {
      await store().put(bucket, 'marks/c', 'first');
      const { etag } = (await store().getWithEtag(bucket, 'marks/c'))!;
      await store().put(bucket, 'marks/c', 'changed');
      expect(await store().putIfMatch(bucket, 'marks/c', 'second', etag)).toBe(false);
      expect(text(await store().get(bucket, 'marks/c'))).toBe('changed');
    });

    it('writes nothing when the object is gone', async () => {
      await store().put(bucket, 'marks/d', 'first');
      const { etag } = (await store().getWithEtag(bucket, 'marks/d'))!;
      await store().delete(bucket, 'marks/d');
      expect(await store().putIfMatch(bucket, 'marks/d', 'second', etag)).toBe(false);
      expect(await store().get(bucket, 'marks/d')).toBeUndefined();
    });

    it('lets exactly one of concurrent calls given one ETag write', async () => {
      await store().put(bucket, 'marks/raced', 'stale');
      const { etag } = (await store().getWithEtag(bucket, 'marks/raced'))!;
      const won = await Promise.all(
        Array.from({ length: 6 }, (_, i) => store().putIfMatch(bucket, 'marks/raced', `sweep ${i}`, etag)),
      );
      expect(won.filter(Boolean)).toHaveLength(1);
      expect(text(await store().get(bucket, 'marks/raced'))).toBe(`sweep ${won.indexOf(true)}`);
    });
  });
}

const memory = countingMemoryStore();
putIfMatchRules('the in-memory store', () => memory, 'memory-bucket');

describe('on a real S3 server', () => {
  let stack: TestStack;
  let store: ObjectStore & EtagWrites;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['marks-bucket'] });
    store = s3ObjectStore(stack.s3);
  });
  afterAll(() => stack.close());
  putIfMatchRules('the S3 store', () => store, 'marks-bucket');
});

describe('the S3 store: what a compare-and-swap PUT is sent and what its answers mean', () => {
  it('sends PutObject with If-Match: the ETag it was given', async () => {
    const { client, sent } = scriptedClient([undefined]);
    expect(await s3ObjectStore(client).putIfMatch('b', 'k', 'x', '"abc"')).toBe(true);
    expect(sent[0].input).toMatchObject({ Bucket: 'b', Key: 'k', IfMatch: '"abc"' });
    expect(sent[0].input.IfNoneMatch).toBeUndefined();
  });

  it('reads 412 PreconditionFailed and 404 NoSuchKey as "not written"', async () => {
    for (const answer of [s3Error(412, 'PreconditionFailed'), s3Error(404, 'NoSuchKey')]) {
      const { client } = scriptedClient([answer]);
      expect(await s3ObjectStore(client).putIfMatch('b', 'k', 'x', '"abc"')).toBe(false);
    }
  });

  it('retries on 409 ConditionalRequestConflict with the same ETag, a bounded number of times', async () => {
    const refused = scriptedClient([s3Error(409, 'ConditionalRequestConflict'), s3Error(412, 'PreconditionFailed')]);
    expect(await s3ObjectStore(refused.client).putIfMatch('b', 'k', 'x', '"abc"')).toBe(false);
    expect(refused.sent.map((c) => c.input.IfMatch)).toEqual(['"abc"', '"abc"']);
    const { client, sent } = scriptedClient(
      Array.from({ length: 50 }, () => s3Error(409, 'ConditionalRequestConflict')),
    );
    await expect(s3ObjectStore(client).putIfMatch('b', 'k', 'x', '"abc"')).rejects.toThrow(
      ConditionalWriteConflictError,
    );
    expect(sent.length).toBeLessThan(50);
  });

  it('passes any other error on', async () => {
    const { client } = scriptedClient([s3Error(403, 'AccessDenied')]);
    await expect(s3ObjectStore(client).putIfMatch('b', 'k', 'x', '"abc"')).rejects.toThrow('AccessDenied');
  });
});
