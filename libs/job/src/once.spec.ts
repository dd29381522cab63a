import { S3 } from '@pipeline/limits';
import { memoryClaims, PermanentError, transformContext } from './index';

const id = { run: 'week-2026-47', slice: 's000001', pos: 7 };

describe('context.once: a side effect at most once per key', () => {
  it('claims once/<job>/<record id> and runs the effect the first time', async () => {
    const claims = memoryClaims();
    const effect = jest.fn(async () => 'sent');
    const outcome = await transformContext(id, 'weekly-email', claims).once(effect);
    expect(outcome).toEqual({ ran: true, value: 'sent', claim: 'once/weekly-email/week-2026-47/s000001/7' });
    expect(effect).toHaveBeenCalledTimes(1);
    expect([...claims.claims]).toEqual(['once/weekly-email/week-2026-47/s000001/7']);
  });

  it('skips the effect on every later call for the same record: a retry, a redrive, a replay', async () => {
    const claims = memoryClaims();
    const effect = jest.fn(async () => 'sent');
    await transformContext(id, 'weekly-email', claims).once(effect);
    const again = await transformContext(id, 'weekly-email', claims).once(effect);
    expect(again).toEqual({ ran: false, claim: 'once/weekly-email/week-2026-47/s000001/7' });
    expect(effect).toHaveBeenCalledTimes(1);
  });

  it('runs the effect again for another run of the job (the default key starts with the run)', async () => {
    const claims = memoryClaims();
    const effect = jest.fn(async () => 'sent');
    await transformContext(id, 'weekly-email', claims).once(effect);
    await transformContext({ ...id, run: 'week-2026-48' }, 'weekly-email', claims).once(effect);
    expect(effect).toHaveBeenCalledTimes(2);
  });

  it('takes a key of the job’s own: one claim per key, whatever record asks', async () => {
    const claims = memoryClaims();
    const effect = jest.fn(async () => 'noted');
    const first = await transformContext(id, 'weekly-email', claims).once(effect, 'week-2026-47/user-17/note');
    const other = await transformContext({ ...id, pos: 8 }, 'weekly-email', claims).once(
      effect,
      'week-2026-47/user-17/note',
    );
    expect(first.claim).toBe('once/weekly-email/week-2026-47/user-17/note');
    expect(other.ran).toBe(false);
    expect(effect).toHaveBeenCalledTimes(1);
  });

  it('does not run an effect again that failed after its claim: the error goes on, the next call skips', async () => {
    const claims = memoryClaims();
    const context = transformContext(id, 'weekly-email', claims);
    await expect(context.once(async () => Promise.reject(new Error('mail API timed out')))).rejects.toThrow(
      'mail API timed out',
    );
    const effect = jest.fn();
    expect(await context.once(effect)).toMatchObject({ ran: false });
    expect(effect).not.toHaveBeenCalled();
  });

  it('fails as transient, without running the effect, when the claim cannot be written', async () => {
    const effect = jest.fn();
    const context = transformContext(id, 'weekly-email', async () => Promise.reject(new Error('AccessDenied')));
    const failure = context.once(effect);
    await expect(failure).rejects.toThrow(
      'could not claim once/weekly-email/week-2026-47/s000001/7 (the side effect did not run): AccessDenied',
    );
    await expect(failure).rejects.not.toBeInstanceOf(PermanentError);
    expect(effect).not.toHaveBeenCalled();
  });

  it('refuses for good a key S3 cannot hold, before claiming anything', async () => {
    const claims = memoryClaims();
    const context = transformContext(id, 'weekly-email', claims);
    await expect(context.once(jest.fn(), '')).rejects.toBeInstanceOf(PermanentError);
    await expect(context.once(jest.fn(), 'k'.repeat(S3.maxKeyBytes))).rejects.toThrow(/over S3's 1024 bytes/);
    expect(claims.claims.size).toBe(0);
  });
});
