import { createHmac, randomBytes } from 'node:crypto';

/**
 * Seals: how a stage tells the records a run's reader put on the stream from records someone else
 * put there with the same ids.
 *
 * The threat: anyone who can put records on the records stream (a stray producer, a test pointed at
 * the wrong stream, a replay tool gone wrong, a leaked credential) can claim a real record id; the
 * output is de-duplicated by id, so a claim that arrived first would replace the real record. The
 * reader draws a secret per run (the run key, kept in the run's manifest in the results bucket,
 * which only the pipeline's own roles can read) and appends to every envelope it puts an HMAC-SHA256
 * of the envelope's bytes under that key. The processor recomputes it over the bytes as they came —
 * no parse, no re-encoding — and a record whose seal is missing or wrong is dead-lettered as
 * `forged-record`, filed under the run it claimed but never counted in it.
 *
 * The seal is the envelope's last field, `,"seal":"<64 hex>"}`, and covers every byte before it.
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

/** The envelope's bytes (one JSON object) with its seal appended as a last field. */
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

/** Whether the bytes end with a seal that the run key made over every byte before it. */
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
