import { createHash } from 'node:crypto';
import {
  decodeEnvelope,
  encodeEnvelope,
  encodeJsonBytes,
  encodeResultBytes,
  type EnvelopeError,
  LAYOUT,
  recordIdString,
  type DeadLetterReason,
  type Envelope,
  type Pointer,
  type PointerEnvelope,
  type RecordEnvelope,
} from '@pipeline/records';
import { DEFAULTS, KINESIS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';

/** A pointer that cannot be resolved: deterministic, so the record is dead-lettered with `reason`. */
export class PointerError extends Error {
  override readonly name = 'PointerError';
  constructor(
    readonly reason: Extract<
      DeadLetterReason,
      'pointer-rejected' | 'pointer-mismatch' | 'pointer-missing' | 'invalid-envelope'
    >,
    message: string,
  ) {
    super(message);
  }
}

export interface SpillOptions {
  store: ObjectStore;
  bucket: string;
  /** Key prefix inside the bucket; pointers outside it are rejected. */
  prefix?: string;
  /** Envelopes whose encoded size is over this many bytes are spilled; at or under it they travel inline. */
  thresholdBytes?: number;
}

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/**
 * Claim check: envelopes too large for the stream go to the spill bucket and travel as pointers.
 *
 * @example
 * const spill = new Spill({ store: s3ObjectStore(s3), bucket: 'spill-bucket', thresholdBytes: 256 * 1024 });
 * const bytes = await spill.stage(dataEnvelope);        // inline bytes or a pointer envelope's bytes
 * const envelope = await spill.resolve(decodeEnvelope(bytes)); // the original envelope
 */
export class Spill {
  readonly bucket: string;
  readonly prefix: string;
  readonly thresholdBytes: number;
  private readonly store: ObjectStore;
  spilled = 0;

  constructor(options: SpillOptions) {
    this.store = options.store;
    this.bucket = options.bucket;
    this.prefix = options.prefix ?? DEFAULTS.spillPrefix;
    this.thresholdBytes = options.thresholdBytes ?? DEFAULTS.spillThresholdBytes;
    const ceiling = KINESIS.maxRecordBytes - KINESIS.maxPartitionKeyLength;
    if (this.thresholdBytes > ceiling) {
      throw new RangeError(
        `spill threshold ${this.thresholdBytes} is over ${ceiling} bytes: records that size cannot go on the stream`,
      );
    }
  }

  /**
   * Encodes an envelope for the stream, spilling it when it is over the threshold. `bytes`, when
   * given, are the envelope already encoded (sealed, say), so it is not encoded twice.
   *
   * @throws UnencodableError when the envelope cannot be encoded as JSON.
   */
  async stage(envelope: RecordEnvelope, bytes: Uint8Array = encodeEnvelope(envelope)): Promise<Uint8Array> {
    return this.stageNow(envelope, bytes);
  }

  /** `stage` without a promise when there is nothing to spill (the common case on a hot path). */
  stageNow(envelope: RecordEnvelope, bytes: Uint8Array = encodeEnvelope(envelope)): Uint8Array | Promise<Uint8Array> {
    if (bytes.byteLength <= this.thresholdBytes) return bytes;
    return this.spill(envelope, bytes);
  }

  /**
   * `stageNow` with the envelope encoded into a scratch buffer (`encodeJsonBytes`): a view valid until
   * the next encode, for a producer that copies it at once (`StreamProducer.addLine(…, true)`); a
   * spilled envelope's bytes are copied before anything is awaited.
   */
  stageScratch(envelope: RecordEnvelope): Uint8Array | Promise<Uint8Array> {
    const bytes = envelope.kind === 'result' ? encodeResultBytes(envelope) : encodeJsonBytes(envelope);
    if (bytes.byteLength <= this.thresholdBytes) return bytes;
    return this.spill(envelope, Buffer.from(bytes));
  }

  private async spill(envelope: RecordEnvelope, bytes: Uint8Array): Promise<Uint8Array> {
    if (envelope.kind === 'pointer')
      throw new RangeError('a pointer envelope is over the spill threshold: the threshold is too small');
    const sha256 = sha256Hex(bytes);
    const key = envelope.id
      ? LAYOUT.spillKey(this.prefix, envelope.id, envelope.kind)
      : `${this.prefix}unattributed/${sha256}.${envelope.kind}.json`;
    await this.store.put(this.bucket, key, bytes);
    this.spilled += 1;
    const pointer: PointerEnvelope = {
      v: 1,
      kind: 'pointer',
      id: envelope.id,
      of: envelope.kind,
      pointer: { bucket: this.bucket, key, size: bytes.byteLength, sha256 },
    };
    return encodeEnvelope(pointer);
  }

  /** Returns the envelope itself, or for a pointer the verified envelope it stands for. */
  async resolve(envelope: Envelope): Promise<Envelope> {
    if (envelope.kind !== 'pointer') return envelope;
    return (await this.open(envelope)).envelope;
  }

  /** The verified envelope a pointer stands for, with its bytes as they were spilled. */
  async open(envelope: PointerEnvelope): Promise<{ envelope: Envelope; bytes: Uint8Array }> {
    const bytes = await this.fetch(envelope.pointer);
    let inner: Envelope;
    try {
      inner = decodeEnvelope(bytes);
    } catch (error) {
      throw new PointerError(
        'invalid-envelope',
        `spilled object ${envelope.pointer.key} is not a valid envelope: ${(error as EnvelopeError).message}`,
      );
    }
    const sameId =
      envelope.id === undefined
        ? !('id' in inner) || inner.id === undefined
        : 'id' in inner && inner.id !== undefined && recordIdString(inner.id) === recordIdString(envelope.id);
    if (inner.kind !== envelope.of || !sameId) {
      throw new PointerError(
        'pointer-mismatch',
        `spilled object ${envelope.pointer.key} holds a ${inner.kind} envelope for another record than its pointer names`,
      );
    }
    return { envelope: inner, bytes };
  }

  /** Fetches a pointer's bytes, accepting only the configured bucket and prefix and verifying size and digest. */
  async fetch(pointer: Pointer): Promise<Uint8Array> {
    if (pointer.bucket !== this.bucket || !pointer.key.startsWith(this.prefix) || pointer.key.includes('..')) {
      throw new PointerError(
        'pointer-rejected',
        `pointer to s3://${pointer.bucket}/${pointer.key} is outside the spill location s3://${this.bucket}/${this.prefix}`,
      );
    }
    if (pointer.size > DEFAULTS.maxSpilledBytes) {
      throw new PointerError(
        'pointer-rejected',
        `pointer to ${pointer.key} claims ${pointer.size} bytes, over the ${DEFAULTS.maxSpilledBytes} a spilled record may have`,
      );
    }
    // The size is checked before the body is read, and the read is bounded by what the pointer
    // claims: a large object behind a pointer claiming a few bytes costs no more than those bytes.
    const object = await this.store.getAtMost(pointer.bucket, pointer.key, pointer.size);
    if (object === undefined) {
      throw new PointerError(
        'pointer-missing',
        `spilled object s3://${pointer.bucket}/${pointer.key} does not exist (expired or deleted?)`,
      );
    }
    const bytes = object.bytes;
    if (bytes === undefined || bytes.byteLength !== pointer.size) {
      throw new PointerError(
        'pointer-mismatch',
        `spilled object ${pointer.key} is ${object.size} bytes, its pointer says ${pointer.size}`,
      );
    }
    const digest = sha256Hex(bytes);
    if (digest !== pointer.sha256) {
      throw new PointerError(
        'pointer-mismatch',
        `spilled object ${pointer.key} has sha256 ${digest}, its pointer says ${pointer.sha256}`,
      );
    }
    return bytes;
  }
}
