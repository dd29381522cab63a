import type { ByteRangeSlice } from '@pipeline/slices';
import { SOURCE_LIMITS } from './limits';
import type { ObjectSource } from './object-source';

/**
 * One line a slice owns: its text, or why it could not be read. `pos` is its ordinal in the slice.
 */
export type SliceLine =
  | { pos: number; ok: true; line: string }
  | { pos: number; ok: false; error: string; raw: string };

export interface ReadLinesOptions {
  /** Longest line read as text; longer lines become error entries. Default `SOURCE_LIMITS.maxLineBytes`. */
  maxLineBytes?: number;
  /**
   * Drop the object's first line (a CSV header) without giving it a position. Only the slice that
   * starts at byte 0 owns that line, so for other slices this changes nothing.
   */
  skipHeaderLine?: boolean;
}

/** The bytes read do not match the slice: the object changed since the run was planned, or the read broke off. */
export class SourceReadError extends Error {
  override readonly name = 'SourceReadError';
}

const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const BOM = [0xef, 0xbb, 0xbf];
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });
const lossyUtf8 = new TextDecoder('utf-8');

/**
 * Streams the lines a byte-range slice owns: every line whose first byte lies in `[start, end)`.
 *
 * - A slice that starts past byte 0 reads from `start - 1` and drops everything through the first
 *   newline: that is the previous slice's last line (or, when byte `start - 1` is a newline, nothing).
 * - The last owned line may run past `end`: the reader keeps reading in windows (the first
 *   `SOURCE_LIMITS.overrunWindowBytes`, each next one twice as large) until that line ends or the object does.
 * - Lines end at `\n`; a `\r` before it is dropped (CRLF); the last line needs no newline; a UTF-8
 *   byte-order mark at byte 0 is dropped. Lines are split on bytes and decoded whole, so a
 *   multi-byte character split across network chunks is decoded intact.
 * - Blank lines (only whitespace) are skipped and take no position, so `pos` counts the slice's
 *   non-blank lines from 0. Positions depend only on the object's bytes and the slice's range, so
 *   two reads of an unchanged object give the same positions.
 * - A line longer than `maxLineBytes`, or one that is not valid UTF-8, takes a position as an error
 *   entry (`ok: false`) with a reason and the start of its text; nothing longer is ever held.
 *
 * Memory: at most one line (≤ `maxLineBytes`) and the chunk being read, however large the slice.
 *
 * @throws SourceReadError when the object returns fewer or more bytes than the slice expects.
 * @example
 * for await (const entry of readSliceLines(s3ObjectSource(client), slice)) {
 *   if (entry.ok) console.log(entry.pos, entry.line);
 * }
 */
