import { createCipheriv, createHmac, randomBytes, randomFillSync } from 'node:crypto';

/**
 * Seals: how a stage tells the records a run's reader put on the stream from records someone else
 * put there with the same ids.
 *
 * The threat: anyone who can put records on the records stream (a stray producer, a test pointed at
 * the wrong stream, a replay tool gone wrong, a leaked credential) can claim a real record id; the
 * output is de-duplicated by id, so a claim that arrived first would replace the real record. The
 * reader draws a secret per run (the run key, kept in the run's manifest in the results bucket,
 * which only the pipeline's own roles can read) and appends to every stream record it puts a MAC
 * of the record's bytes under that key. The processor recomputes it over the bytes as they came —
 * no parse, no re-encoding — and a record whose seal is missing or wrong is dead-lettered as
 * `forged-record`, filed under the run it claimed but never counted in it.
 *
 * The seal is the last field of the record's last envelope, `,"seal":"<hex>"}`, and covers every
 * byte before it: in a packed record, every envelope of it (a pointer's spilled bytes are bound by
 * the digest in the pointer). One seal per record, not per envelope: the check is one MAC per
 * record of about `DEFAULTS.aggregateBytes`, not twenty.
 *
 * The MAC is AES-256-GMAC (NIST SP 800-38D: GCM with the record as additional data and no
 * plaintext), `<24 hex nonce><32 hex tag>`: about twice as fast as HMAC-SHA256 over a packed record
 * (AES and carry-less multiplication in hardware), which the reader pays to seal and the processor
 * to check. Its key is derived from the run key (HMAC-SHA256 of a label), so the run key itself
 * keys only one algorithm. GMAC is only as strong as its nonces are unique under a key: each is 96
 * random bits, drawn afresh per record, and a run puts far fewer than the 2^32 records NIST allows
 * per key with random nonces (100 million items are about five million records). Records sealed
 * before, with `<64 hex>` HMAC-SHA256 seals, are still checked as they were.
 */
const SEAL_HEAD = Buffer.from(',"seal":"');
const SEAL_TAIL = Buffer.from('"}');
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** The seal's value: nonce and tag, hex. */
const SEAL_HEX = 2 * (NONCE_BYTES + TAG_BYTES);
/** The value of a seal made before GMAC: an HMAC-SHA256, hex. */
const HMAC_SEAL_HEX = 64;
/** Bytes a seal adds to an envelope. */
export const SEAL_BYTES = SEAL_HEAD.byteLength + SEAL_HEX + SEAL_TAIL.byteLength - 1;

const GMAC_KEY_LABEL = 'pipeline record seal: AES-256-GMAC key';

/** A new run key: 32 random bytes, hex. */
export function newRunKey(): string {
  return randomBytes(32).toString('hex');
}

/** Derived keys of the run keys seen lately: a stage sees few runs, and derives each key once. */
const gmacKeys = new Map<string, Buffer>();
const MAX_KEYS = 64;

function gmacKey(runKey: string): Buffer {
  let key = gmacKeys.get(runKey);
  if (!key) {
    if (gmacKeys.size >= MAX_KEYS) gmacKeys.clear();
    key = createHmac('sha256', runKey).update(GMAC_KEY_LABEL).digest();
    gmacKeys.set(runKey, key);
  }
  return key;
}

/**
 * Random nonces drawn in bulk: one call into the CSPRNG per 341 seals, not one per seal. The pool
 * starts empty and is filled at the first seal, never at load: a function snapshotted after its
 * init (Lambda SnapStart) gives its clones no nonces in common.
 */
const nonces = Buffer.alloc(NONCE_BYTES * 341);
let noncesUsed = nonces.byteLength;

function freshNonce(): Buffer {
  if (noncesUsed + NONCE_BYTES > nonces.byteLength) {
    randomFillSync(nonces);
    noncesUsed = 0;
  }
  // Copied out: the pool is refilled in place.
  const nonce = Buffer.from(nonces.subarray(noncesUsed, noncesUsed + NONCE_BYTES));
  noncesUsed += NONCE_BYTES;
  return nonce;
}

function gmacTag(key: Buffer, nonce: Uint8Array, bytes: Uint8Array): Buffer {
  const gcm = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  gcm.setAAD(bytes);
  gcm.final();
  return gcm.getAuthTag();
}

/**
 * The bytes (one envelope, or a packed record of envelopes one per line) with the seal appended as
 * the last envelope's last field.
 */
