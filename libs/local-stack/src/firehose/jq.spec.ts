import { extractPartitionKeys, parseMetadataQuery, UnsupportedMetadataQueryError } from './jq';

const json = (value: unknown) => Buffer.from(JSON.stringify(value));

describe('MetadataExtractionQuery (jq subset)', () => {
  it('parses an object of simple paths', () => {
    const query = parseMetadataQuery('{customer_id: .customer_id, device: .type.device}');

    expect([...query]).toEqual([
      ['customer_id', ['customer_id']],
      ['device', ['type', 'device']],
    ]);
  });

  it('accepts quoted keys and fields', () => {
    const query = parseMetadataQuery('{"run id":."run-id"}');

    expect([...query]).toEqual([['run id', ['run-id']]]);
  });

  it.each(['{year: .ts | strftime("%Y")}', '.customer_id', '{}', '{a: b}', '{a: .b} extra'])('refuses %s', (text) => {
    expect(() => parseMetadataQuery(text)).toThrow(UnsupportedMetadataQueryError);
  });

  it('extracts string, number and boolean values as strings', () => {
    const query = parseMetadataQuery('{s: .s, n: .a.n, b: .b}');

    expect(extractPartitionKeys(query, json({ s: 'x', a: { n: 7 }, b: true }))).toEqual({
      ok: true,
      keys: { s: 'x', n: '7', b: 'true' },
    });
  });

  it('fails data that is not JSON with the message Firehose reports', () => {
    expect(extractPartitionKeys(parseMetadataQuery('{a: .a}'), Buffer.from('{not json'))).toEqual({
      ok: false,
      message: 'Non JSON record provided',
    });
  });

  it.each([
    ['missing', {}],
    ['null', { a: null }],
    ['empty', { a: '' }],
    ['an object', { a: { b: 1 } }],
  ])('fails a key whose value is %s', (_case, document) => {
    expect(extractPartitionKeys(parseMetadataQuery('{a: .a}'), json(document))).toEqual({
      ok: false,
      message: 'partitionKeys values must not be null or empty',
    });
  });
});
