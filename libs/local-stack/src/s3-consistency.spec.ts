import { getJson, putJson } from '@pipeline/object-store';
import { startTestStack, type TestStack } from './testing';

/**
 * S3 is strongly consistent: a GET after a PUT's answer returns the new object, and a GET during a
 * PUT returns the whole old object or the whole new one (Amazon S3 User Guide, "Amazon S3 data
 * consistency model"). The embedded S3 must promise the same, and no more.
 */
describe('the embedded S3: read-after-write consistency', () => {
  let stack: TestStack;
  beforeAll(async () => {
    stack = await startTestStack({ buckets: ['consistency'] });
  });
  afterAll(() => stack.close());

  /** Objects of different lengths, so a torn read is never valid JSON of the right shape. */
  const version = (n: number) => ({ n, padding: 'x'.repeat((n % 7) * 4096) });

  it('returns the object a PUT stored as soon as the PUT has answered', async () => {
    for (let n = 0; n < 50; n++) {
      await putJson(stack.store, 'consistency', 'control.json', version(n));
      expect(await getJson(stack.store, 'consistency', 'control.json')).toEqual(version(n));
    }
  });

  it('never returns part of an object while it is being overwritten', async () => {
    await putJson(stack.store, 'consistency', 'busy.json', version(0));
    for (let n = 1; n < 60; n++) {
      const [, ...seen] = await Promise.all([
        putJson(stack.store, 'consistency', 'busy.json', version(n)),
        getJson<{ n: number }>(stack.store, 'consistency', 'busy.json'),
        getJson<{ n: number }>(stack.store, 'consistency', 'busy.json'),
      ]);
      for (const value of seen) expect([version(n - 1), version(n)]).toContainEqual(value);
    }
  });
});
