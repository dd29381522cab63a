import { type ResultEnvelope, UnencodableError } from './envelope';

/**
 * JSON straight into UTF-8 bytes, byte for byte what `Buffer.from(JSON.stringify(value))` gives,
 * without the intermediate string. On the processor's hot path: V8's JSON.stringify checks every
 * character of a string for escapes one at a time (about 1.4 ns a character in Node 20), and the
 * text it makes is copied again when it is encoded. Here a long string is written by the UTF-8
 * encoder and its bytes checked four at a time; short strings (keys) byte by byte in place.
 *
 * Only plain data takes the fast path: plain objects and arrays, strings, finite numbers, booleans
 * and null (undefined, functions and symbols as JSON.stringify treats them). Anything else — a
 * `toJSON`, a class instance, a BigInt, a boxed primitive, non-finite numbers aside, nesting deeper
 * than `MAX_FAST_DEPTH` (a cycle, say) — makes the whole value go through JSON.stringify, so the
 * output and its errors are always JSON.stringify's.
 */
export function encodeJsonBytes(value: unknown): Buffer {
  start();
  if (!writeFast(value, 0)) writeStringified(value);
  return buf.subarray(0, at);
}

/**
 * A result envelope as `encodeJsonBytes` writes it, its head (`{"v":1,"kind":"result","id":{…},"body":`)
 * made once per run and slice: the records of a packed record share them. The id is written as a
 * RecordId, its three fields in the schema's order.
 */
export function encodeResultBytes(envelope: ResultEnvelope): Buffer {
  const { id } = envelope;
  if (typeof id.run !== 'string' || typeof id.slice !== 'string' || !isSmallCount(id.pos))
    return encodeJsonBytes(envelope);
  if (head.run !== id.run || head.slice !== id.slice) {
    const text = `{"v":${envelope.v},"kind":"result","id":{"run":${JSON.stringify(id.run)},"slice":${JSON.stringify(id.slice)},"pos":`;
    head.run = id.run;
    head.slice = id.slice;
    head.bytes = Buffer.from(text, 'utf8');
    head.v = envelope.v;
  }
  if (head.v !== envelope.v) return encodeJsonBytes(envelope);
  start();
  room(head.bytes.byteLength + 16);
  buf.set(head.bytes, 0);
  at = head.bytes.byteLength;
  writeCount(id.pos);
  writeAscii('},"body":');
  if (envelope.body === undefined || typeof envelope.body === 'function' || typeof envelope.body === 'symbol') {
    // JSON.stringify leaves the key out: the rare case, written as it would be.
    return encodeJsonBytes(envelope);
  }
  if (!writeFast(envelope.body, 1)) return encodeJsonBytes(envelope);
  room(1);
  buf[at++] = CLOSE_BRACE;
  return buf.subarray(0, at);
}

/**
 * The fast path; false to leave the value to JSON.stringify, which also has the last word on a value
 * that throws while it is read (a getter), as it had before.
 */
function writeFast(value: unknown, depth: number): boolean {
  try {
    return inheritsNoToJSON() && writeValue(value, depth);
  } catch {
    return false;
  }
}

/** The value through JSON.stringify, into the buffer from its start. */
function writeStringified(value: unknown): void {
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    // Too deep for its recursion (RangeError), a BigInt or a cycle (TypeError): not passing on a retry.
    throw new UnencodableError(`cannot be encoded as JSON: ${(error as Error).message}`);
  }
  if (text === undefined) throw new UnencodableError('cannot be encoded as JSON: it has no JSON text');
  at = 0;
  room(Buffer.byteLength(text));
  at = utf8Write(buf, text, 0);
}

/** A toJSON on Object.prototype or Array.prototype would apply to every object or array. */
const inheritsNoToJSON = () =>
  (Object.prototype as { toJSON?: unknown }).toJSON === undefined &&
  (Array.prototype as { toJSON?: unknown }).toJSON === undefined;

