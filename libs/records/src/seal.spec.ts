import { decodeEnvelope, encodeEnvelope, UnencodableError, type DataEnvelope } from './envelope';
import { decodeStreamRecord, packLines } from './packing';
import { createHmac } from 'node:crypto';
import { hasValidSeal, newRunKey, SEAL_BYTES, sealEnvelopeBytes, withoutSeal } from './seal';

/** A seal as records carried it before GMAC: `,"seal":"<HMAC-SHA256, 64 hex>"}` over every byte before it. */
function hmacSealEnvelopeBytes(bytes: Uint8Array, runKey: string): Uint8Array {
  const body = bytes.subarray(0, bytes.byteLength - 1);
  const digest = createHmac('sha256', runKey).update(body).digest('hex');
  return Buffer.concat([body, Buffer.from(`,"seal":"${digest}"}`)]);
}

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

  it('are AES-256-GMAC tags under a fresh 96-bit nonce each: the same bytes sealed twice carry different seals, both valid', () => {
    const bytes = encodeEnvelope(envelope);
    const [first, second] = [sealEnvelopeBytes(bytes, key), sealEnvelopeBytes(bytes, key)];
    const seal = (sealed: Uint8Array) => /"seal":"([0-9a-f]*)"}$/.exec(Buffer.from(sealed).toString())?.[1];
    expect(seal(first)).toHaveLength(24 + 32);
    expect(seal(first)?.slice(0, 24)).not.toBe(seal(second)?.slice(0, 24));
    expect(first.byteLength - bytes.byteLength).toBe(SEAL_BYTES);
    expect([hasValidSeal(first, key), hasValidSeal(second, key)]).toEqual([true, true]);
  });

  it('fail when the nonce is changed, or the tag is another nonce’s', () => {
    const bytes = encodeEnvelope(envelope);
    const sealed = Buffer.from(sealEnvelopeBytes(bytes, key));
    const nonceAt = sealed.indexOf('"seal":"') + 8;
    const changed = Buffer.from(sealed);
    changed[nonceAt] = changed[nonceAt] === 0x30 ? 0x31 : 0x30;
    expect(hasValidSeal(changed, key)).toBe(false);
    const other = Buffer.from(sealEnvelopeBytes(bytes, key));
    const swapped = Buffer.concat([sealed.subarray(0, nonceAt + 24), other.subarray(nonceAt + 24)]);
    expect(hasValidSeal(swapped, key)).toBe(false);
    const notHex = Buffer.from(sealed);
    notHex[nonceAt] = 'g'.charCodeAt(0);
    expect(hasValidSeal(notHex, key)).toBe(false);
  });

  it('made before GMAC (HMAC-SHA256, 64 hex) are still checked, and still come off', () => {
    const bytes = encodeEnvelope(envelope);
    const sealed = hmacSealEnvelopeBytes(bytes, key);
    expect(hasValidSeal(sealed, key)).toBe(true);
    expect(hasValidSeal(sealed, newRunKey())).toBe(false);
    const changed = Buffer.from(sealed);
    changed[changed.indexOf('"a":1') + 4] = '2'.charCodeAt(0);
    expect(hasValidSeal(changed, key)).toBe(false);
    expect(decodeEnvelope(sealed)).toEqual(envelope);
    expect(Buffer.from(withoutSeal(sealed))).toEqual(Buffer.from(bytes));
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
