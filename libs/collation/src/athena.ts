import { ATHENA, PRICE_TABLE } from '@pipeline/limits';
import { LAYOUT } from '@pipeline/records';

/**
 * Collation in AWS: Athena, over the run's delivered objects, de-duplicates by record id and
 * writes the result set under the run's collated prefix (LAYOUT.collatedPrefix) with one UNLOAD.
 * Athena reads and writes in parallel on its own fleet, so no function of ours holds a run in
 * memory or in time, whatever its size.
 *
 * The results table has one column, `line`: a delivered line kept byte for byte (its JSON is never
 * reparsed into columns, so any job's result shape fits). The text SerDe's field delimiter is \u0001,
 * which a JSON line never holds unescaped; `.gz` objects are read as GZIP by their extension. The
 * `run` partition is projected (`injected`): Athena lists only `results/run=<run>/`, with no crawler
 * and no partition to add per run.
 */
export const RESULTS_TABLE = {
  name: 'results',
  columns: [{ name: 'line', type: 'string' }],
  partitionKey: 'run',
  /** Partition projection properties, with the results bucket's name to fill in. */
  projection: (bucket: string) => ({
    'projection.enabled': 'true',
    'projection.run.type': 'injected',
    'storage.location.template': `s3://${bucket}/${LAYOUT.resultsPrefix(`\${run}`)}`,
  }),
  inputFormat: 'org.apache.hadoop.mapred.TextInputFormat',
  outputFormat: 'org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat',
  serde: 'org.apache.hadoop.hive.serde2.lazy.LazySimpleSerDe',
} as const;

/**
 * The dead letters table: one row per line of a dead letter object, with `"$path"` (Athena's
 * hidden column) naming the object — the record's id and reason are in its key (LAYOUT.deadLetterKey).
 */
export const DEAD_LETTERS_TABLE = {
  ...RESULTS_TABLE,
  name: 'dead_letters',
  projection: (bucket: string) => ({
    'projection.enabled': 'true',
    'projection.run.type': 'injected',
    'storage.location.template': `s3://${bucket}/${LAYOUT.deadLettersPrefix(`\${run}`)}`,
  }),
} as const;

/** Where Athena's collation writes, and with what names. */
export interface CollationTarget {
  /** Glue database of the results table. */
  database: string;
  table?: string;
  deadLettersTable?: string;
  resultsBucket: string;
  runId: string;
}

const RUN_ID = /^[A-Za-z0-9._=-]+$/;

/** The run, checked so it can stand in a SQL literal and an S3 location (run ids never hold quotes). */
function checkedRun(runId: string): string {
  if (!RUN_ID.test(runId))
    throw new RangeError(`run id "${runId}" cannot be collated: only letters, digits and . _ = -`);
  return runId;
}

/** The record id of a line, in SQL: what de-duplication partitions by. */
export const LINE_ID_SQL = "json_extract_scalar(line, '$.id')";

/** The run's delivered lines, as a relation of `line` (one row per delivered copy). */
function runLines(target: CollationTarget): string {
  return `"${target.database}"."${target.table ?? RESULTS_TABLE.name}" WHERE run = '${checkedRun(target.runId)}'`;
}

/**
 * The de-duplicating query: of each record id's delivered copies (Firehose delivers at least once,
 * and a redriven record may be delivered again), exactly one line is kept — the least, so the choice
 * is the same on every engine and every re-run.
 */
export function dedupSelect(target: CollationTarget): string {
  return [
    'SELECT line FROM (',
    `  SELECT line, row_number() OVER (PARTITION BY ${LINE_ID_SQL} ORDER BY line) AS copy`,
    `  FROM ${runLines(target)}`,
    ') WHERE copy = 1',
  ].join('\n');
}

/**
 * The UNLOAD that writes the collated result set as text (one line per record) under the run's
 * collated prefix. Athena refuses to UNLOAD into a non-empty location: a run is collated once, and
 * collating it again means deleting `collated/run=<run>/` first.
 */
export function collationUnloadSql(target: CollationTarget): string {
  return [
    `UNLOAD (${dedupSelect(target)})`,
    `TO 's3://${target.resultsBucket}/${LAYOUT.collatedPrefix(checkedRun(target.runId))}'`,
    "WITH (format = 'TEXTFILE', compression = 'NONE')",
  ].join('\n');
}

/** The counts query: delivered copies and distinct records, whose difference is the duplicates dropped. */
export function collationCountsSql(target: CollationTarget): string {
  return `SELECT count(*) AS copies, count(DISTINCT ${LINE_ID_SQL}) AS delivered FROM ${runLines(target)}`;
}

/** When the run started and ended (its manifest's createdAt, its end marker's time), ISO 8601. */
export interface RunTimes {
  createdAt: string;
  endedAt: string;
}

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/;

