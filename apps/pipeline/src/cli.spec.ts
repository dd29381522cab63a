import { NPM_START, runCli } from './testing/cli';
import { LocalPipeline } from '@pipeline/local-runner';
import { tempDataDir } from '@pipeline/local-runner/testing';

/** Runs the CLI as `npm run pipeline -- …` would, capturing what it prints. */
const pipeline = (...argv: string[]) => runCli(argv);
const invoke = runCli;

describe('npm run pipeline', () => {
  jest.setTimeout(180_000);

  it('lists its verbs without one, and fails on an unknown one', async () => {
    const help = await pipeline('--help');
    expect(help.code).toBe(0);
    for (const verb of [
      'run',
      'serve',
      'runs',
      'trigger',
      'status',
      'dead-letters',
      'redrive',
      'replay',
      'pause',
      'resume',
      'collate',
    ])
      expect(help.stdout).toContain(`  ${verb}`);
    const unknown = await pipeline('launch');
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown verb "launch"') });
  });

  it('explains each verb with --help', async () => {
    expect(await pipeline('replay', '--help')).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(
        'Usage: npm run pipeline -- replay --run ID [--from trim-horizon|<ISO time>] [--env NAME [--outputs FILE] | --data-dir DIR] [--json]',
      ),
    });
  });

  it('accepts whole decimal numbers only, with one wording for every bad value', async () => {
    for (const args of [
      ['--records=1e3'],
      ['--records', '-5'],
      ['--records=-5'],
      ['--records', '0x10'],
      ['--records', '1.0'],
      ['--records', ''],
      ['--records', '0'],
      ['--shards', '+2'],
    ]) {
      const value = args.length === 1 ? args[0].split('=')[1] : args[1];
      const name = (args[0].split('=')[0] ?? '').slice(2);
      const out = await pipeline('run', ...args);
      expect(out.code).toBe(2);
      expect(out.stderr).toContain(
        `error: --${name} must be a whole number of at least 1, written in digits, got "${value}"`,
      );
    }
  });

  it('names the command the user typed: `npm start` is the run verb', async () => {
    const start = NPM_START;
    const help = await invoke(['--help'], start);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      'Usage: npm start -- [--run ID] [--job NAME|PATH] [--input FILE|FOLDER|s3://BUCKET/PREFIX] [--records N] [--shards N] [--slice-bytes N] [--streams always-on|per-run] [--cost-region REGION] [--data-dir DIR] [--json]',
    );
    expect(help.stdout).not.toContain('npm run pipeline -- run');
    const bad = await invoke(['--records'], start);
    expect(bad).toMatchObject({ code: 2, stderr: expect.stringContaining('Usage: npm start -- [--run ID]') });
  });

  it('says what is wrong with its input', async () => {
    expect(await pipeline('status')).toMatchObject({ code: 2, stderr: 'error: --run <id> is required\n' });
    expect(await pipeline('status', '--run', 'a/b')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('run id "a/b" is invalid'),
    });
    expect(await pipeline('status', '--run', 'x', '--bogus')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("Unknown option '--bogus'"),
    });
    expect(await pipeline('dead-letters', '--run', 'x', '--reason', 'typo')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('unknown reason "typo"'),
    });
    expect(await pipeline('run', '--streams', 'sometimes')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--streams takes always-on or per-run, not "sometimes"'),
    });
  });

  it('answers a mistake about the environment before connecting to anything', async () => {
    const started = Date.now();
    expect(await pipeline('status', '--run', 'r1', '--env', 'dev')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('give --outputs FILE'),
    });
    expect(await pipeline('pause', '--run', 'r1', '--outputs', 'x.json')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('give --env NAME too'),
    });
    expect(await pipeline('run', '--env', 'dev')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('run runs the local pipeline on this machine: not with --env'),
    });
    expect(
      await pipeline('redrive', '--run', 'r1', '--env', 'dev', '--outputs', '/nonexistent/out.json'),
    ).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--outputs /nonexistent/out.json: ENOENT'),
    });
    expect(await pipeline('trigger', '--run', 'r1', '--source', 'http://x')).toMatchObject({
      code: 2,
      stderr: expect.stringContaining('--source must be s3://BUCKET/PREFIX'),
    });
    // Nothing was started: no embedded server takes seconds to come up within this.
    expect(Date.now() - started).toBeLessThan(5_000);
  });

  it('runs, reports, lists dead letters and replays a run, each as one JSON object with --json', async () => {
    const data = await tempDataDir();
    const at = ['--data-dir', data.dir];
    try {
      const run = await pipeline('run', '--run', 'run-cli', '--records', '600', '--json', ...at);
      expect(run.code).toBe(0);
      const summary = JSON.parse(run.stdout);
      expect(summary).toMatchObject({
        runId: 'run-cli',
        read: 600,
        complete: true,
        conserved: true,
        spilled: 0,
        duplicatesDropped: 0,
      });
      expect(summary.delivered + summary.deadLettered).toBe(600);

      const status = JSON.parse((await pipeline('status', '--run', 'run-cli', '--json', ...at)).stdout);
      expect(status).toMatchObject({ runId: 'run-cli', state: 'complete', read: 600 });
      expect(status.perSlice.every((s: { done: boolean }) => s.done)).toBe(true);

      const letters = JSON.parse(
        (await pipeline('dead-letters', '--run', 'run-cli', '--reason', 'malformed-row', '--json', ...at)).stdout,
      );
      expect(letters).toMatchObject({ total: 1, byReason: { 'malformed-row': 1 } });

      const replayed = await pipeline('replay', '--run', 'run-cli', '--from', 'trim-horizon', '--json', ...at);
      expect(replayed.code).toBe(0);
      expect(JSON.parse(replayed.stdout)).toMatchObject({
        runId: 'run-cli',
        read: 600,
        delivered: summary.delivered,
        deadLettered: summary.deadLettered,
        spilled: 0,
        complete: true,
        identical: true,
      });
      expect(JSON.parse(replayed.stdout).duplicatesDropped).toBeGreaterThanOrEqual(summary.delivered);

      // A run past its deadline is reported as stalled with the slices still missing.
      await LocalPipeline.start({ dataDir: data.dir }).then(async (p) => {
        await p.ledger.createManifest({
          runId: 'run-stuck',
          job: 'j',
          createdAt: '2020-01-01T00:00:00Z',
          source: { bucket: 'b', prefix: '' },
          slices: [{ id: 's000000' }],
        });
        await p.stop();
      });
      const stuck = JSON.parse(
        (await pipeline('status', '--run', 'run-stuck', '--deadline-minutes', '5', '--json', ...at)).stdout,
      );
      expect(stuck).toMatchObject({ state: 'stalled', missingSlices: ['s000000'] });

      expect(await pipeline('status', '--run', 'run-none', ...at)).toMatchObject({
        code: 2,
        stderr: expect.stringContaining('run run-none does not exist'),
      });
    } finally {
      await data.remove();
    }
  });
});
