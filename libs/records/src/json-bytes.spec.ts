import { encodeJsonBytes, encodeResultBytes, MAX_FAST_DEPTH } from './json-bytes';
import { UnencodableError } from './envelope';

const asStringify = (value: unknown) => Buffer.from(JSON.stringify(value) as string, 'utf8');
const long = (text: string, times = 40) => text.repeat(times);

describe('encodeJsonBytes', () => {
  it.each([
    [
      'an envelope with a long plain string',
      { v: 1, kind: 'result', id: { run: 'r', slice: 's', pos: 3 }, body: { notes: long('X', 1000) } },
    ],
    ['unicode, short and long', { short: 'café 😀', long: long('żółć 😀 ', 30), key: 'é' }],
    ['escapes in short strings', { q: 'say "hi"', b: 'a\\b', nl: 'a\nb', tab: '\t', nul: '\u0000', del: '\u007f' }],
    [
      'escapes in long strings, at each alignment',
      Object.fromEntries([0, 1, 2, 3, 4, 5].map((i) => [`k${i}`, `${'a'.repeat(60 + i)}"${'b'.repeat(10)}`])),
    ],
    ['a control character at the end of a long string', { s: `${'a'.repeat(63)}\u001f` }],
    ['a backslash at the start of a long string', { s: `\\${'a'.repeat(63)}` }],
    ['line and paragraph separators (not escaped by JSON)', { s: long('\u2028\u2029', 40) }],
    [
      'lone surrogates, short and long',
      { short: 'a\ud800b', long: `${'a'.repeat(60)}\udc00`, pair: long('\ud83d\ude00', 30) },
    ],
    ['escaped keys', { 'a"b': 1, 'new\nline': 2, [long('k', 60)]: 3, [`${long('k', 60)}"`]: 4 }],
    [
      'numbers',
      { n: [0, -0, 1.5, -2e-7, 1e21, Number.MAX_SAFE_INTEGER, Number.NaN, Number.POSITIVE_INFINITY, -1 / 0] },
    ],
    [
      'literals, undefined, functions and symbols',
      {
        t: true,
        f: false,
        n: null,
        u: undefined,
        fn: () => 1,
        s: Symbol('s'),
        a: [undefined, () => 1, Symbol('s'), null],
      },
    ],
    ['integer-like keys (ordered first, as JSON.stringify orders them)', { b: 1, 2: 'two', a: 3, 1: 'one' }],
    ['empty values', { o: {}, a: [], s: '', nested: [[], [{}]] }],
    ['an array with holes', Object.assign(new Array(3), { 0: 1, 2: 3 })],
    ['a top-level string', long('plain', 20)],
    ['a null-prototype object', Object.assign(Object.create(null), { a: 1, b: 'two' })],
    ['a Date (toJSON)', { at: new Date(0) }],
    ['an object with its own toJSON', { x: { toJSON: () => ({ replaced: true }) } }],
    [
      'an object whose toJSON is hidden (not enumerable)',
      { x: Object.defineProperty({ a: 1 }, 'toJSON', { value: () => 'hidden', enumerable: false }) },
    ],
    ['an array under an object prototype', { x: Object.setPrototypeOf([1, 2], Object.prototype) }],
    ['an object under the array prototype', { x: Object.create(Array.prototype) }],
    [
      'a class instance, a Map and a boxed string',
      {
        c: new (class Thing {
          a = 1;
        })(),
        m: new Map([[1, 2]]),
        s: new String('boxed'),
      },
    ],
    [
      'nesting deeper than the fast path follows',
      JSON.parse(`${'['.repeat(MAX_FAST_DEPTH + 5)}1${']'.repeat(MAX_FAST_DEPTH + 5)}`),
    ],
  ])('writes %s byte for byte as JSON.stringify does', (_name, value) => {
    expect(encodeJsonBytes(value).equals(asStringify(value))).toBe(true);
  });

  it('leaves a raw JSON value (JSON.rawJSON, Node 21 and later, so Lambda) to JSON.stringify', () => {
    // Node 20 has no JSON.rawJSON: stand in for the runtime's JSON.isRawJSON and JSON.stringify of one.
    const raw = Object.freeze(Object.assign(Object.create(null), { rawJSON: '12345678901234567890' }));
    const json = JSON as unknown as { isRawJSON?: (value: unknown) => boolean; stringify: typeof JSON.stringify };
    const { isRawJSON, stringify } = json;
    json.isRawJSON = (value) => value === raw || (isRawJSON?.(value) ?? false);
    json.stringify = ((value: unknown) => (value === raw ? raw.rawJSON : stringify(value))) as typeof JSON.stringify;
    try {
      expect(encodeJsonBytes(raw).toString()).toBe('12345678901234567890');
    } finally {
      json.isRawJSON = isRawJSON;
      json.stringify = stringify;
      if (!isRawJSON) delete json.isRawJSON;
    }
  });

  it('writes every string of random UTF-16 as JSON.stringify does', () => {
    let seed = 12345;
    const random = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed / 0x80000000;
    };
    // Mostly ASCII with quotes, backslashes, controls, non-ASCII and surrogates sprinkled in.
    const alphabet = ['a', 'Z', ' ', '"', '\\', '\n', '\u0001', '\u001f', '\u007f', 'é', '€', '\ud800', '\udfff', '😀'];
    for (let i = 0; i < 500; i++) {
      const length = Math.floor(random() * 200);
      let text = '';
      for (let j = 0; j < length; j++) text += random() < 0.9 ? 'x' : alphabet[Math.floor(random() * alphabet.length)];
      expect(encodeJsonBytes({ text }).toString('latin1')).toBe(asStringify({ text }).toString('latin1'));
    }
  });

  it('grows its buffer for a value larger than it, and still writes the next ones right', () => {
    for (const size of [200_000, 2_000_000]) {
      const big = { s: long('y', size), t: long('z', 100) };
      expect(encodeJsonBytes(big).equals(asStringify(big))).toBe(true);
      expect(encodeJsonBytes({ a: 1 }).toString()).toBe('{"a":1}');
      expect(encodeJsonBytes({ s: long('w', 1000) }).toString()).toBe(JSON.stringify({ s: long('w', 1000) }));
    }
  });

  it('throws UnencodableError for a BigInt, a cycle, nesting too deep for JSON.stringify or a getter that throws', () => {
    const cycle: Record<string, unknown> = { a: 1 };
    cycle.self = cycle;
    let deep: unknown = 1;
    for (let i = 0; i < 20_000; i++) deep = [deep];
    expect(() => encodeJsonBytes({ n: 1n })).toThrow(UnencodableError);
    expect(() => encodeJsonBytes(cycle)).toThrow(UnencodableError);
    expect(() => encodeJsonBytes(deep)).toThrow(UnencodableError);
    expect(() => encodeJsonBytes(undefined)).toThrow(UnencodableError);
    const throwing = {
      get notes(): string {
        throw new Error('not readable');
      },
    };
    expect(() => encodeJsonBytes({ v: 1, throwing })).toThrow(UnencodableError);
    expect(() =>
      encodeResultBytes({ v: 1, kind: 'result', id: { run: 'r', slice: 's', pos: 1 }, body: throwing }),
    ).toThrow(UnencodableError);
  });
});

describe('encodeResultBytes', () => {
  const result = (run: string, slice: string, pos: number, body: unknown) =>
    ({ v: 1, kind: 'result', id: { run, slice, pos }, body }) as const;

  it.each([
    ['a result', result('run-1', 's000001', 0, { to: 'a@b.c', notes: 'X'.repeat(2000) })],
    ['the next position of the same slice', result('run-1', 's000001', 1234567, { n: 1 })],
    ['another slice', result('run-1', 's000002', 7, 'text')],
    ['another run', result('run.2', 's000002', 7, [1, 'two', null])],
    ['a body with escapes and unicode', result('run.2', 's000002', 8, { q: '"é"\n', long: `${'ü'.repeat(60)}\u0001` })],
    ['a body of null', result('run.2', 's000002', 9, null)],
    ['a body left out (undefined)', result('run.2', 's000002', 10, undefined)],
    ['a body with a toJSON', result('run.2', 's000002', 11, { toJSON: () => 'replaced' })],
    ['a position that is not a small count', result('run.2', 's000002', 2 ** 40, 1)],
  ])('writes %s byte for byte as JSON.stringify does', (_name, envelope) => {
    expect(encodeResultBytes(envelope).toString()).toBe(JSON.stringify(envelope));
  });
});
