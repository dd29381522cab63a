import { decodeRecord, encodeEnvelope, packLines, unpackLines, type Envelope } from './index';

const envelope = (pos: number): Envelope => ({
  v: 1,
  kind: 'data',
  id: { run: 'r', slice: 's', pos },
  body: { text: 'a\nb' },
});

describe('Packed records', () => {
  it('hold envelopes one per line, and unpack to the same envelopes in order', () => {
    const packed = packLines([0, 1, 2].map((pos) => encodeEnvelope(envelope(pos))));
    expect(decodeRecord(packed).map((line) => line.ok && line.envelope)).toEqual([
      envelope(0),
      envelope(1),
      envelope(2),
    ]);
  });

  it('leave a record of one envelope as it is', () => {
    const one = encodeEnvelope(envelope(0));
    expect(packLines([one])).toBe(one);
    expect(unpackLines(one)).toEqual([one]);
  });

  it('keep the good lines of a record when one line is not an envelope', () => {
    const packed = packLines([
      encodeEnvelope(envelope(0)),
      new TextEncoder().encode('{"broken"'),
      encodeEnvelope(envelope(2)),
    ]);
    const lines = decodeRecord(packed);
    expect(lines.map((l) => l.ok)).toEqual([true, false, true]);
    expect(lines[1]).toMatchObject({ ok: false, error: { name: 'EnvelopeError' } });
    expect(Buffer.from(lines[1].bytes).toString()).toBe('{"broken"');
  });
});
