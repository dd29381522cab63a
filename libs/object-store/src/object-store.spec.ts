import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { getJson, putJson } from './index';

describe('ObjectStore on a real S3 server', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['store-bucket'] });
  });
  afterAll(() => stack.close());

  it('reads back what it wrote, and undefined for a key that does not exist', async () => {
    await putJson(stack.store, 'store-bucket', 'a/b.json', { x: 1 });
    expect(await getJson(stack.store, 'store-bucket', 'a/b.json')).toEqual({ x: 1 });
    expect(await stack.store.get('store-bucket', 'a/missing.json')).toBeUndefined();
  });

  it('lists every object under a prefix across pages, in key order', async () => {
    const keys = Array.from({ length: 1_005 }, (_, i) => `many/${String(i).padStart(4, '0')}`);
    for (let i = 0; i < keys.length; i += 50)
      await Promise.all(keys.slice(i, i + 50).map((k) => stack.store.put('store-bucket', k, 'x')));
    const listed: string[] = [];
    for await (const object of stack.store.list('store-bucket', 'many/')) listed.push(object.key);
    expect(listed).toEqual(keys);
  });

  it('reads an object whole only when it is within a bound, and otherwise gives its size alone', async () => {
    await stack.store.put('store-bucket', 'sized', 'x'.repeat(100));
    const within = await stack.store.getAtMost('store-bucket', 'sized', 100);
    expect(within?.size).toBe(100);
    expect(Buffer.from(within!.bytes!).toString()).toBe('x'.repeat(100));
    expect(await stack.store.getAtMost('store-bucket', 'sized', 99)).toEqual({ size: 100 });
    expect(await stack.store.getAtMost('store-bucket', 'not-there', 99)).toBeUndefined();
  });

  it('deletes', async () => {
    await stack.store.put('store-bucket', 'gone', 'x');
    await stack.store.delete('store-bucket', 'gone');
    expect(await stack.store.get('store-bucket', 'gone')).toBeUndefined();
  });
});

describe('ObjectStore.putFile', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['file-bucket'] });
  });
  afterAll(() => stack.close());

  it('uploads a file as it is read', async () => {
    const { mkdtemp, writeFile, rm } = await import('node:fs/promises');
    const { join } = await import('node:path');
    const { tmpdir } = await import('node:os');
    const dir = await mkdtemp(join(tmpdir(), 'put-file-'));
    const path = join(dir, 'part');
    const text = 'line\n'.repeat(100_000);
    await writeFile(path, text);
    await stack.store.putFile('file-bucket', 'part.ndjson', path);
    expect(Buffer.from((await stack.store.get('file-bucket', 'part.ndjson'))!).toString()).toBe(text);
    await rm(dir, { recursive: true });
  });
});
