import { DEFAULTS } from '@pipeline/limits';
import { putRetryOptions, sendWithRetry, summarizeCodes, type EntryFailure, type RetryOptions } from './retry';

const throttled = 'ProvisionedThroughputExceededException';
const noWait = (): Promise<void> => Promise.resolve();
const options = (overrides: Partial<RetryOptions> = {}): RetryOptions => ({
  attempts: DEFAULTS.putAttempts,
  baseMs: DEFAULTS.backoffBaseMs,
  capMs: DEFAULTS.backoffCapMs,
  sleep: noWait,
  random: () => 0.5,
  ...overrides,
});
const fail = (index: number, code = throttled): EntryFailure => ({ index, code, message: `${code} for ${index}` });

describe('sendWithRetry', () => {
  it('makes one call when every entry is accepted', async () => {
    const send = jest.fn(async (_items: string[]) => [] as EntryFailure[]);

    const result = await sendWithRetry(['a', 'b'], send, options());

    expect(send).toHaveBeenCalledTimes(1);
    expect(result).toEqual({ attempts: 1, failed: [] });
  });

  it('re-sends only the entries the call reported as failed', async () => {
    const calls: string[][] = [];
    const send = async (items: string[]): Promise<EntryFailure[]> => {
      calls.push(items);
      // First call: b and d fail; second call (b, d): d fails again; third: all accepted.
      if (calls.length === 1) return [fail(1), fail(3)];
      if (calls.length === 2) return [fail(1)];
      return [];
    };

    const result = await sendWithRetry(['a', 'b', 'c', 'd'], send, options());

    expect(calls).toEqual([['a', 'b', 'c', 'd'], ['b', 'd'], ['d']]);
    expect(result).toEqual({ attempts: 3, failed: [] });
  });

  it('stops after `attempts` calls and reports the entries still failing, in input order', async () => {
    const send = jest.fn(async (items: string[]) =>
      items.flatMap((item, i) => (item === 'a' || item === 'c' ? [fail(i)] : [])),
    );

    const result = await sendWithRetry(['a', 'b', 'c'], send, options({ attempts: 3 }));

    expect(send).toHaveBeenCalledTimes(3);
    expect(result.attempts).toBe(3);
    expect(result.failed).toEqual([
      { item: 'a', code: throttled, message: `${throttled} for 0` },
      { item: 'c', code: throttled, message: `${throttled} for 1` },
    ]);
  });

  it('sleeps a backoff before each retry and not before the first call', async () => {
    const sleeps: number[] = [];
    let call = 0;
    const send = async (): Promise<EntryFailure[]> => (++call < 4 ? [fail(0)] : []);

    await sendWithRetry(['a'], send, options({ sleep: async (ms) => void sleeps.push(ms), random: () => 0.5 }));

    const base = DEFAULTS.backoffBaseMs;
    expect(sleeps).toEqual([base / 2, base, base * 2]);
  });

  it('retries a call that throws, with the same entries', async () => {
    const calls: string[][] = [];
    const send = async (items: string[]): Promise<EntryFailure[]> => {
      calls.push(items);
      if (calls.length === 1) throw new Error('Rate exceeded');
      return [];
    };

    const result = await sendWithRetry(['a', 'b'], send, options());

    expect(calls).toEqual([
      ['a', 'b'],
      ['a', 'b'],
    ]);
    expect(result).toEqual({ attempts: 2, failed: [] });
  });

  it('rethrows the error of a call that still throws on the last attempt', async () => {
    const send = jest.fn(async (): Promise<EntryFailure[]> => {
      throw new Error('Rate exceeded');
    });

    await expect(sendWithRetry(['a'], send, options({ attempts: 4 }))).rejects.toThrow('Rate exceeded');
    expect(send).toHaveBeenCalledTimes(4);
  });

  it('does not retry entries whose code is not retryable', async () => {
    const send = jest.fn(async (items: string[]) =>
      items.map((item, i) => fail(i, item === 'bad' ? 'ValidationError' : throttled)),
    );

    const result = await sendWithRetry(
      ['bad', 'slow'],
      send,
      options({ attempts: 2, isRetryable: (code) => code === throttled }),
    );

    expect(send.mock.calls.map(([items]) => items)).toEqual([['bad', 'slow'], ['slow']]);
    expect(result.failed.map((f) => [f.item, f.code])).toEqual([
      ['bad', 'ValidationError'],
      ['slow', throttled],
    ]);
  });

  it('makes no call for no items', async () => {
    const send = jest.fn(async () => [] as EntryFailure[]);

    const result = await sendWithRetry([], send, options());

    expect(send).not.toHaveBeenCalled();
    expect(result).toEqual({ attempts: 0, failed: [] });
  });

  it('rejects a failure index outside the call, which means a broken port', async () => {
    const send = async (): Promise<EntryFailure[]> => [fail(5)];

    await expect(sendWithRetry(['a'], send, options())).rejects.toThrow(RangeError);
  });

  it('rejects attempts below 1', async () => {
    await expect(sendWithRetry(['a'], async () => [], options({ attempts: 0 }))).rejects.toThrow(RangeError);
  });
});

describe('summarizeCodes', () => {
  it('counts each error code once, in order of first appearance', () => {
    const summary = summarizeCodes([{ code: throttled }, { code: 'InternalFailure' }, { code: throttled }]);

    expect(summary).toBe(`${throttled} x2, InternalFailure x1`);
  });
});

describe('putRetryOptions', () => {
  it('fills in the project defaults for what is left out', () => {
    expect(putRetryOptions({ attempts: 3 })).toEqual({
      attempts: 3,
      baseMs: DEFAULTS.backoffBaseMs,
      capMs: DEFAULTS.backoffCapMs,
    });
  });

  it('uses DEFAULTS.putAttempts when attempts is undefined', () => {
    expect(putRetryOptions({ attempts: undefined }).attempts).toBe(DEFAULTS.putAttempts);
  });
});
