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

/** Where Athena's collation writes, and with what names. */
export interface CollationTarget {
  /** Glue database of the results table. */
  database: string;
  table?: string;
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
