import { z } from 'zod';
import { defineJob, PermanentError } from './index';

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
    expect(job.result.parse(await job.transform(input, { id: { run: 'r', slice: 's', pos: 0 } }))).toEqual({
      doubled: 42,
    });
  });

  it('marks failures that retrying will not fix', () => {
    const error = new PermanentError('customer opted out');
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('PermanentError');
  });
});
