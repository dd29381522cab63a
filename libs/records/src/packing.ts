import {
  decodeEnvelope,
  type EnvelopeError,
  originOf,
  type DeadLetterEnvelope,
  type Envelope,
  type Stage,
} from './envelope';

/**
 * A Kinesis record holds one envelope, or several of one partition key packed one per line (JSON
 * text never holds a raw newline). Packing is the producer's choice; every consumer unpacks.
 */
const NEWLINE = 0x0a;

/** Lines joined by newlines: what a packed record holds. */
export function packLines(lines: readonly Uint8Array[]): Uint8Array {
  if (lines.length === 1) return lines[0];
  const out = new Uint8Array(lines.reduce((sum, l) => sum + l.byteLength + 1, -1));
  let at = 0;
  lines.forEach((line, i) => {
    if (i > 0) out[at++] = NEWLINE;
    out.set(line, at);
    at += line.byteLength;
  });
  return out;
}

/** The lines of a record: a packed record's, or the record itself. */
export function unpackLines(data: Uint8Array): Uint8Array[] {
  const lines: Uint8Array[] = [];
  let start = 0;
  for (let at = data.indexOf(NEWLINE); at >= 0; at = data.indexOf(NEWLINE, start)) {
    lines.push(data.subarray(start, at));
    start = at + 1;
  }
  lines.push(data.subarray(start));
  return lines;
}

/** One line of a record: its envelope, or why it is not one (with its bytes, to dead-letter them). */
export type UnpackedEnvelope =
  | { ok: true; envelope: Envelope; bytes: Uint8Array }
  | { ok: false; error: EnvelopeError; bytes: Uint8Array };

/** Every envelope of a Kinesis record, in order; a bad line does not spoil the others. */
export function decodeRecord(data: Uint8Array): UnpackedEnvelope[] {
  return unpackLines(data).map((bytes) => {
    try {
      return { ok: true, envelope: decodeEnvelope(bytes), bytes };
    } catch (error) {
      return { ok: false, error: error as EnvelopeError, bytes };
    }
  });
}

/**
 * The dead letter of a line that is not an envelope: it has no record id, so it is named by where
 * it was on the stream, and keeps its bytes (base64).
 */
export function unreadableLine(
  stage: Stage,
  record: { eventSourceARN?: string; kinesis: { partitionKey: string; sequenceNumber: string } },
  line: number,
  error: EnvelopeError,
  bytes: Uint8Array,
): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    stage,
    reason: 'invalid-envelope',
    message: error.message,
    origin: originOf(record, line),
    payload: Buffer.from(bytes).toString('base64'),
  };
}