function checkedTime(time: string): string {
  if (!ISO_TIME.test(time)) throw new RangeError(`"${time}" is not an ISO 8601 UTC time (YYYY-MM-DDTHH:MM:SSZ)`);
  return time;
}

/**
 * The summary query: one row with what summary.json adds to the end marker's counts — delivered
 * (distinct ids), duplicates dropped (copies beyond the first), dead letters by reason (distinct ids
 * not delivered: a redriven record counts once, as delivered) and the elapsed seconds. It reads
 * each table once (Athena inlines a WITH that is referenced twice, and bills every scan).
 */
export function collationSummarySql(target: CollationTarget, times: RunTimes): string {
  const run = checkedRun(target.runId);
  const letters = `"${target.database}"."${target.deadLettersTable ?? DEAD_LETTERS_TABLE.name}" WHERE run = '${run}'`;
  return [
    // One scan of each table: every delivered copy and every dead letter becomes an entry of its id.
    'WITH entries AS (',
    `  SELECT ${LINE_ID_SQL} AS id, 1 AS copy, CAST(NULL AS varchar) AS reason FROM ${runLines(target)}`,
    '  UNION ALL',
    `  SELECT concat('${run}/', regexp_extract("$path", 'reason=[a-z-]+/([^/]+/[0-9]+)[.]json$', 1)) AS id, 0 AS copy,`,
    `    regexp_extract("$path", 'reason=([a-z-]+)/', 1) AS reason FROM ${letters}`,
    '), ids AS (',
    '  SELECT id, sum(copy) AS copies, min(reason) AS reason FROM entries GROUP BY id',
    ')',
    'SELECT',
    '  count_if(copies > 0) AS delivered,',
    '  coalesce(sum(copies), 0) - count_if(copies > 0) AS duplicates_dropped,',
    '  count_if(copies = 0) AS dead_lettered,',
    '  json_format(CAST(coalesce(histogram(reason) FILTER (WHERE copies = 0), map()) AS JSON)) AS dead_lettered_by_reason,',
    `  date_diff('second', from_iso8601_timestamp('${checkedTime(times.createdAt)}'), from_iso8601_timestamp('${checkedTime(times.endedAt)}')) AS elapsed_seconds`,
    'FROM ids',
  ].join('\n');
}

/** What the collation state machine fills in from the event and the run's end marker. */
export type TemplateArg = 'bucket' | 'run' | 'createdAt' | 'endedAt';

/**
 * A query with its bucket, run and times left as Step Functions' States.Format placeholders (`{}`),
 * with the argument each placeholder takes, in order.
 */
export function statesFormatTemplate(
  build: (target: CollationTarget, times: RunTimes) => string,
  target: Omit<CollationTarget, 'runId' | 'resultsBucket'>,
): { template: string; args: TemplateArg[] } {
  const stand = {
    bucket: 'bucketxplaceholderx1',
    run: 'RUNxPLACEHOLDERx1',
    createdAt: '1111-11-11T11:11:11Z',
    endedAt: '2222-02-22T22:22:22Z',
  } as const;
  const sql = build({ ...target, resultsBucket: stand.bucket, runId: stand.run }, stand);
  if (/[{}\\]/.test(sql))
    throw new Error('a collation query holds { } or \\: States.Format would read them as its own');
  const byValue = new Map(Object.entries(stand).map(([arg, value]) => [value as string, arg as TemplateArg]));
  const args: TemplateArg[] = [];
  const template = sql.replace(new RegExp([...byValue.keys()].join('|'), 'g'), (token) => {
    args.push(byValue.get(token) as TemplateArg);
    return '{}';
  });
  return { template, args };
}

/** The state transitions of one collation execution (a complete run's path through the state machine). */
export const COLLATION_TRANSITIONS = 11;

/**
 * What collating one run costs in AWS: Athena scans the delivered objects twice (the UNLOAD, then
 * the summary query with the dead letters), each query billed for at least 10 MB; Step Functions
 * bills its state transitions. `deliveredBytes` are as stored (GZIP objects are billed compressed).
 *
 * @example collationCostUsd({ deliveredBytes: 100e9, deadLetterBytes: 0 }) // ≈ 0.91
 */
export function collationCostUsd(sizes: { deliveredBytes: number; deadLetterBytes: number }): {
  athenaUsd: number;
  stepFunctionsUsd: number;
  totalUsd: number;
} {
  const billed = (bytes: number) => Math.max(bytes, ATHENA.minBytesScannedPerQuery);
  const scanned = billed(sizes.deliveredBytes) + billed(sizes.deliveredBytes + sizes.deadLetterBytes);
  const athenaUsd = (scanned / ATHENA.bytesPerTb) * PRICE_TABLE.athena.tbScanned.usd;
  const stepFunctionsUsd = (COLLATION_TRANSITIONS / 1000) * PRICE_TABLE.stepFunctions.standardTransitions.usd;
  return { athenaUsd, stepFunctionsUsd, totalUsd: athenaUsd + stepFunctionsUsd };
}
