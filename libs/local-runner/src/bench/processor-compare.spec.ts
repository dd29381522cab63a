import { EVENT_SOURCE_MAPPING, MiB } from '@pipeline/limits';
import { compareProcessors, median } from './processor-compare';
import { toEvents } from './memory';

describe('processor comparison', () => {
  it('drives processBatch, Powertools (when installed), the plain loop and the floor to a result for every envelope, each in processes of its own', async () => {
    const result = await compareProcessors({ envelopes: 300, rounds: 2, processes: 2 });
    expect(result.envelopes).toBe(300);
    expect(result.records).toBeLessThan(result.envelopes); // packed, as the reader packs them
    const names = result.contenders.map((c) => c.name);
    expect(names).toEqual(
      result.skipped.length
        ? ['processBatch', 'plain loop', 'floor']
        : ['processBatch', 'Powertools', 'plain loop', 'floor'],
    );
    for (const c of result.contenders) {
      expect(c.results).toBe(300);
      expect(c.rounds).toHaveLength(4); // 2 passes in each of 2 processes
      expect(c.perProcess).toHaveLength(2);
      expect(c.micros).toBeGreaterThan(0);
      expect(c.firstPass).toBeGreaterThan(0); // the cold pass, reported apart from the measured ones
    }
  }, 120_000);

  it('fails a floor that is handed records its run did not seal', async () => {
    const { floorContender, readerEvents } = await import('./processor-contenders');
    const { memoryObjectStore, asFetched, toEvents } = await import('./memory');
    const { records } = await readerEvents(50, memoryObjectStore());
    const floor = floorContender('0'.repeat(64)); // not the run's key
    await expect(floor.handle(toEvents(asFetched(records), 100)[0])).rejects.toThrow(/without a valid seal/);
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
