import { join } from 'node:path';
import { type CliRun, NPM_START, runCli } from './testing/cli';
import { tempDataDir } from '@pipeline/local-runner/testing';

/** The example jobs live with the local runner. */
const EXAMPLES = join(__dirname, '../../../libs/local-runner/src/examples');

/** `npm start -- … --json` as the user types it, on a data folder of its own, capturing what it prints. */
async function start(...argv: string[]): Promise<CliRun> {
  const data = await tempDataDir();
  try {
    return await runCli([...argv, '--json', '--data-dir', data.dir], NPM_START);
  } finally {
    await data.remove();
  }
}

describe('the worked examples run with npm start -- --job … out of the box', () => {
  jest.setTimeout(180_000);

  it('weekly email to users 1..N: every user gets exactly one email and one CRM note, though first attempts fail', async () => {
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
    // The CRM has no idempotency key: context.once kept the retries after a lost answer from noting again.
    expect(run.stderr).toContain(
      'CRM: 250 notes for 250 users, none noted twice; 22 answer(s) lost after the note was made',
    );
  });

  it('a paginated API with a rate limit: every order read once, the limit never hit', async () => {
    const run = await start('--job', join(EXAMPLES, 'paged-api.ts'), '--run', 'run-orders');

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({ read: 300, delivered: 300, complete: true, conserved: true });
    expect(run.stderr).toMatch(/orders API: 13 request\(s\), 0 refused with 429/);
  });

  it('an API paginated by cursor: a chain of 4 slices, every event read once, each page asked once', async () => {
    const run = await start('--job', join(EXAMPLES, 'cursor-api.ts'), '--run', 'run-events');

    expect(run.code).toBe(0);
    expect(JSON.parse(run.stdout)).toMatchObject({
      read: 250,
      delivered: 250,
      slices: 4,
      complete: true,
      conserved: true,
    });
    expect(run.stderr).toContain('events API: 10 request(s)');
  });
});
