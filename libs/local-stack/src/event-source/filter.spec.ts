import { EventSourceMappingConfigError } from './errors';
import { compileFilterCriteria } from './filter';
import { recorder, records, useHarness } from './testing/harness';

const data = (value: unknown) => Buffer.from(JSON.stringify(value));
const pattern = (value: unknown) => ({ pattern: JSON.stringify(value) });

describe('compileFilterCriteria', () => {
  it.each([
    ['partitionKey', { partitionKey: ['run-1/slice-0'] }],
    ['sequenceNumber', { sequenceNumber: ['1'] }],
    ['data and partitionKey', { data: { runId: ['run-1'] }, partitionKey: [{ prefix: 'run-1/' }] }],
  ])('refuses a filter on %s, as Lambda does for Kinesis (only the data key)', (_name, p) => {
    expect(() => compileFilterCriteria({ filters: [pattern(p)] })).toThrow(/only support filtering on the data key/);
  });

  it('refuses more filters than an event source mapping takes', () => {
    const six = Array.from({ length: 6 }, (_, i) => pattern({ data: { n: [i] } }));
    expect(() => compileFilterCriteria({ filters: six })).toThrow(EventSourceMappingConfigError);
    expect(compileFilterCriteria({ filters: six.slice(0, 5) })).toBeDefined();
  });

  it('refuses a rule it does not emulate rather than match it wrongly', () => {
    expect(() => compileFilterCriteria({ filters: [pattern({ data: { n: [{ numeric: ['>', 1] }] } })] })).toThrow(
      /not emulated/,
    );
  });

  it('matches literals, prefix and exists in the JSON data, ORing the filters', () => {
    const filter = compileFilterCriteria({
      filters: [pattern({ data: { order: { type: ['buy'] } } }), pattern({ data: { id: [{ prefix: 'run-1/' }] } })],
    });
    expect(filter?.(data({ order: { type: 'buy' } }))).toBe(true);
    expect(filter?.(data({ id: 'run-1/slice-0/1' }))).toBe(true);
    expect(filter?.(data({ order: { type: 'sell' }, id: 'run-2/x' }))).toBe(false);
    const exists = compileFilterCriteria({ filters: [pattern({ data: { error: [{ exists: false }] } })] });
    expect(exists?.(data({ ok: 1 }))).toBe(true);
    expect(exists?.(data({ error: 'x' }))).toBe(false);
  });

  it('matches no record whose data is not one JSON document (packed records are several lines)', () => {
    const filter = compileFilterCriteria({ filters: [pattern({ data: { runId: ['run-1'] } })] });
    expect(filter?.(Buffer.from('{"runId":"run-1"}\n{"runId":"run-1"}\n'))).toBe(false);
  });
});

describe('createEventSourceMapping: filter criteria', () => {
  const h = useHarness();

  it('refuses a partitionKey filter when the mapping is created', async () => {
    const { name } = await h.stream(1);
    expect(() =>
      h.mapping({
        streamName: name,
        handler: recorder().handler,
        filterCriteria: { filters: [pattern({ partitionKey: ['key-1'] })] },
      }),
    ).toThrow(EventSourceMappingConfigError);
  });

  it('sends only records whose data matches and checkpoints past the others', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, [
      ...records(2).map((r, i) => ({ key: r.key, data: JSON.stringify({ keep: i === 0, n: i }) })),
      { key: 'plain', data: 'not json' },
    ]);
    const rec = recorder();
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      filterCriteria: { filters: [pattern({ data: { keep: [true] } })] },
    });
    mapping.start();
    await mapping.drain();

    expect(rec.deliveries.flat()).toEqual([JSON.stringify({ keep: true, n: 0 })]);
    expect(mapping.stats()).toMatchObject({ recordsRead: 3, recordsFilteredOut: 2, recordsDelivered: 1 });
  });
});
