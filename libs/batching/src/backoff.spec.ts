import { DEFAULTS } from '@pipeline/limits';
import { backoffDelay } from './backoff';

const base = DEFAULTS.backoffBaseMs;
const cap = DEFAULTS.backoffCapMs;
const almostOne = 1 - Number.EPSILON;

describe('backoffDelay', () => {
  it('is 0 when the random draw is 0', () => {
    expect(backoffDelay(3, { baseMs: base, capMs: cap, random: () => 0 })).toBe(0);
  });

  it('stays below baseMs on the first retry', () => {
    expect(backoffDelay(0, { baseMs: base, capMs: cap, random: () => almostOne })).toBe(base - 1);
  });

  it('doubles its ceiling with each retry', () => {
    const delays = [0, 1, 2].map((attempt) => backoffDelay(attempt, { baseMs: base, capMs: cap, random: () => 0.5 }));

    expect(delays).toEqual([base / 2, base, base * 2]);
  });

  it('never exceeds capMs however many retries', () => {
    for (const attempt of [10, 100, 10_000]) {
      expect(backoffDelay(attempt, { baseMs: base, capMs: cap, random: () => almostOne })).toBeLessThan(cap);
    }
  });

  it('spreads delays over the whole range (full jitter)', () => {
    const delays = Array.from({ length: 200 }, () => backoffDelay(4, { baseMs: base, capMs: cap }));

    expect(Math.min(...delays)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...delays)).toBeLessThan(Math.min(cap, base * 2 ** 4));
    expect(new Set(delays).size).toBeGreaterThan(1);
  });

  it('rejects a negative attempt', () => {
    expect(() => backoffDelay(-1, { baseMs: base, capMs: cap })).toThrow(RangeError);
  });
});