/** Writes one value; false when it must go through JSON.stringify. Undefined is the caller's to omit. */
function writeValue(value: unknown, depth: number): boolean {
  switch (typeof value) {
    case 'string':
      writeString(value);
      return true;
    case 'number':
      if (isSmallCount(value)) writeCount(value);
      else writeAscii(Number.isFinite(value) ? String(value) : 'null');
      return true;
    case 'boolean':
      writeAscii(value ? 'true' : 'false');
      return true;
    case 'object': {
      if (value === null) {
        writeAscii('null');
        return true;
      }
      if (depth >= MAX_FAST_DEPTH) return false;
      const proto = Object.getPrototypeOf(value);
      // Anything JSON.stringify treats otherwise goes to it: a toJSON (own, hidden or inherited), a
      // raw JSON value (JSON.rawJSON: a frozen null-prototype object, on Node 21 and later), an array
      // or object under another's prototype.
      if (typeof (value as { toJSON?: unknown }).toJSON === 'function') return false;
      const isArray = Array.isArray(value);
      if (proto === Object.prototype || proto === null) {
        if (isArray || (proto === null && isRawJson(value))) return false;
        return writeObject(value as Record<string, unknown>, depth);
      }
      return proto === Array.prototype && isArray && writeArray(value as unknown[], depth);
    }
    default:
      // undefined, a function or a symbol has no text of its own; a BigInt throws in JSON.stringify.
      return false;
  }
}

/** JSON.isRawJSON where the runtime has it (Node 21 and later, so Lambda's Node 22). */
function isRawJson(value: object): boolean {
  return (JSON as { isRawJSON?: (value: unknown) => boolean }).isRawJSON?.(value) === true;
}

function writeObject(value: Record<string, unknown>, depth: number): boolean {
  room(2);
  buf[at++] = OPEN_BRACE;
  let first = true;
  const keys = Object.keys(value);
  for (let k = 0; k < keys.length; k++) {
    const key = keys[k];
    const item = value[key];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') continue;
    if (first) first = false;
    else buf[at++] = COMMA; // room left by the value before
    writeString(key);
    buf[at++] = COLON;
    if (!writeValue(item, depth + 1)) return false;
  }
  room(2);
  buf[at++] = CLOSE_BRACE;
  return true;
}

function writeArray(value: unknown[], depth: number): boolean {
  room(2);
  buf[at++] = OPEN_BRACKET;
  for (let i = 0; i < value.length; i++) {
    if (i > 0) buf[at++] = COMMA;
    const item = value[i];
    if (item === undefined || typeof item === 'function' || typeof item === 'symbol') writeAscii('null');
    else if (!writeValue(item, depth + 1)) return false;
  }
  room(2);
  buf[at++] = CLOSE_BRACKET;
  return true;
}

/** A non-negative integer under 2^31, written digit by digit (as String() would). */
const isSmallCount = (value: unknown): value is number =>
  typeof value === 'number' && value >>> 0 === value && value < 0x80000000;

function writeCount(value: number): void {
  room(10);
  if (value < 10) {
    buf[at++] = 0x30 + value;
    return;
  }
  let digits = 0;
  for (let rest = value; rest > 0; rest = (rest / 10) | 0) digits++;
  let end = at + digits;
  at = end;
  for (let rest = value; rest > 0; rest = (rest / 10) | 0) buf[--end] = 0x30 + (rest % 10);
}

function writeString(value: string): void {
  const n = value.length;
  const start = at;
  if (n < SHORT_STRING) {
    // Byte by byte: cheaper than a call into the encoder for a key.
    room(n + 2);
    let end = start;
    buf[end++] = QUOTE;
    for (let i = 0; i < n; i++) {
      const c = value.charCodeAt(i);
      if (c < 0x20 || c >= 0x7f || c === QUOTE || c === BACKSLASH) {
        writeEscaped(value, start);
        return;
      }
      buf[end++] = c;
    }
    buf[end++] = QUOTE;
    at = end;
    return;
  }
  // A lone surrogate is escaped by JSON.stringify, replaced by the UTF-8 encoder.
  if (!(value as WellFormed).isWellFormed()) {
    writeEscaped(value, start);
    return;
  }
  room(n * 3 + 2);
  buf[start] = QUOTE;
  const end = start + 1 + utf8Write(buf, value, start + 1);
  if (needsEscape(start + 1, end)) {
    writeEscaped(value, start);
    return;
  }
  buf[end] = QUOTE;
  at = end + 1;
}

/** The string as JSON.stringify writes it, from `start` on. */
function writeEscaped(value: string, start: number): void {
  const text = JSON.stringify(value);
  at = start;
  room(text.length * 3);
  at = start + utf8Write(buf, text, start);
}

