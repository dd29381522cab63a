import type { ExampleDataOptions } from '@pipeline/example-job';

/** About 1 KB rows (envelopes of about 1.1 KB), no spills or bad rows: the steady state a benchmark should measure. */
export const benchData = (records: number): ExampleDataOptions => ({
  records,
  recordBytes: 1_000,
  largeEvery: 0,
  malformedEvery: 0,
  invalidEvery: 0,
  rejectedEvery: 0,
});
