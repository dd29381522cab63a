import { z } from 'zod';
import { defineJob, memoryClaims, PermanentError, transformContext } from './index';

describe('Job', () => {
  it('is defined by one object: source format, input and result schemas, transform', async () => {
    const job = defineJob({
      name: 'double',
      source: { format: 'ndjson' },
      input: z.object({ n: z.number() }),
      result: z.object({ doubled: z.number() }),
      transform: ({ n }) => ({ doubled: n * 2 }),
    });
    const input = job.input.parse({ n: 21 });
    expect(
      job.result.parse(
        await job.transform(input, transformContext({ run: 'r', slice: 's', pos: 0 }, job.name, memoryClaims())),
      ),
    ).toEqual({
      doubled: 42,
    });
  });

  it('marks failures that retrying will not fix', () => {
    const error = new PermanentError('customer opted out');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PermanentError');
  });
});
