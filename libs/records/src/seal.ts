import { createHmac, randomBytes } from 'node:crypto';

/**
 * Seals: how a stage tells the records a run's reader put on the stream from records someone else
 * put there with the same ids.
 *
 * The threat: anyone who can put records on the records stream (a stray producer, a test pointed at
 * the wrong stream, a replay tool gone wrong, a leaked credential) can claim a real record id; the
 * output is de-duplicated by id, so a claim that arrived first would replace the real record. The
 * reader draws a secret per run (the run key, kept in the run's manifest in the results bucket,
 * which only the pipeline's own roles can read) and appends to every stream record it puts an
 * HMAC-SHA256 of the record's bytes under that key. The processor recomputes it over the bytes as
 * they came — no parse, no re-encoding — and a record whose seal is missing or wrong is
 * dead-lettered as `forged-record`, filed under the run it claimed but never counted in it.
 *
 * The seal is the last field of the record's last envelope, `,"seal":"<64 hex>"}`, and covers every
 * byte before it: in a packed record, every envelope of it (a pointer's spilled bytes are bound by
 * the digest in the pointer). One seal per record, not per envelope: the check is one HMAC per
 * record of about `DEFAULTS.aggregateBytes`, not twenty.
 */
const SEAL_HEAD = Buffer.from(',"seal":"');
const SEAL_TAIL = Buffer.from('"}');
const DIGEST_HEX = 64;
/** Bytes a seal adds to an envelope. */
export const SEAL_BYTES = SEAL_HEAD.byteLength + DIGEST_HEX + SEAL_TAIL.byteLength - 1;

/** A new run key: 32 random bytes, hex. */
export function newRunKey(): string {
  return randomBytes(32).toString('hex');
}

/**
 * The bytes (one envelope, or a packed record of envelopes one per line) with the seal appended as
 * the last envelope's last field.
 */
export function sealEnvelopeBytes(bytes: Uint8Array, runKey: string): Uint8Array {
  const body = bytes.subarray(0, bytes.byteLength - 1); // without the closing brace
  const digest = createHmac('sha256', runKey).update(body).digest('hex');
  const out = Buffer.allocUnsafe(body.byteLength + SEAL_HEAD.byteLength + DIGEST_HEX + SEAL_TAIL.byteLength);
  out.set(body, 0);
  let at = body.byteLength;
  out.set(SEAL_HEAD, at);
  at += SEAL_HEAD.byteLength;
  at += out.write(digest, at, 'latin1');
  out.set(SEAL_TAIL, at);
  return out;
}

/** Whether the bytes (an envelope or a packed record) end with a seal the run key made over every byte before it. */
export function hasValidSeal(bytes: Uint8Array, runKey: string): boolean {
  // On the processor's hot path: no allocation but the digest, no copy of the envelope.
  const end = bytes.byteLength;
  const headAt = end - SEAL_TAIL.byteLength - DIGEST_HEX - SEAL_HEAD.byteLength;
  if (headAt < 1) return false;
  for (let i = 0; i < SEAL_HEAD.byteLength; i++) if (bytes[headAt + i] !== SEAL_HEAD[i]) return false;
  for (let i = 0; i < SEAL_TAIL.byteLength; i++)
    if (bytes[end - SEAL_TAIL.byteLength + i] !== SEAL_TAIL[i]) return false;
  const digest = createHmac('sha256', runKey).update(bytes.subarray(0, headAt)).digest('hex');
  // Compared in constant time: every character is looked at, whatever differs.
  const at = headAt + SEAL_HEAD.byteLength;
  let difference = 0;
  for (let i = 0; i < DIGEST_HEX; i++) difference |= digest.charCodeAt(i) ^ bytes[at + i];
  return difference === 0;
}

/** The bytes without their seal (as they were before `sealEnvelopeBytes`), or as they are when they carry none. */
export function withoutSeal(bytes: Uint8Array): Uint8Array {
  const end = bytes.byteLength;
  const headAt = end - SEAL_TAIL.byteLength - DIGEST_HEX - SEAL_HEAD.byteLength;
  if (headAt < 1) return bytes;
  for (let i = 0; i < SEAL_HEAD.byteLength; i++) if (bytes[headAt + i] !== SEAL_HEAD[i]) return bytes;
  const out = new Uint8Array(headAt + 1);
  out.set(bytes.subarray(0, headAt));
  out[headAt] = 0x7d; // the closing brace
  return out;
}

/** Seals whole stream records: what a producer of the records stream applies to each record it puts. */
export function recordSealer(runKey: string): { bytes: number; apply(data: Uint8Array): Uint8Array } {
  return { bytes: SEAL_BYTES, apply: (data) => sealEnvelopeBytes(data, runKey) };
}
