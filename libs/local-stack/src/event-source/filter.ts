import { EVENT_SOURCE_MAPPING } from '@pipeline/limits';
import { EventSourceMappingConfigError } from './errors';

/** FilterCriteria of CreateEventSourceMapping: filters are ORed; each Pattern is a JSON string. */
export interface FilterCriteria {
  filters: { pattern: string }[];
}

/** Decides whether Lambda would send a record (by its data) to the function. */
export type RecordFilter = (data: Uint8Array) => boolean;

type Pattern = { [key: string]: Pattern | unknown[] };

/**
 * Checks FilterCriteria as Lambda does for a Kinesis event source and returns the matcher.
 * "Kinesis event source mappings only support filtering on the data key" (with-kinesis-filtering.html):
 * a pattern on anything else (partitionKey, sequenceNumber…) is refused, as is a sixth filter
 * (invocation-eventfiltering.html: five per event source mapping by default).
 *
 * Matching covers the part of the pattern grammar the project could use: values listed as literals,
 * `{ "prefix": "…" }` and `{ "exists": true|false }`, nested objects. Anything else is refused as not
 * emulated rather than matched wrongly. A record whose data is not JSON matches no `data` pattern.
 */
export function compileFilterCriteria(criteria: FilterCriteria | undefined): RecordFilter | undefined {
  if (criteria === undefined) return undefined;
  const filters = criteria.filters ?? [];
  if (filters.length > EVENT_SOURCE_MAPPING.maxFilters)
    fail(
      `filterCriteria holds ${filters.length} filters; an event source mapping takes at most ${EVENT_SOURCE_MAPPING.maxFilters}`,
    );
  if (filters.length === 0) return undefined;
  const patterns = filters.map((f) => parsePattern(f.pattern));
  return (data) => {
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(data).toString('utf8'));
    } catch {
      return false;
    }
    return patterns.some((p) => matches(p, parsed));
  };
}

function parsePattern(text: string): Pattern {
  let pattern: unknown;
  try {
    pattern = JSON.parse(text);
  } catch {
    fail(`filter pattern ${text} is not JSON`);
  }
  if (!isObject(pattern)) fail(`filter pattern ${text} must be a JSON object`);
  const keys = Object.keys(pattern);
  const other = keys.filter((k) => k !== 'data');
  if (other.length > 0 || keys.length === 0)
    fail(
      `filter pattern ${text} filters on ${other.join(', ') || 'nothing'}: Kinesis event source mappings only support filtering on the data key (with-kinesis-filtering.html); select records in the handler instead`,
    );
  if (!isObject(pattern.data)) fail(`filter pattern ${text}: data must hold an object of fields to match`);
  checkRules(pattern.data as Pattern, text);
  return pattern.data as Pattern;
}

function checkRules(pattern: Pattern, text: string): void {
  for (const value of Object.values(pattern)) {
    if (isObject(value)) {
      checkRules(value as Pattern, text);
      continue;
    }
    if (!Array.isArray(value)) fail(`filter pattern ${text}: every field must list its values in an array`);
    for (const rule of value) {
      if (!isObject(rule)) continue;
      const [name, ...more] = Object.keys(rule);
      const known =
        (name === 'prefix' && typeof rule.prefix === 'string') ||
        (name === 'exists' && typeof rule.exists === 'boolean');
      if (!known || more.length > 0)
        fail(
          `filter pattern ${text}: the rule ${JSON.stringify(rule)} is not emulated locally (literals, prefix and exists are)`,
        );
    }
  }
}

function matches(pattern: Pattern, value: unknown): boolean {
  if (!isObject(value)) return false;
  return Object.entries(pattern).every(([key, rule]) => {
    const field = value[key];
    if (!Array.isArray(rule)) return matches(rule as Pattern, field);
    return rule.some((r) => {
      if (!isObject(r)) return r === field || (Array.isArray(field) && field.includes(r));
      if ('exists' in r) return (field !== undefined) === r.exists;
      return typeof field === 'string' && field.startsWith(r.prefix as string);
    });
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function fail(message: string): never {
  throw new EventSourceMappingConfigError(message);
}
