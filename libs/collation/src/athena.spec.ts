import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { putJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import {
  collateEndedRun,
  collationCostUsd,
  collationSummarySql,
  collationUnloadSql,
  dedupSelect,
  type RunSummary,
  statesFormatTemplate,
} from './index';
import { FIXTURE_READ, runOutputFixture } from './fixtures';

const RUN = 'run-parity';
const TARGET = { database: 'dev_pipeline', resultsBucket: 'results-bucket', runId: RUN };

describe('collationCostUsd: what collating a run costs in AWS', () => {
  it('bills a small run the 10 MB minimum for each of its two queries', () => {
    const { athenaUsd } = collationCostUsd({ deliveredBytes: 1_000, deadLetterBytes: 0 });
    expect(athenaUsd).toBeCloseTo(((2 * 10 * 1024 ** 2) / 1024 ** 4) * 5, 10);
  });

  it('bills 100 million records of 1 KB (100 GB, uncompressed) under a dollar, scanning them twice', () => {
    const { athenaUsd, totalUsd } = collationCostUsd({ deliveredBytes: 100e9, deadLetterBytes: 0 });
    expect(athenaUsd).toBeCloseTo(((2 * 100e9) / 1024 ** 4) * 5, 6);
    expect(totalUsd).toBeLessThan(1);
  });
});

describe('the Athena collation queries', () => {
  it('UNLOAD the de-duplicating SELECT, as text, under the run’s collated prefix', () => {
    const sql = collationUnloadSql(TARGET);
    expect(sql).toContain(`UNLOAD (${dedupSelect(TARGET)})`);
    expect(sql).toContain(`TO 's3://results-bucket/${LAYOUT.collatedPrefix(RUN)}'`);
    expect(dedupSelect(TARGET)).toContain("WHERE run = 'run-parity'");
  });

  it('refuse a run id that could break out of a SQL literal, and times that are not ISO 8601', () => {
    expect(() => collationUnloadSql({ ...TARGET, runId: "x' OR '1'='1" })).toThrow('only letters, digits');
    expect(() => collationSummarySql(TARGET, { createdAt: 'yesterday', endedAt: '2026-11-25T10:00:00Z' })).toThrow(
      'ISO 8601',
    );
  });

  it('become States.Format templates with one placeholder per bucket, run and time, in order', () => {
    const { template, args } = statesFormatTemplate(collationUnloadSql, { database: 'dev_pipeline' });
    expect(args).toEqual(['run', 'bucket', 'run']);
    expect(template).toContain("WHERE run = '{}'");
    expect(template).toContain("TO 's3://{}/collated/run={}/'");
    expect(statesFormatTemplate(collationSummarySql, { database: 'd' }).args).toEqual([
      'run',
      'run',
      'run',
      'createdAt',
      'endedAt',
    ]);
  });
});

/**
 * The same SQL text, run by an embedded engine (DuckDB) over the same objects, gives what the
 * embedded stack's collation gives: the same set of lines and the same counts. DuckDB reads the
 * Presto/Trino functions Athena has through macros of the same names (the only shim), and the
 * tables are views over the objects laid out as in S3. The comparison needs `@duckdb/node-api`
 * (or DUCKDB_NODE_API pointing at an install of it); without it this block is skipped, and says so.
 */
const duckdb = loadDuckDb();
(duckdb ? describe : describe.skip)(
  'Athena’s SQL on DuckDB and the embedded collation agree on the same output',
  () => {
    let stack: TestStack;
    let dir: string;
    let local: RunSummary;
    let localLines: string[];
    const BUCKET = 'results-bucket';
    const CREATED_AT = '2026-11-25T10:00:00.000Z';
    const ENDED_AT = '2026-11-25T10:02:30.000Z';

    beforeAll(async () => {
      stack = await startTestStack({ buckets: [BUCKET] });
      dir = await mkdtemp(join(tmpdir(), 'athena-parity-'));
      for (const { key, body } of runOutputFixture(RUN)) {
        await stack.store.put(BUCKET, key, body);
        await mkdir(dirname(join(dir, key)), { recursive: true });
        await writeFile(join(dir, key), body);
      }
      await putJson(stack.store, BUCKET, LAYOUT.manifestKey(RUN), { runId: RUN, createdAt: CREATED_AT, slices: [] });
      await putJson(stack.store, BUCKET, LAYOUT.completeKey(RUN), {
        detail: { runId: RUN, read: FIXTURE_READ, spilled: 0, deadLettered: 2, conserved: true, completedAt: ENDED_AT },
      });
      local = (await collateEndedRun({
        store: stack.store,
        bucket: BUCKET,
        runId: RUN,
        events: async () => {},
      })) as RunSummary;
      localLines = [];
      for await (const o of stack.store.list(BUCKET, LAYOUT.collatedPrefix(RUN))) {
        const text = Buffer.from((await stack.store.get(BUCKET, o.key)) ?? []).toString('utf8');
        localLines.push(...text.split('\n').filter(Boolean));
      }
    });
    afterAll(async () => {
      await stack?.close();
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    const query = async (sql: string) => {
      const instance = await duckdb!.DuckDBInstance.create(':memory:');
      const c = await instance.connect();
      for (const setup of duckDbSetup(dir)) await c.run(setup);
      const reader = await c.runAndReadAll(sql);
      return reader.getRowObjectsJson() as Record<string, unknown>[];
    };

    it('the de-duplicating SELECT keeps the same lines as the embedded collation', async () => {
      const rows = await query(dedupSelect({ ...TARGET, runId: RUN }));
      expect(rows.map((r) => String(r.line)).sort()).toEqual([...localLines].sort());
      expect(localLines).toHaveLength(local.delivered);
    });

    it('the summary query counts what the embedded collation counts', async () => {
      const [row] = await query(
        collationSummarySql({ ...TARGET, runId: RUN }, { createdAt: CREATED_AT, endedAt: ENDED_AT }),
      );
      expect({
        delivered: Number(row.delivered),
        duplicatesDropped: Number(row.duplicates_dropped),
        deadLettered: Number(row.dead_lettered),
        deadLetteredByReason: JSON.parse(String(row.dead_lettered_by_reason)),
        elapsedSeconds: Number(row.elapsed_seconds),
      }).toEqual({
        delivered: local.delivered,
        duplicatesDropped: local.duplicatesDropped,
        deadLettered: local.deadLettered,
        deadLetteredByReason: local.deadLetteredByReason,
        elapsedSeconds: local.elapsedSeconds,
      });
    });
  },
);

/** The Athena (Trino) functions the queries use, as DuckDB macros, and the tables as views over the files. */
function duckDbSetup(dir: string): string[] {
  const text = (glob: string, extra = '') =>
    `read_csv('${join(dir, glob)}', columns = {'line': 'VARCHAR'}, header = false, delim = '\u0001', quote = '', escape = '', hive_partitioning = true, union_by_name = true${extra})`;
  return [
    'CREATE MACRO json_extract_scalar(j, p) AS json_extract_string(j, p)',
    'CREATE MACRO json_format(j) AS CAST(j AS VARCHAR)',
    'CREATE MACRO from_iso8601_timestamp(s) AS CAST(s AS TIMESTAMPTZ)',
    'CREATE SCHEMA dev_pipeline',
    `CREATE VIEW dev_pipeline.results AS SELECT line, run FROM ${text('results/run=*/**')}`,
    `CREATE VIEW dev_pipeline.dead_letters AS SELECT line, run, filename AS "$path" FROM ${text('dead-letters/run=*/**/*.json', ', filename = true')}`,
  ];
}

interface DuckDbApi {
  DuckDBInstance: {
    create(path: string): Promise<{
      connect(): Promise<{
        run(sql: string): Promise<unknown>;
        runAndReadAll(sql: string): Promise<{ getRowObjectsJson(): unknown[] }>;
      }>;
    }>;
  };
}

function loadDuckDb(): DuckDbApi | undefined {
  for (const name of [process.env.DUCKDB_NODE_API, '@duckdb/node-api']) {
    if (!name) continue;
    try {
      return require(name) as DuckDbApi;
    } catch {
      // not installed here
    }
  }
  console.warn('@duckdb/node-api is not installed: the Athena/DuckDB parity check is skipped');
  return undefined;
}
