/**
 * The subset of jq that Firehose's inline dynamic partitioning (`MetadataExtraction` processor) is
 * mostly used with: an object of simple paths, `{customer: .customer_id, device: .type.device}`.
 *
 * Anything richer (pipes, functions such as `strftime`) is refused when the stream is created, so
 * a configuration the local endpoint cannot evaluate fails loudly instead of partitioning wrongly.
 */

/** Partition key name → path of field names into the record's JSON. */
export type MetadataQuery = ReadonlyMap<string, readonly string[]>;

export class UnsupportedMetadataQueryError extends Error {
  constructor(query: string, reason: string) {
    super(
      `the local Firehose supports MetadataExtractionQuery only of the form {name: .field, other: .a.b}; ` +
        `${reason} in ${JSON.stringify(query)}`,
    );
    this.name = 'UnsupportedMetadataQueryError';
  }
}

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*/;
const QUOTED = /^"((?:[^"\\]|\\.)*)"/;

/**
 * Parses `{name: .a.b, "other": ."x-y"}`.
 *
 * @example
 * parseMetadataQuery('{run: .id.run}'); // Map { 'run' => ['id', 'run'] }
 */
export function parseMetadataQuery(query: string): MetadataQuery {
  let rest = query.trim();
  const fail = (reason: string): never => {
    throw new UnsupportedMetadataQueryError(query, reason);
  };
  const skipSpace = () => {
    rest = rest.replace(/^\s+/, '');
  };
  const name = (): string => {
    const quoted = QUOTED.exec(rest);
    if (quoted) {
      rest = rest.slice(quoted[0].length);
      return JSON.parse(quoted[0]) as string;
    }
    const ident = IDENT.exec(rest);
    if (!ident) return fail(`expected a name at ${JSON.stringify(rest.slice(0, 20))}`);
    rest = rest.slice(ident[0].length);
    return ident[0];
  };

  if (!rest.startsWith('{')) fail('expected an object');
  rest = rest.slice(1);
  const keys = new Map<string, string[]>();
  skipSpace();
  while (!rest.startsWith('}')) {
    const key = name();
    skipSpace();
    if (!rest.startsWith(':')) fail(`expected ':' after ${key}`);
    rest = rest.slice(1);
    skipSpace();
    const path: string[] = [];
    while (rest.startsWith('.')) {
      rest = rest.slice(1);
      path.push(name());
    }
    if (path.length === 0) fail(`expected a path such as .field for ${key}`);
    if (keys.has(key)) fail(`duplicate key ${key}`);
    keys.set(key, path);
    skipSpace();
    if (rest.startsWith(',')) {
      rest = rest.slice(1);
      skipSpace();
    } else if (!rest.startsWith('}')) {
      fail(`unexpected ${JSON.stringify(rest.slice(0, 20))} after .${path.join('.')}`);
    }
  }
  if (rest.slice(1).trim() !== '') fail('unexpected text after the object');
  if (keys.size === 0) fail('no partition keys');
  return keys;
}

export type Extraction = { ok: true; keys: Record<string, string> } | { ok: false; message: string };

/**
 * Evaluates a parsed query against one record. The messages are those Firehose writes into its
 * error output for the two failure kinds: data that is not JSON, and a key that is missing.
 */
export function extractPartitionKeys(query: MetadataQuery, data: Uint8Array): Extraction {
  let document: unknown;
  try {
    document = JSON.parse(Buffer.from(data).toString('utf8'));
  } catch {
    return { ok: false, message: 'Non JSON record provided' };
  }
  const keys: Record<string, string> = {};
  for (const [key, path] of query) {
    let value: unknown = document;
    for (const field of path) {
      value =
        value !== null && typeof value === 'object' && !Array.isArray(value)
          ? (value as Record<string, unknown>)[field]
          : undefined;
    }
    if (typeof value === 'number' || typeof value === 'boolean') value = String(value);
    if (typeof value !== 'string' || value === '') {
      return { ok: false, message: 'partitionKeys values must not be null or empty' };
    }
    keys[key] = value;
  }
  return { ok: true, keys };
}
