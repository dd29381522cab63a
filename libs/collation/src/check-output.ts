import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import type { ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { idOfLine, parseDeadLetterKey } from './collate';

/** What one slice should have: its positions 0..read-1, each delivered or dead-lettered. */
export interface ExpectedSlice {
  slice: string;
  read: number;
}

export interface SliceOutput {
  slice: string;
  read: number;
  /** Distinct positions found, delivered or dead-lettered. */
  found: number;
  /** The first missing positions (at most `missingShown`). */
  missing: number[];
}

/** What is readable of a run's output, slice by slice. */
export interface OutputCheck {
  runId: string;
  /** Every position of every slice is there: read = delivered + dead-lettered, by distinct id. */
  conserved: boolean;
  read: number;
  /** Distinct ids delivered (in result objects under the delivery prefix). */
  delivered: number;
  /** Distinct ids dead-lettered and not delivered. */
  deadLettered: number;
  /** Ids of this run that belong to no planned position (another slice, or past the slice's count). */
  unexpected: number;
  slices: SliceOutput[];
  /** Result objects read, `.gz` ones included. */
  objects: number;
}

export interface CheckOutputOptions {
  store: ObjectStore;
  bucket: string;
  runId: string;
  expected: ExpectedSlice[];
  /** How many missing positions to name per slice. */
  missingShown?: number;
}

const DEFAULT_MISSING_SHOWN = 10;

/**
 * Checks that a run's output is readable where the user reads it: every position of every slice
 * is delivered (under `results/run=<run>/`, plain or `.gz` as Firehose writes with GZIP) or
 * dead-lettered, by distinct id. Memory is one bit per position read (100 million records:
 * 12.5 MB), whatever the number of duplicates Firehose's at-least-once delivery left.
 *
 * @example
 * const check = await checkOutput({ store, bucket, runId, expected: [{ slice: 's000000', read: 1000 }] });
 * if (!check.conserved) console.log(check.slices.filter((s) => s.found < s.read));
 */
export async function checkOutput(options: CheckOutputOptions): Promise<OutputCheck> {
  const { store, bucket, runId } = options;
  const seen = new Map(options.expected.map((e) => [e.slice, { read: e.read, bits: new Bits(e.read) }]));
  const delivered = new Map(options.expected.map((e) => [e.slice, new Bits(e.read)]));
  let unexpected = 0;
  const mark = (id: string, isResult: boolean) => {
    const position = positionOf(runId, id);
    const slice = position && seen.get(position.slice);
    if (!position || !slice || position.pos >= slice.read) {
      unexpected += 1;
      return;
    }
    slice.bits.set(position.pos);
    if (isResult) delivered.get(position.slice)?.set(position.pos);
  };

  let objects = 0;
  for await (const object of store.list(bucket, LAYOUT.resultsPrefix(runId))) {
    objects += 1;
    let body: Readable = await store.stream(bucket, object.key);
    if (object.key.endsWith('.gz')) body = body.pipe(createGunzip());
    for await (const line of createInterface({ input: body, crlfDelay: Infinity })) {
      if (line) mark(idOfLine(line), true);
    }
  }
  for await (const object of store.list(bucket, LAYOUT.deadLettersPrefix(runId))) {
    const letter = parseDeadLetterKey(runId, object.key);
    if (letter) mark(letter.id, false);
  }

  const shown = options.missingShown ?? DEFAULT_MISSING_SHOWN;
  const slices: SliceOutput[] = [...seen].map(([slice, { read, bits }]) => ({
    slice,
    read,
    found: bits.count(),
    missing: bits.firstUnset(shown),
  }));
  const read = slices.reduce((sum, s) => sum + s.read, 0);
  const found = slices.reduce((sum, s) => sum + s.found, 0);
  const deliveredCount = [...delivered.values()].reduce((sum, bits) => sum + bits.count(), 0);
  return {
    runId,
    conserved: found === read,
    read,
    delivered: deliveredCount,
    deadLettered: found - deliveredCount,
    unexpected,
    slices,
    objects,
  };
}

function positionOf(runId: string, id: string): { slice: string; pos: number } | undefined {
  const prefix = `${runId}/`;
  if (!id.startsWith(prefix)) return undefined;
  const rest = id.slice(prefix.length);
  const at = rest.lastIndexOf('/');
  if (at <= 0) return undefined;
  const pos = Number(rest.slice(at + 1));
  if (!Number.isInteger(pos) || pos < 0) return undefined;
  return { slice: rest.slice(0, at), pos };
}

/** A fixed-size bit set. */
class Bits {
  private readonly words: Uint32Array;

  constructor(private readonly size: number) {
    this.words = new Uint32Array(Math.ceil(size / 32));
  }

  set(i: number): void {
    this.words[i >>> 5] |= 1 << (i & 31);
  }

  has(i: number): boolean {
    return (this.words[i >>> 5] & (1 << (i & 31))) !== 0;
  }

  count(): number {
    let n = 0;
    for (let w of this.words) {
      while (w) {
        w &= w - 1;
        n += 1;
      }
    }
    return n;
  }

  firstUnset(limit: number): number[] {
    const out: number[] = [];
    for (let i = 0; i < this.size && out.length < limit; i++) if (!this.has(i)) out.push(i);
    return out;
  }
}
