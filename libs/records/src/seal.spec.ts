import { decodeEnvelope, encodeEnvelope, UnencodableError, type DataEnvelope } from './envelope';
import { decodeStreamRecord, packLines } from './packing';
import { hasValidSeal, newRunKey, sealEnvelopeBytes, withoutSeal } from './seal';

const envelope: DataEnvelope = { v: 1, kind: 'data', id: { run: 'run-1', slice: 's000000', pos: 3 }, body: { a: 1 } };

describe('seals', () => {
  const key = newRunKey();

  it('seal an envelope so that it still decodes to the same envelope', () => {
    const sealed = sealEnvelopeBytes(encodeEnvelope(envelope), key);
    expect(decodeEnvelope(sealed)).toEqual(envelope);
    expect(hasValidSeal(sealed, key)).toBe(true);
  });

  it('fail for an unsealed envelope, another run key, or any changed byte', () => {
    const sealed = sealEnvelopeBytes(encodeEnvelope(envelope), key);
    expect(hasValidSeal(encodeEnvelope(envelope), key)).toBe(false);
    expect(hasValidSeal(sealed, newRunKey())).toBe(false);
    const changed = Buffer.from(sealed);
    changed[changed.indexOf('"a":1') + 4] = '2'.charCodeAt(0);
    expect(hasValidSeal(changed, key)).toBe(false);
    expect(hasValidSeal(new Uint8Array(), key)).toBe(false);
  });

  it('seal a packed record once, over every envelope in it, and come off again', () => {
    const packed = packLines([
      encodeEnvelope(envelope),
      encodeEnvelope({ ...envelope, id: { ...envelope.id, pos: 4 } }),
    ]);
    const sealed = sealEnvelopeBytes(packed, key);
    expect(hasValidSeal(sealed, key)).toBe(true);
    const changed = Buffer.from(sealed);
    changed[changed.indexOf('"pos":3')] = ' '.charCodeAt(0); // in the first line, which has no seal of its own
    expect(hasValidSeal(changed, key)).toBe(false);
    expect(Buffer.from(withoutSeal(sealed))).toEqual(Buffer.from(packed));
    expect(withoutSeal(packed)).toBe(packed);
  });
});

describe('decodeStreamRecord', () => {
  it('returns every envelope of a packed record with its bytes', () => {
    const line = encodeEnvelope(envelope);
    const decoded = decodeStreamRecord(packLines([line, line]));
    expect(decoded.ok && decoded.lines.map((l) => l.envelope)).toEqual([envelope, envelope]);
  });

  it('rejects a record with one bad line whole, with all its bytes, saying which line', () => {
    const data = packLines([encodeEnvelope(envelope), Buffer.from('not json'), encodeEnvelope(envelope)]);
    const decoded = decodeStreamRecord(data);
    expect(decoded.ok).toBe(false);
    if (decoded.ok) return;
    expect(decoded.bytes).toEqual(data);
    expect(decoded.error.message).toMatch(/^line 2 of 3: envelope is not JSON/);
  });

  it('names a KPL-aggregated record as such, even when it holds 0x0A bytes', () => {
    const data = Uint8Array.from([0xf3, 0x89, 0x9a, 0xc2, 0x0a, 0x01, 0x0a, 0x02]);
    const decoded = decodeStreamRecord(data);
    expect(decoded).toMatchObject({ ok: false, bytes: data });
    expect(!decoded.ok && decoded.error.message).toMatch(/KPL-aggregated/);
  });
});

describe('encodeEnvelope', () => {
  it('throws UnencodableError, not a RangeError, for a body nested too deeply to encode', () => {
    let body: unknown = [];
    for (let i = 0; i < 10_000; i++) body = [body];
    expect(() => encodeEnvelope({ ...envelope, body })).toThrow(UnencodableError);
  });
});
