import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, type S3ServiceException } from '@aws-sdk/client-s3';
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

/**
 * PutObject's If-Match (Amazon S3 User Guide, "How to prevent overwrites if the object has changed"):
 * the object is written only if its ETag is the one given, else 412 PreconditionFailed; with no
 * object under the key, 404 NoSuchKey. A compare-and-swap: of writers that read one ETag, one wins.
 */
describe('the embedded S3: conditional writes (If-Match on PutObject)', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['swapped'] });
  });
  afterAll(() => stack.close());

  const put = async (key: string, body: string, ifMatch?: string) =>
    (await stack.s3.send(new PutObjectCommand({ Bucket: 'swapped', Key: key, Body: body, IfMatch: ifMatch }))).ETag;
  const get = (key: string) => stack.s3.send(new GetObjectCommand({ Bucket: 'swapped', Key: key }));
  const read = async (key: string) => (await get(key)).Body!.transformToString();
  const refusal = (call: Promise<unknown>) =>
    call.then(
      () => 'written',
      (error: S3ServiceException) => `${error.$metadata.httpStatusCode} ${error.name}`,
    );

  it('overwrites the object whose ETag it was given, as GetObject and PutObject answer it', async () => {
    const first = await put('mark', 'first');
    expect((await get('mark')).ETag).toBe(first);
    expect(await refusal(put('mark', 'second', first))).toBe('written');
    expect(await read('mark')).toBe('second');
  });

  it('answers 412 PreconditionFailed to a stale ETag and leaves the object as it was', async () => {
    const stale = await put('changed', 'first');
    await put('changed', 'second');
    expect(await refusal(put('changed', 'third', stale))).toBe('412 PreconditionFailed');
    expect(await read('changed')).toBe('second');
  });

  it('answers 404 NoSuchKey when no object has the key, writing nothing', async () => {
    const etag = await put('gone', 'first');
    await stack.s3.send(new DeleteObjectCommand({ Bucket: 'swapped', Key: 'gone' }));
    expect(await refusal(put('gone', 'second', etag))).toBe('404 NoSuchKey');
    expect(await refusal(get('gone'))).toBe('404 NoSuchKey');
  });

  it('lets exactly one of concurrent PUTs that read one ETag write; the others get 412', async () => {
    for (let round = 0; round < 10; round++) {
      const key = `swapped-${round}`;
      const read = await put(key, 'mark');
      const answers = await Promise.all(Array.from({ length: 6 }, (_, i) => refusal(put(key, `sweep ${i}`, read))));
      expect(answers.filter((a) => a === 'written')).toHaveLength(1);
      expect(answers.filter((a) => a === '412 PreconditionFailed')).toHaveLength(5);
    }
  });

  it('refuses If-Match: * (not an ETag) with 501 NotImplemented, writing nothing', async () => {
    await put('star', 'first');
    expect(await refusal(put('star', 'second', '*'))).toBe('501 NotImplemented');
    expect(await read('star')).toBe('first');
  });
});
