import { planByteRanges, type ByteRangeSlice } from '@pipeline/slices';
import type { ObjectSource } from '../object-source';

/** A seeded generator, so generated data is the same on every run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

/** One-, two-, three- and four-byte UTF-8 characters. */
const ALPHABET = ['a', 'b', 'z', '0', ' ', ',', 'é', 'ß', '日', '本', '€', '😀', '𝄞'];

/** `count` lines of 1 to `maxChars` characters (so never blank), mixing characters of every UTF-8 width. */
export function generateLines(count: number, maxChars: number, seed: number): string[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, n) => {
    const length = 1 + Math.floor(random() * maxChars);
    let line = `${n}:`;
    for (let i = 0; i < length; i++) line += ALPHABET[Math.floor(random() * ALPHABET.length)];
    return line;
  });
}

/**
 * An object's text and the non-blank lines it holds: lines end in LF or CRLF at random, blank lines
 * (empty, CR only or spaces) fall between them, and the last line may lack its newline.
 */
export function generateText(count: number, maxChars: number, seed: number): { text: string; lines: string[] } {
  const random = seededRandom(seed);
  const lines = generateLines(count, maxChars, seed + 1);
  const blanks = ['\n', '\r\n', '  \n'];
  let text = '';
  lines.forEach((line, i) => {
    if (random() < 0.15) text += blanks[Math.floor(random() * blanks.length)];
    const last = i === lines.length - 1;
    text += line + (last && random() < 0.5 ? '' : random() < 0.5 ? '\r\n' : '\n');
  });
  return { text, lines };
}

export function byteLength(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/** The plan for one object, as the reader would make it. */
export function sliceObject(bucket: string, key: string, size: number, sliceBytes: number): ByteRangeSlice[] {
  return planByteRanges([{ bucket, key, size }], { sliceBytes });
}

export async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = [];
  for await (const item of items) all.push(item);
  return all;
}

/** The same source, re-cut into chunks of `size` bytes: every split a network could make. */
export function rechunked(source: ObjectSource, size: number): ObjectSource {
  return {
    list: (bucket, prefix) => source.list(bucket, prefix),
    async getRange(bucket, key, start, endInclusive) {
      const body = await source.getRange(bucket, key, start, endInclusive);
      return (async function* () {
        for await (const chunk of body) {
          for (let i = 0; i < chunk.length; i += size) yield chunk.subarray(i, i + size);
        }
      })();
    },
  };
}

/** The same source, recording every range asked for. */
export function recorded(source: ObjectSource): { source: ObjectSource; ranges: [number, number][] } {
  const ranges: [number, number][] = [];
  return {
    ranges,
    source: {
      list: (bucket, prefix) => source.list(bucket, prefix),
      getRange(bucket, key, start, endInclusive) {
        ranges.push([start, endInclusive]);
        return source.getRange(bucket, key, start, endInclusive);
      },
    },
  };
}

/** `fn` over `items` with at most `limit` running at once, results in input order (as the reader would run slices). */
export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      results[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return results;
}
