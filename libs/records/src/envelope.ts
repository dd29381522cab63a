import { z } from 'zod';
import { IDS, KINESIS } from '@pipeline/limits';

/**
 * The versioned envelope every record travels in, on both streams.
 *
 * - `data`: one record read from the source, on the records stream.
 * - `result`: the processor's output for one data record, on the results stream.
 * - `dead-letter`: a record that cannot be handled, with its reason and stage.
 * - `end-of-slice`: a control record the reader puts after every record of a slice was acknowledged;
 *   it follows its slice through both streams on the same partition key.
 * - `pointer`: a stand-in for an envelope too large for the stream, whose bytes are in the spill bucket.
 */
export const ENVELOPE_VERSION = 1 as const;

const safeId = /^[A-Za-z0-9._=-]+$/;

export const RunIdSchema = z
  .string()
  .min(1)
  .max(IDS.maxRunIdLength)
  .regex(safeId, 'a run id may hold only letters, digits and . _ = -');
export const SliceIdSchema = z
  .string()
  .min(1)
  .max(IDS.maxSliceIdLength)
  .regex(safeId, 'a slice id may hold only letters, digits and . _ = -');

/** A record's deterministic identity: the same source row always gets the same id. */
export const RecordIdSchema = z.object({
  run: RunIdSchema,
  slice: SliceIdSchema,
  pos: z.number().int().nonnegative(),
});
export type RecordId = z.infer<typeof RecordIdSchema>;

/** Where a dead letter was made. */
export const STAGES = ['reader', 'processor', 'writer', 'event-source'] as const;
export type Stage = (typeof STAGES)[number];

/** Reasons a record is dead-lettered; each names a cause a user can fix. */
export const DEAD_LETTER_REASONS = [
  'malformed-row', // the source row could not be parsed
  'invalid-envelope', // bytes on a stream that are not a valid envelope
  'invalid-input', // the row parsed but failed the job's input schema
  'transform-failed', // the job's transform rejected the record for good
  'invalid-result', // the transform returned something that fails the job's result schema
  'pointer-rejected', // a pointer outside the configured spill bucket or prefix
  'pointer-mismatch', // a spilled object whose size or digest differs from its pointer
  'pointer-missing', // a pointer whose object does not exist
  'retries-exhausted', // a transient failure that outlasted its bounded attempts
  'unencodable', // a row or result that cannot be encoded as JSON (nested too deeply for JSON.stringify)
  'rejected-marker', // an end-of-slice marker that cannot be true: wrong partition key, unknown or unread slice, wrong count
  'forged-record', // a record claiming a run's id that the run's reader did not seal, or of a run with no manifest
] as const;
export type DeadLetterReason = (typeof DEAD_LETTER_REASONS)[number];

export const PointerSchema = z.object({
  bucket: z.string().min(3).max(63),
  key: z.string().min(1).max(1024),
  size: z.number().int().nonnegative(),
  sha256: z.string().regex(/^[0-9a-f]{64}$/, 'sha256 must be 64 lowercase hex digits'),
});
export type Pointer = z.infer<typeof PointerSchema>;

/** Where a record sat on a stream, for dead letters of records whose envelope could not be read. */
export const OriginSchema = z.object({
  stream: z.string().optional(),
  partitionKey: z.string(),
  sequenceNumber: z.string(),
  /** The line within a packed record, when it is not the first. */
  line: z.number().int().positive().optional(),
});
export type Origin = z.infer<typeof OriginSchema>;

const base = { v: z.literal(ENVELOPE_VERSION) };

export const DataEnvelopeSchema = z.object({ ...base, kind: z.literal('data'), id: RecordIdSchema, body: z.unknown() });
export const ResultEnvelopeSchema = z.object({
  ...base,
  kind: z.literal('result'),
  id: RecordIdSchema,
  body: z.unknown(),
});
export const DeadLetterEnvelopeSchema = z.object({
  ...base,
  kind: z.literal('dead-letter'),
  /** Absent only when the record's envelope itself was unreadable; then `origin` says where it was. */
  id: RecordIdSchema.optional(),
  origin: OriginSchema.optional(),
  /** For a letter without an id (a rejected marker, a forged record): the run it claimed, to file it under. */
  run: RunIdSchema.optional(),
  stage: z.enum(STAGES),
  reason: z.enum(DEAD_LETTER_REASONS),
  message: z.string(),
  /** The record as it was when it failed: a raw row, an envelope, a pointer or undecodable bytes (base64). */
  payload: z.unknown(),
  attempts: z.number().int().positive().optional(),
});
export const EndOfSliceEnvelopeSchema = z.object({
  ...base,
  kind: z.literal('end-of-slice'),
  run: RunIdSchema,
  slice: SliceIdSchema,
  /** Positions read in the slice: every one of them is a data record or a reader dead letter. */
  count: z.number().int().nonnegative(),
});
export const PointerEnvelopeSchema = z.object({
  ...base,
  kind: z.literal('pointer'),
  /** Absent only for a dead letter of an unreadable envelope, which has no id either. */
  id: RecordIdSchema.optional(),
  /** The kind of envelope whose bytes the pointer stands for. */
  of: z.enum(['data', 'result', 'dead-letter']),
  pointer: PointerSchema,
});

