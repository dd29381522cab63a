import { type Invocation, main, PIPELINE_COMMAND } from './cli';
import { tempDataDir } from './testing';

/** Runs the CLI as `npm run pipeline -- …` (or, with an invocation, as another command) would, capturing what it prints. */
async function pipeline(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return invoke(argv, PIPELINE_COMMAND);
}

async function invoke(
  argv: string[],
  invocation: Invocation,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (stream: keyof typeof out) => ({
    write: (text: string) => {
      out[stream] += text;
      return true;
    },
  });
  const io = { stdout: sink('stdout'), stderr: sink('stderr') };
  const code = await main(argv, io, invocation);
  return { code, ...out };
}

describe('npm run pipeline', () => {
  jest.setTimeout(180_000);

  it('lists its verbs without one, and fails on an unknown one', async () => {
    const help = await pipeline('--help');
    expect(help.code).toBe(0);
    for (const verb of ['run', 'status', 'dead-letters', 'redrive', 'replay', 'pause', 'resume'])
      expect(help.stdout).toContain(`  ${verb}`);
    const unknown = await pipeline('launch');
    expect(unknown).toMatchObject({ code: 2, stderr: expect.stringContaining('unknown verb "launch"') });
  });

  it('explains each verb with --help', async () => {
    expect(await pipeline('replay', '--help')).toMatchObject({
      code: 0,
      stdout: expect.stringContaining(
        'Usage: npm run pipeline -- replay --run ID [--from trim-horizon|<ISO time>] [--data-dir DIR] [--json]',
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
    const start: Invocation = { command: 'npm start --', verb: 'run' };
    const help = await invoke(['--help'], start);
    expect(help.code).toBe(0);
    expect(help.stdout).toContain(
      'Usage: npm start -- [--run ID] [--job NAME|PATH] [--input FILE|FOLDER|s3://BUCKET/PREFIX] [--records N] [--shards N] [--slice-bytes N] [--cost-region REGION] [--data-dir DIR] [--json]',
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
      await (await import('./local-pipeline')).LocalPipeline.start({ dataDir: data.dir }).then(async (p) => {
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
