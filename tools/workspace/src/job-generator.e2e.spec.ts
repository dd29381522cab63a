import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

/**
 * A new user's path, in a throwaway copy of the workspace (the files git would commit, the shared
 * node_modules): scaffold a job with the generator, then run it on its sample with `npm start`'s
 * command — the two steps the README gives.
 */
describe('GIVEN a copy of the workspace as cloned', () => {
  jest.setTimeout(180_000);
  const root = mkdtempSync(join(tmpdir(), 'job-generator-'));
  const env = { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_SKIP_NX_CACHE: 'true', NX_TUI: 'false' };
  // Bounded: a synchronous child would otherwise outlive Jest's own timeout.
  const run = (command: string, args: string[]) =>
    execFileSync(command, args, {
      cwd: root,
      env,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 150_000,
      killSignal: 'SIGKILL',
    });

  beforeAll(() => {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: ROOT,
      encoding: 'utf8',
    })
      .split('\0')
      .filter((file) => file && existsSync(join(ROOT, file)));
    for (const file of files) {
      mkdirSync(dirname(join(root, file)), { recursive: true });
      copyFileSync(join(ROOT, file), join(root, file));
    }
    symlinkSync(join(ROOT, 'node_modules'), join(root, 'node_modules'), 'dir');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  it('WHEN a job is scaffolded with `nx g @pipeline/workspace:job`, THEN `npm start -- --job … --input …` runs it on its sample', () => {
    run(join(root, 'node_modules/.bin/nx'), ['g', '@pipeline/workspace:job', 'weekly-mail']);
    expect(existsSync(join(root, 'jobs/weekly-mail/src/job.ts'))).toBe(true);

    const summary = JSON.parse(
      run(process.execPath, [
        '--import',
        'tsx',
        'libs/local-runner/src/start.ts',
        '--job',
        'weekly-mail',
        '--input',
        'jobs/weekly-mail/sample.ndjson',
        '--json',
        '--data-dir',
        join(root, '.local'),
      ]),
    );

    expect(summary).toMatchObject({
      read: 5,
      delivered: 3,
      deadLettered: 2,
      deadLetteredByReason: { 'invalid-input': 1, 'transform-failed': 1 },
      complete: true,
      conserved: true,
    });
  });
});
