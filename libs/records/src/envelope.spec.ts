import {
  decodeEnvelope,
  encodeEnvelope,
  EnvelopeError,
  parsePartitionKey,
  parseRecordIdString,
  partitionKeyOf,
  recordIdString,
  type Envelope,
} from './index';

const id = { run: 'run-20261123T060000Z', slice: 's000001', pos: 42 };
const bytes = (text: string) => new TextEncoder().encode(text);

describe('Envelope', () => {
  const examples: Envelope[] = [
    { v: 1, kind: 'data', id, body: { email: 'a@example.com' } },
    { v: 1, kind: 'result', id, body: { sent: true } },
    { v: 1, kind: 'dead-letter', id, stage: 'reader', reason: 'malformed-row', message: 'not JSON', payload: '{oops' },
    { v: 1, kind: 'end-of-slice', run: id.run, slice: id.slice, count: 10 },
    {
      v: 1,
      kind: 'pointer',
      id,
      of: 'data',
      pointer: { bucket: 'spill-bucket', key: 'spill/x', size: 3, sha256: 'a'.repeat(64) },
    },
  ];

  it.each(examples.map((e) => [e.kind, e]))(
    'round-trips a %s envelope through encode and decode',
    (_kind, envelope) => {
      expect(decodeEnvelope(encodeEnvelope(envelope))).toEqual(envelope);
    },
  );

  it('rejects bytes that are not UTF-8', () => {
    expect(() => decodeEnvelope(Uint8Array.from([0xff, 0xfe, 0x00]))).toThrow(
      new EnvelopeError('envelope is not valid UTF-8'),
    );
  });

  it('rejects text that is not JSON, saying so', () => {
    expect(() => decodeEnvelope(bytes('{"v":1,'))).toThrow(/envelope is not JSON/);
  });

  it('rejects an unknown version before looking at the rest', () => {
    expect(() => decodeEnvelope(bytes('{"v":2,"kind":"data"}'))).toThrow(/version 2 is not supported/);
  });

  it('rejects an unknown kind', () => {
    expect(() => decodeEnvelope(bytes('{"v":1,"kind":"banana"}'))).toThrow(EnvelopeError);
  });

  it('names the field that is wrong', () => {
    expect(() =>
      decodeEnvelope(bytes(JSON.stringify({ v: 1, kind: 'data', id: { ...id, pos: -1 }, body: 1 }))),
    ).toThrow(/id\.pos/);
  });

  it('rejects run ids with characters that would break keys and partition keys', () => {
    expect(() =>
      decodeEnvelope(bytes(JSON.stringify({ v: 1, kind: 'data', id: { ...id, run: 'a/b' }, body: 1 }))),
    ).toThrow(/run id/);
  });

  it('rejects a pointer whose digest is not a sha256', () => {
    const pointer = {
      v: 1,
      kind: 'pointer',
      id,
      of: 'data',
      pointer: { bucket: 'spill-bucket', key: 'k', size: 1, sha256: 'xyz' },
    };
    expect(() => decodeEnvelope(bytes(JSON.stringify(pointer)))).toThrow(/sha256/);
  });
});

describe('Record ids and partition keys', () => {
  it('writes and reads the run/slice/pos form', () => {
    expect(recordIdString(id)).toBe('run-20261123T060000Z/s000001/42');
    expect(parseRecordIdString('run-20261123T060000Z/s000001/42')).toEqual(id);
  });

  it('rejects a malformed id string', () => {
    expect(() => parseRecordIdString('a/b')).toThrow(/not run\/slice\/pos/);
    expect(() => parseRecordIdString('a/b/-1')).toThrow(/invalid/);
  });

  it('keys every record of a slice by run and slice, and reads the key back', () => {
    expect(partitionKeyOf(id.run, id.slice)).toBe('run-20261123T060000Z/s000001');
    expect(parsePartitionKey('run-20261123T060000Z/s000001')).toEqual({ run: id.run, slice: id.slice });
    expect(parsePartitionKey('someone-else')).toBeUndefined();
  });

  it('fits the longest run and slice ids into the 256-character partition key limit', () => {
    expect(partitionKeyOf('r'.repeat(100), 's'.repeat(100)).length).toBeLessThanOrEqual(256);
  });
});
