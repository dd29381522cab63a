/**
 * A deterministic example data set: mostly good customers of about 1 KB each, with a few rows that
 * exercise every path a real data set takes — long notes that spill, rows that are not JSON, rows
 * that fail the input schema and customers the transform rejects.
 */
export interface ExampleDataOptions {
  records: number;
  /** Bytes of filler per ordinary record (about 1 KB records by default). */
  recordBytes?: number;
  /** Every n-th record carries notes of `largeNotesBytes` (spilled). 0 turns it off. */
  largeEvery?: number;
  largeNotesBytes?: number;
  /** Every n-th record is not JSON. 0 turns it off. */
  malformedEvery?: number;
  /** Every n-th record has an invalid email. 0 turns it off. */
  invalidEvery?: number;
  /** Every n-th record is a blocked customer (rejected by the transform). 0 turns it off. */
  rejectedEvery?: number;
}

export const EXAMPLE_DEFAULTS = {
  records: 10_000,
  recordBytes: 1_000,
  largeEvery: 997,
  largeNotesBytes: 300 * 1024,
  malformedEvery: 499,
  invalidEvery: 701,
  rejectedEvery: 1_009,
} as const;

export type ExampleRowKind = 'good' | 'large' | 'malformed' | 'invalid' | 'rejected';

/** What row `i` is; one rule, used by the generator and by tests that predict the outcome. */
export function exampleRowKind(i: number, options: ExampleDataOptions): ExampleRowKind {
  const o = { ...EXAMPLE_DEFAULTS, ...options };
  const every = (n: number) => n > 0 && i % n === n - 1;
  if (every(o.malformedEvery)) return 'malformed';
  if (every(o.invalidEvery)) return 'invalid';
  if (every(o.rejectedEvery)) return 'rejected';
  if (every(o.largeEvery)) return 'large';
  return 'good';
}

const COUNTRIES = ['DE', 'FR', 'ES', 'IT', 'NL', 'GB', 'US', 'SE'];

export function exampleRow(i: number, options: ExampleDataOptions): string {
  const o = { ...EXAMPLE_DEFAULTS, ...options };
  const kind = exampleRowKind(i, options);
  const id = `c${String(i).padStart(9, '0')}`;
  const base = {
    customerId: id,
    name: `Customer ${i}`,
    email: `customer${i}@example.com`,
    country: COUNTRIES[i % COUNTRIES.length],
  };
  switch (kind) {
    case 'malformed':
      return `{"customerId": "${id}", "name": "broken row`;
    case 'invalid':
      return JSON.stringify({ ...base, email: 'not-an-email' });
    case 'rejected':
      return JSON.stringify({ ...base, email: `customer${i}@blocked.example` });
    case 'large':
      return JSON.stringify({ ...base, notes: 'n'.repeat(o.largeNotesBytes) });
    default: {
      const filler = Math.max(0, o.recordBytes - JSON.stringify(base).length - 12);
      return JSON.stringify({ ...base, notes: 'x'.repeat(filler) });
    }
  }
}

/** Streams the data set as NDJSON lines, never holding it whole. */
export function* exampleLines(options: ExampleDataOptions): Generator<string> {
  for (let i = 0; i < options.records; i++) yield `${exampleRow(i, options)}\n`;
}

/** What a complete run of the data set must report. */
export function expectedCounts(options: ExampleDataOptions): Record<ExampleRowKind, number> {
  const counts: Record<ExampleRowKind, number> = { good: 0, large: 0, malformed: 0, invalid: 0, rejected: 0 };
  for (let i = 0; i < options.records; i++) counts[exampleRowKind(i, options)] += 1;
  return counts;
}