export function sealEnvelopeBytes(bytes: Uint8Array, runKey: string): Uint8Array {
  const body = bytes.subarray(0, bytes.byteLength - 1); // without the closing brace
  const nonce = freshNonce();
  const tag = gmacTag(gmacKey(runKey), nonce, body);
  const out = Buffer.allocUnsafe(body.byteLength + SEAL_HEAD.byteLength + SEAL_HEX + SEAL_TAIL.byteLength);
  out.set(body, 0);
  let at = body.byteLength;
  out.set(SEAL_HEAD, at);
  at += SEAL_HEAD.byteLength;
  at += out.write(nonce.toString('hex'), at, 'latin1');
  at += out.write(tag.toString('hex'), at, 'latin1');
  out.set(SEAL_TAIL, at);
  return out;
}

/** Where the seal's head starts when the bytes end with a seal of `hex` characters; -1 when they do not. */
function sealAt(bytes: Uint8Array, hex: number): number {
  const end = bytes.byteLength;
  const headAt = end - SEAL_TAIL.byteLength - hex - SEAL_HEAD.byteLength;
  if (headAt < 1) return -1;
  for (let i = 0; i < SEAL_HEAD.byteLength; i++) if (bytes[headAt + i] !== SEAL_HEAD[i]) return -1;
  for (let i = 0; i < SEAL_TAIL.byteLength; i++) if (bytes[end - SEAL_TAIL.byteLength + i] !== SEAL_TAIL[i]) return -1;
  return headAt;
}

/** Whether the bytes (an envelope or a packed record) end with a seal the run key made over every byte before it. */
export function hasValidSeal(bytes: Uint8Array, runKey: string): boolean {
  // On the processor's hot path: no copy of the record. A GMAC seal's head sits where a 64-hex seal
  // has hex digits, so the two are never taken for each other.
  const headAt = sealAt(bytes, SEAL_HEX);
  if (headAt >= 0) {
    const at = headAt + SEAL_HEAD.byteLength;
    if (!readHex(bytes, at, checkNonce)) return false;
    const tag = gmacTag(gmacKey(runKey), checkNonce, bytes.subarray(0, headAt));
    let difference = 0; // compared in constant time: every byte is looked at, whatever differs
    for (let i = 0; i < TAG_BYTES; i++) {
      const hi = at + 2 * NONCE_BYTES + 2 * i;
      difference |= (HEX_DIGITS[tag[i] >> 4] ^ bytes[hi]) | (HEX_DIGITS[tag[i] & 15] ^ bytes[hi + 1]);
    }
    return difference === 0;
  }
  const hmacAt = sealAt(bytes, HMAC_SEAL_HEX);
  if (hmacAt < 0) return false;
  const digest = createHmac('sha256', runKey).update(bytes.subarray(0, hmacAt)).digest('hex');
  let difference = 0; // compared in constant time, as above
  for (let i = 0; i < HMAC_SEAL_HEX; i++) difference |= digest.charCodeAt(i) ^ bytes[hmacAt + SEAL_HEAD.byteLength + i];
  return difference === 0;
}

/** The nonce of the seal being checked (the check is synchronous: one buffer serves every check). */
const checkNonce = Buffer.alloc(NONCE_BYTES);
const HEX_DIGITS = Buffer.from('0123456789abcdef');

/** Lowercase hex at `at` into `into`, as many bytes as it holds; false at any other character. */
function readHex(bytes: Uint8Array, at: number, into: Buffer): boolean {
  for (let i = 0; i < into.byteLength; i++) {
    const hi = hexValue(bytes[at + 2 * i]);
    const lo = hexValue(bytes[at + 2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    into[i] = (hi << 4) | lo;
  }
  return true;
}

function hexValue(c: number): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

/** The bytes without their seal (as they were before `sealEnvelopeBytes`), or as they are when they carry none. */
export function withoutSeal(bytes: Uint8Array): Uint8Array {
  let headAt = sealAt(bytes, SEAL_HEX);
  if (headAt < 0) headAt = sealAt(bytes, HMAC_SEAL_HEX);
  if (headAt < 0) return bytes;
  const out = new Uint8Array(headAt + 1);
  out.set(bytes.subarray(0, headAt));
  out[headAt] = 0x7d; // the closing brace
  return out;
}

/** Seals whole stream records: what a producer of the records stream applies to each record it puts. */
export function recordSealer(runKey: string): { bytes: number; apply(data: Uint8Array): Uint8Array } {
  return { bytes: SEAL_BYTES, apply: (data) => sealEnvelopeBytes(data, runKey) };
}
