import { EVENT_SOURCE_MAPPING, MiB } from '@pipeline/limits';
import { compareProcessors, median } from './processor-compare';
import { toEvents } from './memory';

describe('processor comparison', () => {
  it('drives processBatch, Powertools (when installed) and the plain loop to a result for every envelope', async () => {
    const result = await compareProcessors({ envelopes: 300, rounds: 1 });
    expect(result.envelopes).toBe(300);
    expect(result.records).toBeLessThan(result.envelopes); // packed, as the reader packs them
    const names = result.contenders.map((c) => c.name);
    expect(names).toEqual(
      result.skipped.length ? ['processBatch', 'plain loop'] : ['processBatch', 'Powertools', 'plain loop'],
    );
    for (const c of result.contenders) {
      expect(c.results).toBe(300);
      expect(c.micros).toBeGreaterThan(0);
    }
  });

  it('cuts events as the event source mapping does: batch size, then the invoke payload', () => {
    const record = (i: number, bytes: number) => ({
      sequenceNumber: String(i),
      partitionKey: 'k',
      data: new Uint8Array(bytes),
    });
    expect(
      toEvents(
        [0, 1, 2, 3, 4].map((i) => record(i, 10)),
        2,
      ).map((e) => e.Records.length),
    ).toEqual([2, 2, 1]);
    // 1 MiB of data is about 1.33 MiB of base64: four fit in the 6 MB payload, a fifth does not.
    const big = toEvents(
      [0, 1, 2, 3, 4, 5].map((i) => record(i, MiB)),
      500,
    );
    expect(big.map((e) => e.Records.length)).toEqual([4, 2]);
    for (const event of big)
      expect(Buffer.byteLength(JSON.stringify(event))).toBeLessThanOrEqual(EVENT_SOURCE_MAPPING.maxInvokePayloadBytes);
  });

  it('takes the median of the passes', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
  });
});
