/**
 * S3 object keys as Firehose builds them: `<evaluated prefix><suffix>`, where the suffix is
 * `<stream name>-<stream version>-<yyyy>-<MM>-<dd>-<HH>-<mm>-<ss>-<uuid><file extension>`
 * (Firehose developer guide, "Configure Amazon S3 object name format" and "Custom prefixes").
 *
 * Prefix expressions are `!{namespace:value}`:
 * - `!{timestamp:<Java DateTimeFormatter pattern>}`: UTC arrival time of the oldest record in the
 *   object; every use in one prefix evaluates to the same instant;
 * - `!{firehose:random-string}`: 11 random characters, new for every use;
 * - `!{firehose:error-output-type}`: the kind of failure (ErrorOutputPrefix only);
 * - `!{partitionKeyFromQuery:<key>}`: a key extracted by dynamic partitioning.
 *
 * Pure functions: no clock, no randomness except what the caller passes in.
 */

export class PrefixSyntaxError extends Error {
  constructor(template: string, reason: string) {
    super(`${reason} in prefix ${JSON.stringify(template)}`);
    this.name = 'PrefixSyntaxError';
  }
}

type TimestampField = 'year' | 'month' | 'day' | 'hour' | 'minute' | 'second';
type TimestampToken = { text: string } | { field: TimestampField; width: number };

export type PrefixPart =
  | { kind: 'text'; text: string }
  | { kind: 'timestamp'; tokens: TimestampToken[] }
  | { kind: 'random' }
  | { kind: 'errorOutputType' }
  | { kind: 'partitionKey'; name: string };

/** What Firehose appends to a `Prefix` that has no timestamp expression. */
export const DEFAULT_TIME_PREFIX = '!{timestamp:yyyy/MM/dd/HH/}';

/** Length of `!{firehose:random-string}` (documented: "a random string of 11 characters"). */
export const RANDOM_STRING_LENGTH = 11;

// Java DateTimeFormatter letters this endpoint evaluates. 'Y' (week-based year) equals the calendar
// year except around New Year; it is accepted because prefixes in the wild use it for the year.
const PATTERN_LETTERS: Record<string, TimestampField> = {
  y: 'year',
  Y: 'year',
  u: 'year',
  M: 'month',
  d: 'day',
  H: 'hour',
  m: 'minute',
  s: 'second',
};

/**
 * Splits a prefix template into literal text and expressions.
 *
 * @example
 * parsePrefix('logs/!{timestamp:yyyy}/'); // [text 'logs/', timestamp yyyy, text '/']
 */
export function parsePrefix(template: string): PrefixPart[] {
  const parts: PrefixPart[] = [];
  let rest = template;
  while (rest.length > 0) {
    const start = rest.indexOf('!{');
    if (start < 0) {
      parts.push({ kind: 'text', text: rest });
      break;
    }
    if (start > 0) parts.push({ kind: 'text', text: rest.slice(0, start) });
    const end = rest.indexOf('}', start);
    if (end < 0) throw new PrefixSyntaxError(template, "'!{' without a closing '}'");
    const expression = rest.slice(start + 2, end);
    const colon = expression.indexOf(':');
    if (colon < 0) throw new PrefixSyntaxError(template, `expression !{${expression}} has no namespace`);
    parts.push(parseExpression(template, expression.slice(0, colon), expression.slice(colon + 1)));
    rest = rest.slice(end + 1);
  }
  return parts;
}

function parseExpression(template: string, namespace: string, value: string): PrefixPart {
  switch (namespace) {
    case 'timestamp':
      return { kind: 'timestamp', tokens: parseTimestampPattern(template, value) };
    case 'firehose':
      if (value === 'random-string') return { kind: 'random' };
      if (value === 'error-output-type') return { kind: 'errorOutputType' };
      throw new PrefixSyntaxError(
        template,
        `unknown firehose expression ${value} (use random-string or error-output-type)`,
      );
    case 'partitionKeyFromQuery':
      if (value === '') throw new PrefixSyntaxError(template, 'partitionKeyFromQuery without a key name');
      return { kind: 'partitionKey', name: value };
    case 'partitionKeyFromLambda':
      throw new PrefixSyntaxError(
        template,
        'partitionKeyFromLambda is not supported by the local Firehose (no Lambda processor)',
      );
    default:
      throw new PrefixSyntaxError(template, `unknown namespace ${namespace}`);
  }
}

