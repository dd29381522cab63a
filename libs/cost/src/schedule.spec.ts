import { HOURS_PER_MONTH } from '@pipeline/limits';
import { cronRunsPerMonth, DAILY_RUNS_PER_MONTH, runsPerMonth } from './schedule';

describe('runsPerMonth: the runs a month of the reader’s schedule', () => {
  it('counts the default daily schedule as a billing month of days', () => {
    expect(runsPerMonth({ expression: 'cron(0 2 * * ? *)', enabled: true })).toEqual({
      runs: HOURS_PER_MONTH / 24,
      basis: '30.42 runs a month (the schedule cron(0 2 * * ? *))',
    });
  });

  it.each([
    ['four times a day', '0 0/6 * * ? *', 4 * DAILY_RUNS_PER_MONTH],
    ['twice an hour', '0,30 * * * ? *', 48 * DAILY_RUNS_PER_MONTH],
    ['every 15 minutes from 8 to 17', '*/15 8-17 * * ? *', 40 * DAILY_RUNS_PER_MONTH],
    ['on weekdays', '0 2 ? * MON-FRI *', (5 / 7) * DAILY_RUNS_PER_MONTH],
    ['on weekdays, by number', '0 2 ? * 2-6 *', (5 / 7) * DAILY_RUNS_PER_MONTH],
    ['every Sunday', '0 2 ? * SUN *', DAILY_RUNS_PER_MONTH / 7],
    ['on the first of the month', '0 2 1 * ? *', (12 / 365.25) * DAILY_RUNS_PER_MONTH],
    ['on the last day of the month', '0 2 L * ? *', (12 / 365.25) * DAILY_RUNS_PER_MONTH],
    ['on the weekday nearest the 15th', '0 2 15W * ? *', (12 / 365.25) * DAILY_RUNS_PER_MONTH],
    ['on the third Friday', '0 2 ? * 6#3 *', (12 / 365.25) * DAILY_RUNS_PER_MONTH],
    ['on the last Friday', '0 2 ? * FRIL *', (12 / 365.25) * DAILY_RUNS_PER_MONTH],
    ['daily in January only', '0 2 * JAN ? *', (31 / 365.25) * DAILY_RUNS_PER_MONTH],
  ])('%s (%s)', (_, cron, runs) => {
    expect(cronRunsPerMonth(`cron(${cron})`)).toBeCloseTo(runs, 1);
  });

  it('counts the 29th, 30th and 31st only in the months that have them', () => {
    expect(cronRunsPerMonth('0 2 31 * ? *')).toBeCloseTo((7 / 365.25) * DAILY_RUNS_PER_MONTH, 6);
    expect(cronRunsPerMonth('0 2 29 FEB ? *')).toBeCloseTo((0.25 / 365.25) * DAILY_RUNS_PER_MONTH, 6);
  });

  it('falls back to daily, saying why, with no schedule, a disabled one, or one it cannot read', () => {
    expect(runsPerMonth()).toEqual({
      runs: DAILY_RUNS_PER_MONTH,
      basis: '30.42 runs a month (no schedule in the CDK app: a daily schedule assumed)',
    });
    expect(runsPerMonth({ expression: 'cron(0 2 * * ? *)', enabled: false }).basis).toContain('is disabled');
    for (const expression of ['rate(1 hour)', 'cron(0 2 * * *)', 'cron(0 2 15 * MON *)', 'cron(61 2 * * ? *)'])
      expect(runsPerMonth({ expression, enabled: true })).toMatchObject({
        runs: DAILY_RUNS_PER_MONTH,
        basis: expect.stringContaining('a daily schedule assumed'),
      });
  });
});
