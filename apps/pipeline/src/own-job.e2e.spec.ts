import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { NPM_START, runCli } from './testing/cli';
import { collatedLines, tempDataDir } from '@pipeline/local-runner/testing';
import { LocalPipeline, planInput } from '@pipeline/local-runner';

const SHOUT_JOB = join(__dirname, '../../../libs/local-runner/src/fixtures/shout-job.ts');

/** `npm start -- …` as the user types it, capturing what it prints. */
const start = (...argv: string[]) => runCli(argv, NPM_START);

const words = (n: number, from = 0) =>
  Array.from({ length: n }, (_, i) => `${JSON.stringify({ word: `word${from + i}` })}\n`).join('');

describe('npm start -- --job … --input …: your own job on your own data', () => {
  jest.setTimeout(180_000);

  it('runs a job module on an NDJSON file, with exact counts and its results in the output', async () => {
    const data = await tempDataDir();
    try {
      const file = join(data.dir, 'words.ndjson');
      await writeFile(file, `${words(250)}{"word":""}\nnot json\n`);

      const run = await start(
        '--job',
        SHOUT_JOB,
        '--input',
        file,
        '--run',
        'run-shout',
        '--json',
        '--data-dir',
        data.dir,
      );

      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({
        runId: 'run-shout',
        read: 252,
        delivered: 250,
        deadLettered: 2,
        deadLetteredByReason: { 'invalid-input': 1, 'malformed-row': 1 },
        complete: true,
        conserved: true,
      });
      const pipeline = await LocalPipeline.start({ dataDir: data.dir });
      try {
        const lines = await collatedLines(pipeline.store, 'run-shout');
        expect(lines.filter((l) => l.result).map((l) => l.result)).toContainEqual({ shouted: 'WORD7!' });
      } finally {
        await pipeline.stop();
      }
    } finally {
      await data.remove();
    }
  });

  it('reads every file under a folder', async () => {
    const data = await tempDataDir();
    try {
      const folder = join(data.dir, 'in');
      await mkdir(join(folder, 'day2'), { recursive: true });
      await writeFile(join(folder, 'a.ndjson'), words(40));
      await writeFile(join(folder, 'day2', 'b.ndjson'), words(60, 40));

      const run = await start('--job', SHOUT_JOB, '--input', folder, '--json', '--data-dir', data.dir);

      expect(run.code).toBe(0);
      expect(JSON.parse(run.stdout)).toMatchObject({ read: 100, delivered: 100, complete: true, conserved: true });
    } finally {
      await data.remove();
    }
  });

  it('exits non-zero with a hint when the job refuses every row of the input', async () => {
    const data = await tempDataDir();
    try {
      const file = join(data.dir, 'customers.ndjson');
      await writeFile(file, '{"name":"Ada"}\n{"name":"Bo"}\n');

      const run = await start('--job', SHOUT_JOB, '--input', file, '--json', '--data-dir', data.dir);

      expect(run.code).toBe(1);
      expect(JSON.parse(run.stdout)).toMatchObject({ read: 2, delivered: 0, conserved: true });
      expect(run.stderr).toContain('hint: every one of the 2 rows was refused (invalid-input 2)');
    } finally {
      await data.remove();
    }
  });

  it('says what is wrong with --job and --input before starting anything', async () => {
    expect(await start('--job', './no/such-job.ts', '--input', 'x.ndjson')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--job ./no/such-job.ts: no module'),
    });
    expect(await start('--job', SHOUT_JOB)).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--job needs --input'),
    });
    expect(await start('--job', SHOUT_JOB, '--input', '/no/such/file.ndjson')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--input /no/such/file.ndjson: no such file or folder'),
    });
  });
});

describe('planInput', () => {
  it('reads s3:// as a bucket and prefix to read where they are', async () => {
    expect(await planInput('s3://their-bucket/exports/2026-11-25/')).toEqual({
      kind: 's3',
      source: { bucket: 'their-bucket', prefix: 'exports/2026-11-25/' },
    });
  });

  it('keys a folder’s files by their path under it, skipping hidden files', async () => {
    const data = await tempDataDir();
    try {
      await mkdir(join(data.dir, 'in', 'b'), { recursive: true });
      await writeFile(join(data.dir, 'in', 'a.ndjson'), 'x\n');
      await writeFile(join(data.dir, 'in', 'b', 'c.ndjson'), 'yy\n');
      await writeFile(join(data.dir, 'in', '.DS_Store'), '');

      const plan = await planInput(join(data.dir, 'in'));

      expect(plan).toMatchObject({ kind: 'files', prefix: 'input/in/' });
      expect(plan.kind === 'files' && plan.files.map((f) => [f.key, f.size])).toEqual([
        ['input/in/a.ndjson', 2],
        ['input/in/b/c.ndjson', 3],
      ]);
    } finally {
      await data.remove();
    }
  });
});