function parseTimestampPattern(template: string, pattern: string): TimestampToken[] {
  const tokens: TimestampToken[] = [];
  let i = 0;
  while (i < pattern.length) {
    const ch = pattern[i];
    if (ch === "'") {
      // Quoted literal; '' inside or outside quotes is one quote character.
      let j = i + 1;
      let text = '';
      for (;;) {
        if (j >= pattern.length)
          throw new PrefixSyntaxError(template, `unterminated quote in timestamp pattern ${pattern}`);
        if (pattern[j] === "'") {
          if (pattern[j + 1] === "'") {
            text += "'";
            j += 2;
            continue;
          }
          break;
        }
        text += pattern[j];
        j += 1;
      }
      tokens.push({ text: j === i + 1 ? "'" : text });
      i = j + 1;
    } else if (/[A-Za-z]/.test(ch)) {
      const field = PATTERN_LETTERS[ch];
      if (!field)
        throw new PrefixSyntaxError(
          template,
          `timestamp pattern letter '${ch}' is not supported locally (use y, M, d, H, m, s)`,
        );
      let width = 1;
      while (pattern[i + width] === ch) width += 1;
      if (field !== 'year' && width > 2) {
        throw new PrefixSyntaxError(
          template,
          `timestamp pattern '${ch.repeat(width)}' is not supported locally (use at most two letters)`,
        );
      }
      tokens.push({ field, width });
      i += width;
    } else {
      tokens.push({ text: ch });
      i += 1;
    }
  }
  return tokens;
}

function formatTimestamp(tokens: TimestampToken[], time: number): string {
  const date = new Date(time);
  const values: Record<TimestampField, number> = {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    hour: date.getUTCHours(),
    minute: date.getUTCMinutes(),
    second: date.getUTCSeconds(),
  };
  return tokens
    .map((token) => {
      if ('text' in token) return token.text;
      const value = values[token.field];
      // DateTimeFormatter: 'yy' is the two-digit year; other widths pad to at least the width.
      if (token.field === 'year' && token.width === 2) return String(value % 100).padStart(2, '0');
      return String(value).padStart(token.width, '0');
    })
    .join('');
}

export function hasTimestamp(parts: readonly PrefixPart[]): boolean {
  return parts.some((part) => part.kind === 'timestamp');
}

export function hasExpressions(parts: readonly PrefixPart[]): boolean {
  return parts.some((part) => part.kind !== 'text');
}

export function partitionKeyNames(parts: readonly PrefixPart[]): string[] {
  return parts.flatMap((part) => (part.kind === 'partitionKey' ? [part.name] : []));
}

export interface PrefixContext {
  /** Epoch ms: approximate arrival time of the oldest record in the object. */
  time: number;
  partitionKeys?: Readonly<Record<string, string>>;
  errorOutputType?: string;
  randomString: () => string;
}

/**
 * Evaluates a parsed prefix.
 *
 * @example
 * evaluatePrefix(parsePrefix('p/!{timestamp:yyyy/MM}/'), { time: Date.UTC(2024, 0, 2), randomString: () => 'x' }); // 'p/2024/01/'
 */
export function evaluatePrefix(parts: readonly PrefixPart[], context: PrefixContext): string {
  return parts
    .map((part) => {
      switch (part.kind) {
        case 'text':
          return part.text;
        case 'timestamp':
          return formatTimestamp(part.tokens, context.time);
        case 'random':
          return context.randomString();
        case 'errorOutputType':
          if (context.errorOutputType === undefined)
            throw new Error('error-output-type evaluated outside the error output prefix');
          return context.errorOutputType;
        case 'partitionKey': {
          const value = context.partitionKeys?.[part.name];
          if (value === undefined) throw new Error(`partition key ${part.name} has no value`);
          return value;
        }
        default:
          throw new Error(`unknown prefix part ${JSON.stringify(part satisfies never)}`);
      }
    })
    .join('');
}

const SUFFIX_TIME = parseTimestampPattern('', 'yyyy-MM-dd-HH-mm-ss');

/**
 * The fixed part of every object key Firehose writes.
 *
 * @example
 * objectKeySuffix({ streamName: 's', version: '1', time: Date.UTC(2024, 0, 2, 3, 4, 5), uuid: 'u', extension: '.gz' });
 * // 's-1-2024-01-02-03-04-05-u.gz'
 */
export function objectKeySuffix(input: {
  streamName: string;
  version: string;
  time: number;
  uuid: string;
  extension: string;
}): string {
  return `${input.streamName}-${input.version}-${formatTimestamp(SUFFIX_TIME, input.time)}-${input.uuid}${input.extension}`;
}