export async function* readSliceLines(
  source: ObjectSource,
  slice: ByteRangeSlice,
  opts: ReadLinesOptions = {},
): AsyncIterable<SliceLine> {
  const maxLineBytes = opts.maxLineBytes ?? SOURCE_LIMITS.maxLineBytes;
  const { bucket, key, start, end, objectSize } = slice;
  const where = `s3://${bucket}/${key}`;
  if (!(Number.isSafeInteger(start) && Number.isSafeInteger(end) && 0 <= start && start < end && end <= objectSize)) {
    throw new SourceReadError(
      `slice ${slice.id} of ${where} has byte range [${start}, ${end}) outside an object of ${objectSize} bytes`,
    );
  }

  /** Absolute offset of the next byte to arrive. */
  let offset = start > 0 ? start - 1 : 0;
  /** Absolute offset where the line being read began; undefined while skipping to the next newline. */
  let lineStart: number | undefined = start > 0 ? undefined : 0;
  let parts: Uint8Array[] = [];
  let lineBytes = 0;
  let pos = 0;
  let finished = false;

  const finishLine = (): SliceLine | undefined => {
    const at = lineStart as number;
    const bytes = trimLine(concat(parts, lineBytes), at === 0);
    parts = [];
    lineBytes = 0;
    if (opts.skipHeaderLine && at === 0) return undefined;
    let line: string;
    try {
      line = strictUtf8.decode(bytes);
    } catch {
      return {
        pos: pos++,
        ok: false,
        error: `line at byte ${at} of ${where} is not valid UTF-8`,
        raw: lossyUtf8.decode(bytes),
      };
    }
    if (line.trim() === '') return undefined;
    return { pos: pos++, ok: true, line };
  };

  /** A line that outgrew the bound: report it now, keep only a preview, skip the rest of it. */
  const abandonLine = (more: Uint8Array): SliceLine | undefined => {
    const at = lineStart as number;
    const preview = head([...parts, more], SOURCE_LIMITS.rawPreviewBytes);
    parts = [];
    lineBytes = 0;
    lineStart = undefined;
    if (opts.skipHeaderLine && at === 0) return undefined;
    return {
      pos: pos++,
      ok: false,
      error: `line at byte ${at} of ${where} is longer than ${maxLineBytes} bytes: split it, or raise maxLineBytes`,
      raw: lossyUtf8.decode(preview),
    };
  };

  function* consume(chunk: Uint8Array): Generator<SliceLine> {
    const base = offset;
    let i = 0;
    while (i < chunk.length && !finished) {
      const newline = chunk.indexOf(NEWLINE, i);
      if (lineStart === undefined) {
        // Past the end nothing more is owned: a line starting here would belong to the next slice.
        if (base + i >= end || newline === -1) {
          finished = base + i >= end;
          return;
        }
        i = newline + 1;
      } else {
        const stop = newline === -1 ? chunk.length : newline;
        const room = maxLineBytes - lineBytes;
        if (stop - i > room) {
          const entry = abandonLine(chunk.subarray(i, stop));
          if (entry) yield entry;
          i += room + 1; // the first byte over the bound; skipping goes on from there
          continue;
        }
        parts.push(chunk.subarray(i, stop));
        lineBytes += stop - i;
        if (newline === -1) return;
        const entry = finishLine();
        if (entry) yield entry;
        i = newline + 1;
      }
      lineStart = base + i;
      if (lineStart >= end) finished = true;
    }
  }

  const read = async function* (last: number): AsyncGenerator<SliceLine> {
    const from = offset;
    for await (const chunk of await source.getRange(bucket, key, from, last)) {
      yield* consume(chunk);
      offset += chunk.length;
      if (finished) return; // leaving the loop closes the body: the rest is never downloaded
      if (offset > last + 1) {
        throw new SourceReadError(
          `${where} returned more than bytes ${from}-${last}: the object changed since the run was planned, plan a new run`,
        );
      }
    }
    if (offset !== last + 1) {
      throw new SourceReadError(
        `${where} returned ${offset - from} of bytes ${from}-${last}: the object changed since the run was planned or the read broke off`,
      );
    }
  };

  yield* read(end - 1);
  // A slice still skipping at its end owns no more lines; one inside a line reads on to finish it.
  if (lineStart === undefined) finished = true;
  let window: number = SOURCE_LIMITS.overrunWindowBytes;
  while (!finished && offset < objectSize) {
    yield* read(Math.min(offset + window, objectSize) - 1);
    window *= 2;
  }
  // The object's last line needs no newline.
  if (!finished && lineStart !== undefined && lineStart < objectSize) {
    const entry = finishLine();
    if (entry) yield entry;
  }
}

function concat(parts: Uint8Array[], length: number): Uint8Array {
  if (parts.length === 1) return parts[0];
  const bytes = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    bytes.set(part, at);
    at += part.length;
  }
  return bytes;
}

/** The first `limit` bytes of `parts`, copied. */
function head(parts: Uint8Array[], limit: number): Uint8Array {
  const bytes = new Uint8Array(
    Math.min(
      limit,
      parts.reduce((n, p) => n + p.length, 0),
    ),
  );
  let at = 0;
  for (const part of parts) {
    if (at === bytes.length) break;
    const take = part.subarray(0, bytes.length - at);
    bytes.set(take, at);
    at += take.length;
  }
  return bytes;
}

/** Drops a trailing CR and, at the object's first byte, a UTF-8 byte-order mark. */
export function trimLine(bytes: Uint8Array, atObjectStart: boolean): Uint8Array {
  let from = 0;
  let to = bytes.length;
  if (atObjectStart && to >= BOM.length && BOM.every((b, i) => bytes[i] === b)) from = BOM.length;
  if (to > from && bytes[to - 1] === CARRIAGE_RETURN) to--;
  return bytes.subarray(from, to);
}