/**
 * Whether bytes [from, to) hold a quote, a backslash or a control character (UTF-8 bytes of other
 * characters are all 0x80 or over). Whole words are tested four bytes at a time: a word has a byte
 * under n exactly when (x - n·0x01010101) & ~x & 0x80808080 is not zero (n ≤ 128).
 */
function needsEscape(from: number, to: number): boolean {
  let i = from;
  for (; i < to && i & 3; i++) if (escapes(buf[i])) return true;
  const last = to >> 2;
  for (let w = i >> 2; w < last; w++) {
    const x = words[w];
    const quote = x ^ 0x22222222;
    const backslash = x ^ 0x5c5c5c5c;
    if (
      (((x - 0x20202020) & ~x) | ((quote - 0x01010101) & ~quote) | ((backslash - 0x01010101) & ~backslash)) &
      0x80808080
    )
      return true;
  }
  for (i = Math.max(i, last << 2); i < to; i++) if (escapes(buf[i])) return true;
  return false;
}

/** Text known to be ASCII with nothing to escape (numbers, literals). */
function writeAscii(text: string): void {
  const n = text.length;
  room(n);
  let end = at;
  for (let i = 0; i < n; i++) buf[end++] = text.charCodeAt(i);
  at = end;
}

/** Makes room for `bytes` more bytes and the punctuation after them, keeping what is written. */
function room(bytes: number): void {
  if (at + bytes <= limit) return;
  const need = at + bytes + PUNCTUATION;
  const grown = Buffer.allocUnsafeSlow(alignUp(Math.max(need, buf.byteLength * 2)));
  buf.copy(grown, 0, 0, at);
  buf = grown;
  words = new Int32Array(grown.buffer, grown.byteOffset, grown.byteLength >> 2);
  limit = grown.byteLength - PUNCTUATION;
}

/** Nesting the fast path follows; deeper values (and cycles) go through JSON.stringify. */
export const MAX_FAST_DEPTH = 64;
const SCRATCH_BYTES = 64 * 1024;
/** A scratch buffer larger than this (grown for one large result) is not kept for the next encode. */
const KEPT_SCRATCH_BYTES = 1024 * 1024;
/** Strings shorter than this (keys, mostly) are written byte by byte; longer ones cost less through the encoder. */
const SHORT_STRING = 16;
/** Bytes kept free after every write: a comma or colon after a value needs no check of its own. */
const PUNCTUATION = 2;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const COLON = 0x3a;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Writes a string as UTF-8 at `offset` (room is made first): Buffer's own utf8Write, which
 * `buf.write(text, offset, 'utf8')` calls after checking its arguments; that check costs as much as a
 * short string's bytes.
 */
const utf8Write: (target: Buffer, text: string, offset: number) => number =
  typeof (Buffer.prototype as Utf8Writer).utf8Write === 'function'
    ? (target, text, offset) => (target as Utf8Writer).utf8Write(text, offset)
    : (target, text, offset) => target.write(text, offset, 'utf8');
type Utf8Writer = Buffer & { utf8Write(text: string, offset: number): number };

/** ES2024's String.prototype.isWellFormed (Node 20 has it; the workspace's TypeScript lib does not). */
type WellFormed = string & { isWellFormed(): boolean };

const escapes = (byte: number) => byte < 0x20 || byte === QUOTE || byte === BACKSLASH;
const alignUp = (bytes: number) => (bytes + 7) & ~7;

// One scratch buffer for the process (JavaScript runs one encode at a time): the view `encodeJsonBytes`
// returns is valid until its next call, so a caller copies it before it awaits anything.
let buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
let words = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
/** Bytes the buffer holds, less the punctuation kept free. */
let limit = buf.byteLength - PUNCTUATION;
let at = 0;
/** Starts an encode from the buffer's start; a buffer grown past KEPT_SCRATCH_BYTES for one large value is let go. */
function start(): void {
  at = 0;
  if (buf.byteLength > KEPT_SCRATCH_BYTES) {
    buf = Buffer.allocUnsafeSlow(SCRATCH_BYTES);
    words = new Int32Array(buf.buffer, buf.byteOffset, buf.byteLength >> 2);
    limit = buf.byteLength - PUNCTUATION;
  }
}

/** The last result head written: its run, slice and bytes. */
const head = { run: '', slice: '', v: 0, bytes: Buffer.alloc(0) };
