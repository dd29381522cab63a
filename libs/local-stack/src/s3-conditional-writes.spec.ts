import { GetObjectCommand, PutObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
import { startTestStack, type TestStack } from './testing';

/**
 * S3 conditional writes (Amazon S3 User Guide, "How to prevent object overwrites with conditional
 * writes"; PutObject's If-None-Match): `If-None-Match: *` writes only a key that does not exist,
 * else 412 PreconditionFailed; the header expects '*' and nothing else. s3rver ignores the header
 * and overwrites: the embedded S3 must refuse as S3 does, or a put-if-absent always wins locally.
 */
describe('the embedded S3: conditional writes (If-None-Match on PutObject)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['conditional'] });
  });
  afterAll(() => stack.close());

  const put = (key: string, body: string, ifNoneMatch?: string) =>
    stack.s3.send(new PutObjectCommand({ Bucket: 'conditional', Key: key, Body: body, IfNoneMatch: ifNoneMatch }));
  const read = async (key: string) =>
    (await stack.s3.send(new GetObjectCommand({ Bucket: 'conditional', Key: key }))).Body!.transformToString();
  /** The status and code a failed call answered. */
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => 'written',
      (error: S3ServiceException) => `${error.$metadata.httpStatusCode} ${error.name}`,
    );

  it('writes a key that does not exist', async () => {
    await put('new', 'first', '*');
    expect(await read('new')).toBe('first');
  });

  it('answers 412 PreconditionFailed when the key exists, and leaves the object as it was', async () => {
    await put('taken', 'first');
    expect(await refusal(put('taken', 'second', '*'))).toBe('412 PreconditionFailed');
    expect(await read('taken')).toBe('first');
  });

  it('still overwrites without the header', async () => {
    await put('plain', 'first');
    await put('plain', 'second');
    expect(await read('plain')).toBe('second');
  });

  it('lets exactly one of concurrent conditional PUTs of one key write it; the others get 412', async () => {
    for (let round = 0; round < 10; round++) {
      const key = `raced-${round}`;
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => refusal(put(key, `writer ${i}`, '*'))));
      expect(answers.filter((a) => a === 'written')).toHaveLength(1);
      expect(answers.filter((a) => a === '412 PreconditionFailed')).toHaveLength(5);
      expect(await read(key)).toBe(`writer ${answers.indexOf('written')}`);
    }
  });

  it('refuses an If-None-Match other than * (an ETag) with 501 NotImplemented, writing nothing', async () => {
    await put('etag', 'first');
    expect(await refusal(put('etag', 'second', '"9b2cf535f27731c974343645a3985328"'))).toBe('501 NotImplemented');
    expect(await refusal(put('etag-new', 'x', '"9b2cf535f27731c974343645a3985328"'))).toBe('501 NotImplemented');
    expect(await read('etag')).toBe('first');
  });
});
