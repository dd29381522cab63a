import { createEventSourceMappingOver } from './mapping';
import { recorder } from './testing/harness';
import { waitFor } from './testing/kinesis';
import { LaggingStubSource } from './testing/stub-source';
import type { EventSourceMapping, EventSourceMappingOptions } from './types';

const mappings: EventSourceMapping[] = [];
afterEach(async () => {
  await Promise.all(mappings.splice(0).map((m) => m.stop()));
});

function mappingOver(
  source: LaggingStubSource,
  options: Partial<Omit<EventSourceMappingOptions, 'kinesis'>> & Pick<EventSourceMappingOptions, 'handler'>,
): EventSourceMapping {
  const mapping = createEventSourceMappingOver(source, {
    streamName: 'stub',
    startingPosition: 'TRIM_HORIZON',
    pollIntervalMs: 1,
    sleep: async () => undefined,
    ...options,
  });
  mappings.push(mapping);
  return mapping;
}

describe('createEventSourceMapping: a Kinesis server that answers an empty read with an iterator at "now"', () => {
  it('still delivers a record whose sequence number was assigned before an empty read and stored after it', async () => {
    const source = new LaggingStubSource();
    source.put('key', 'first');
    const rec = recorder();
    const mapping = mappingOver(source, { handler: rec.handler });
    mapping.start();
    await waitFor(() => rec.deliveries.flat().length === 1, 'the first record');

    const late = source.assign('key', 'late');
    const emptyReads = source.emptyReads;
    await waitFor(() => source.emptyReads > emptyReads, 'an empty read while the record is not stored yet');
    source.store(late);
    await mapping.drain();

    expect(rec.deliveries.flat()).toEqual(['first', 'late']);
  });

  it('still delivers the first record of a shard stored after an empty read from TRIM_HORIZON', async () => {
    const source = new LaggingStubSource();
    const rec = recorder();
    const mapping = mappingOver(source, { handler: rec.handler });
    const late = source.assign('key', 'late');
    mapping.start();
    await waitFor(() => source.emptyReads > 0, 'an empty read while the record is not stored yet');
    source.store(late);
    source.put('key', 'next');
    await mapping.drain();

    expect(rec.deliveries.flat()).toEqual(['late', 'next']);
  });
});

describe('createEventSourceMapping: Kinesis calls that time out', () => {
  it('gives each retry of a timed-out read twice the time and half the records, then makes progress', async () => {
    const source = new LaggingStubSource();
    for (let i = 0; i < 8; i += 1) source.put('key', `record-${i}`);
    let release!: () => void;
    source.hold = new Promise<void>((resolve) => (release = resolve));
    const rec = recorder();
    const mapping = mappingOver(source, { handler: rec.handler, batchSize: 8, kinesisCallTimeoutMs: 5 });
    mapping.start();
    await waitFor(() => source.abandoned >= 3, 'three abandoned reads');
    release();
    source.hold = undefined;
    await mapping.drain();

    expect(source.limits.slice(0, 4)).toEqual([8, 4, 2, 1]);
    expect(rec.deliveries.flat()).toEqual(Array.from({ length: 8 }, (_, i) => `record-${i}`));
    // Timers never fire early; the millisecond of slack is performance.now() against the timer's rounding.
    for (const [i, ms] of source.abandonedAfterMs.slice(0, 3).entries())
      expect(ms).toBeGreaterThanOrEqual(5 * 2 ** i - 1);
    expect(mapping.stats().lastError).toMatch(/KinesisCallTimeoutError: a Kinesis call took longer than \d+ ms/);
  });
});
