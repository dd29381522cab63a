import { exampleRow } from '@pipeline/example-job';
import { job } from './index';

describe('the active job', () => {
  it('reads the rows of the data set it is shipped with', () => {
    expect(job.source).toEqual({ format: 'ndjson' });
    expect(job.input.safeParse(JSON.parse(exampleRow(0, { records: 1 }))).success).toBe(true);
  });
});
