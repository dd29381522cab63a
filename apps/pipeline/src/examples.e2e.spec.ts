import { join } from 'node:path';
import { main } from './cli';
import { tempDataDir } from '@pipeline/local-runner/testing';

/** The example jobs live with the local runner. */
const EXAMPLES = join(__dirname, '../../../libs/local-runner/src/examples');

/** `npm start -- …` as the user types it, capturing what it prints. */
async function start(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out = { stdout: '', stderr: '' };
  const sink = (stream: keyof typeof out) => ({
    write: (text: string) => {
      out[stream] += text;
      return true;
    },
  });
  const data = await tempDataDir();
  try {
    const code = await main(
      [...argv, '--json', '--data-dir', data.dir],
      { stdout: sink('stdout'), stderr: sink('stderr') },
      { command: 'npm start --', verb: 'run' },
    );
    return { code, ...out };
  } finally {
    await data.remove();
  }
}

describe('the worked examples run with npm start -- --job … out of the box', () => {
  jest.setTimeout(180_000);

  it('weekly email to users 1..N: every user gets exactly one email, though the mail API fails some first attempts', async () => {
    const run = await start('--job', join(EXAMPLES, 'weekly-email.ts'), '--run', 'run-weekly');

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      read: 250,
      delivered: 250,
      deadLettered: 0,
      complete: true,
      conserved: true,
    });
    expect(run.stderr).toContain('mail API: 250 emails sent for 250 users');
  });

  it('a paginated API with a rate limit: every order read once, the limit never hit', async () => {
    const run = await start('--job', join(EXAMPLES, 'paged-api.ts'), '--run', 'run-orders');

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ read: 300, delivered: 300, complete: true, conserved: true });
    expect(run.stderr).toMatch(/orders API: 13 request\(s\), 0 refused with 429/);
  });
});