export const EnvelopeSchema = z.discriminatedUnion('kind', [
  DataEnvelopeSchema,
  ResultEnvelopeSchema,
  DeadLetterEnvelopeSchema,
  EndOfSliceEnvelopeSchema,
  PointerEnvelopeSchema,
]);

export type DataEnvelope = z.infer<typeof DataEnvelopeSchema>;
export type ResultEnvelope = z.infer<typeof ResultEnvelopeSchema>;
export type DeadLetterEnvelope = z.infer<typeof DeadLetterEnvelopeSchema>;
export type EndOfSliceEnvelope = z.infer<typeof EndOfSliceEnvelopeSchema>;
export type PointerEnvelope = z.infer<typeof PointerEnvelopeSchema>;
export type Envelope = z.infer<typeof EnvelopeSchema>;
/** Envelopes that stand for one record (everything but control records). */
export type RecordEnvelope = DataEnvelope | ResultEnvelope | DeadLetterEnvelope | PointerEnvelope;

/** Thrown when bytes are not a valid envelope; the message says what is wrong. */
export class EnvelopeError extends Error {
  override readonly name = 'EnvelopeError';
}

/** `run/slice/pos`: the id's one string form, used in output lines and object keys. */
export function recordIdString(id: RecordId): string {
  return `${id.run}/${id.slice}/${id.pos}`;
}

export function parseRecordIdString(text: string): RecordId {
  const parts = text.split('/');
  if (parts.length !== 3) throw new EnvelopeError(`record id "${text}" is not run/slice/pos`);
  const parsed = RecordIdSchema.safeParse({ run: parts[0], slice: parts[1], pos: Number(parts[2]) });
  if (!parsed.success) throw new EnvelopeError(`record id "${text}" is invalid: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

/** Every record of one slice shares a partition key, so the slice keeps its order on one shard. */
export function partitionKeyOf(run: string, slice: string): string {
  const key = `${run}/${slice}`;
  if (key.length > KINESIS.maxPartitionKeyLength) {
    throw new EnvelopeError(
      `partition key for run ${run} slice ${slice} exceeds ${KINESIS.maxPartitionKeyLength} characters`,
    );
  }
  return key;
}

/** Reads a partition key back into run and slice; undefined when it is not one of ours. */
export function parsePartitionKey(key: string): { run: string; slice: string } | undefined {
  const [run, slice, ...rest] = key.split('/');
  if (rest.length || !RunIdSchema.safeParse(run).success || !SliceIdSchema.safeParse(slice).success) return undefined;
  return { run, slice };
}

/** Where line `line` of a stream record was. */
export function originOf(
  record: { eventSourceARN?: string; kinesis: { partitionKey: string; sequenceNumber: string } },
  line = 0,
): Origin {
  return {
    stream: record.eventSourceARN,
    partitionKey: record.kinesis.partitionKey,
    sequenceNumber: record.kinesis.sequenceNumber,
    ...(line > 0 ? { line } : {}),
  };
}

export function envelopeRun(envelope: Envelope): string | undefined {
  return envelope.kind === 'end-of-slice' ? envelope.run : envelope.id?.run;
}

const decoder = new TextDecoder('utf-8', { fatal: true });

/** An envelope that cannot be encoded as JSON: deterministic, so its record is dead-lettered as `unencodable`. */
export class UnencodableError extends Error {
  override readonly name = 'UnencodableError';
}

export function encodeEnvelope(envelope: Envelope): Uint8Array {
  // Buffer.from takes small strings from a shared pool: less garbage than a TextEncoder's arrays.
  return Buffer.from(encodeEnvelopeText(envelope), 'utf8');
}

/** The envelope's JSON text: for a producer that packs text lines and encodes a whole record at once. */
export function encodeEnvelopeText(envelope: Envelope): string {
  try {
    return JSON.stringify(envelope);
  } catch (error) {
    // JSON.stringify recurses: a value nested a few thousand levels deep exhausts the stack (RangeError);
    // a BigInt or a cycle is a TypeError. Neither passes on a retry.
    throw new UnencodableError(`cannot be encoded as JSON: ${(error as Error).message}`);
  }
}

/** Validates an envelope built in code: a bug, not bad input, if it fails. */
export function checkEnvelope(envelope: unknown): Envelope {
  const parsed = EnvelopeSchema.safeParse(envelope);
  if (!parsed.success) throw new EnvelopeError(`invalid envelope: ${formatIssues(parsed.error)}`);
  return parsed.data;
}

export function decodeEnvelope(bytes: Uint8Array): Envelope {
  let text: string;
  try {
    text = decoder.decode(bytes);
  } catch {
    throw new EnvelopeError('envelope is not valid UTF-8');
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new EnvelopeError(`envelope is not JSON: ${(error as Error).message}`);
  }
  if (typeof json === 'object' && json !== null && 'v' in json && json.v !== ENVELOPE_VERSION) {
    throw new EnvelopeError(`envelope version ${String(json.v)} is not supported (expected ${ENVELOPE_VERSION})`);
  }
  return checkEnvelope(json);
}

export function formatIssues(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((issue) => `${issue.path.length ? issue.path.join('.') : '(root)'}: ${issue.message}`)
    .join('; ');
}
