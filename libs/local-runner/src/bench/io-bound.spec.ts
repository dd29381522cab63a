import { compareIoBound } from './io-bound';

describe('I/O-bound comparison', () => {
  it('drives processBatch to a result for every record, one at a time and at the given concurrency', async () => {
    // A short wait and few records: this checks the harness, not the figure (the bench prints that).
    const result = await compareIoBound({ delayMs: 1, concurrency: 4, seconds: 0.01 });
    expect(result).toMatchObject({
      delayMs: 1,
      concurrency: 4,
      sequential: { records: 10 },
      parallel: { records: 40 },
    });
    expect(result.sequential.perSecond).toBeGreaterThan(0);
    expect(result.parallel.perSecond).toBeGreaterThan(0);
  });
});
