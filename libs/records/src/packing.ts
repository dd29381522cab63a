import {
  decodeEnvelope,
  EnvelopeError,
  originOf,
  RunIdSchema,
  SliceIdSchema,
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

/** The first bytes of a KPL-aggregated record (protobuf AggregatedRecord with an MD5 trailer). */
const KPL_MAGIC = [0xf3, 0x89, 0x9a, 0xc2];

export function isKplAggregated(data: Uint8Array): boolean {
  return data.byteLength >= KPL_MAGIC.length && KPL_MAGIC.every((byte, i) => data[i] === byte);
}

/** A stream record: every line an envelope, or the record as a whole is not ours. */
export type DecodedRecord =
  | { ok: true; lines: { envelope: Envelope; bytes: Uint8Array }[] }
  | { ok: false; error: EnvelopeError; bytes: Uint8Array };

/**
 * The envelopes of a stream record, or why it is not one of ours. Our producers put only records
 * whose every line is an envelope, so a record with one bad line is not ours: it is rejected whole,
 * with all its bytes, not split at its 0x0A bytes into pieces that mean nothing apart.
 */
export function decodeStreamRecord(data: Uint8Array): DecodedRecord {
  if (isKplAggregated(data)) {
    return {
      ok: false,
      error: new EnvelopeError(
        'record is KPL-aggregated (magic F3 89 9A C2): put envelopes one per record or packed one per line, not through the KPL',
      ),
      bytes: data,
    };
  }
  const pieces = unpackLines(data);
  const fast = decodeQuickly(data, pieces);
  if (fast) return { ok: true, lines: fast };
  const lines: { envelope: Envelope; bytes: Uint8Array }[] = [];
  for (let i = 0; i < pieces.length; i++) {
    try {
      lines.push({ envelope: decodeEnvelope(pieces[i]), bytes: pieces[i] });
    } catch (error) {
      const where = pieces.length > 1 ? `line ${i + 1} of ${pieces.length}: ` : '';
      return { ok: false, error: new EnvelopeError(`${where}${(error as Error).message}`), bytes: data };
    }
  }
  return { ok: true, lines };
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * The common case in one pass: the record is valid UTF-8 as a whole (a multi-byte character never
 * holds 0x0A, so its text splits into the same lines), every line parses, and every line is a data
 * or result envelope whose run and slice ids were checked on an earlier line of the record. Anything
 * else returns undefined, and the record is decoded line by line with the schemas (and their messages).
 */
function decodeQuickly(
  data: Uint8Array,
  pieces: Uint8Array[],
): { envelope: Envelope; bytes: Uint8Array }[] | undefined {
  let texts: string[];
  try {
    texts = utf8.decode(data).split('\n');
  } catch {
    return undefined;
  }
  if (texts.length !== pieces.length) return undefined;
  const lines: { envelope: Envelope; bytes: Uint8Array }[] = new Array(texts.length);
  const checked = { run: '', slice: '' };
  for (let i = 0; i < texts.length; i++) {
    let json: unknown;
    try {
      json = JSON.parse(texts[i]);
    } catch {
      return undefined;
    }
    const envelope = recordEnvelope(json, checked);
    if (!envelope) return undefined;
    lines[i] = { envelope, bytes: pieces[i] };
  }
  return lines;
}

/**
 * A data or result envelope, built as its schema would build it (unknown keys, such as a seal,
 * dropped), or undefined to leave it to the schema. `checked` holds the run and slice ids last
 * validated: a record's lines share them.
 */
function recordEnvelope(json: unknown, checked: { run: string; slice: string }): Envelope | undefined {
  if (typeof json !== 'object' || json === null) return undefined;
  const { v, kind, id, body } = json as { v?: unknown; kind?: unknown; id?: unknown; body?: unknown };
  if (v !== 1 || (kind !== 'data' && kind !== 'result') || !('body' in json)) return undefined;
  if (typeof id !== 'object' || id === null) return undefined;
  const { run, slice, pos } = id as { run?: unknown; slice?: unknown; pos?: unknown };
  if (typeof pos !== 'number' || !Number.isSafeInteger(pos) || pos < 0) return undefined;
  if (typeof run !== 'string' || typeof slice !== 'string') return undefined;
  if (run !== checked.run || slice !== checked.slice) {
    if (!RunIdSchema.safeParse(run).success || !SliceIdSchema.safeParse(slice).success) return undefined;
    checked.run = run;
    checked.slice = slice;
  }
  // The record's lines share one string of each id: a Map keyed by run or slice hashes it once, and
  // comparing two envelopes' ids compares pointers.
  return { v: 1, kind, id: { run: checked.run, slice: checked.slice, pos }, body };
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
