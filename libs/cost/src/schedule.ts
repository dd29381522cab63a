import { HOURS_PER_MONTH } from '@pipeline/limits';

/** How many runs a month a schedule starts, and how that was found (for the cost report's basis). */
export interface RunsPerMonth {
  runs: number;
  basis: string;
}

/** A daily schedule's runs in a billing month: the fallback when no schedule says otherwise. */
export const DAILY_RUNS_PER_MONTH = HOURS_PER_MONTH / 24;

const MONTHS = ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const WEEKDAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
/** Four years of days: every month length, a leap February, every weekday on every date. */
const CYCLE = { from: Date.UTC(2024, 0, 1), to: Date.UTC(2028, 0, 1) };
const DAY_MS = 86_400_000;

/**
 * Runs a month started by the reader's schedule: an EventBridge Scheduler `cron(minutes hours
 * day-of-month month day-of-week year)` expression (as the CDK app deploys it), counted over a
 * four-year cycle of calendar days and scaled to a billing month of HOURS_PER_MONTH hours, so
 * `0 2 * * ? *` gives HOURS_PER_MONTH / 24 runs, `0 2 ? * MON-FRI *` about 21.7, `0 0/6 * * ? *`
 * four times as many as daily. The year field is not read (a schedule is taken to go on). No schedule, a disabled one,
 * or an expression this does not read: a daily schedule, and the basis says why.
 *
 * @example runsPerMonth({ expression: 'cron(0 2 * * ? *)', enabled: true }).runs // 30.42
 */
export function runsPerMonth(schedule?: { expression: string; enabled: boolean }): RunsPerMonth {
  const daily = (why: string) => ({
    runs: DAILY_RUNS_PER_MONTH,
    basis: `${round(DAILY_RUNS_PER_MONTH)} runs a month (${why}: a daily schedule assumed)`,
  });
  if (!schedule) return daily('no schedule in the CDK app');
  if (!schedule.enabled) return daily(`the schedule ${schedule.expression} is disabled`);
  const runs = cronRunsPerMonth(schedule.expression);
  if (runs === undefined) return daily(`${schedule.expression} is not a cron expression read here`);
  return { runs, basis: `${round(runs)} runs a month (the schedule ${schedule.expression})` };
}

const round = (n: number) => Math.round(n * 100) / 100;

/** Runs a month of a six-field cron expression, or undefined when it is not one. */
export function cronRunsPerMonth(expression: string): number | undefined {
  const fields = (/^cron\((.*)\)$/.exec(expression.trim())?.[1] ?? expression).trim().split(/\s+/);
  if (fields.length !== 6) return undefined;
  const [minutes, hours, dayOfMonth, month, dayOfWeek] = fields;
  const minuteSet = values(minutes, 0, 59);
  const hourSet = values(hours, 0, 23);
  const monthSet = values(month, 1, 12, MONTHS);
  if (!minuteSet || !hourSet || !monthSet) return undefined;
  const day = dayMatcher(dayOfMonth, dayOfWeek);
  if (!day) return undefined;
  let days = 0;
  let selected = 0;
  for (let at = CYCLE.from; at < CYCLE.to; at += DAY_MS) {
    const date = new Date(at);
    days += 1;
    if (monthSet.has(date.getUTCMonth() + 1) && day(date)) selected += 1;
  }
  // The share of days it runs on, in a billing month of HOURS_PER_MONTH hours.
  return (selected / days) * DAILY_RUNS_PER_MONTH * minuteSet.size * hourSet.size;
}

/** The values a field selects: `*`, `n`, `a-b`, `*` or `a` or `a-b` with `/step`, and lists of those. */
function values(field: string, min: number, max: number, names: string[] = []): Set<number> | undefined {
  const number = (text: string) => {
    const named = names.indexOf(text.toUpperCase());
    const n = named >= 0 ? named + min : Number(text);
    return Number.isInteger(n) && n >= min && n <= max ? n : undefined;
  };
  const selected = new Set<number>();
  for (const part of field.split(',')) {
    const [range, stepText] = part.split('/');
    const step = stepText === undefined ? 1 : Number(stepText);
    if (!Number.isInteger(step) || step < 1) return undefined;
    let from: number | undefined;
    let to: number | undefined;
    if (range === '*') [from, to] = [min, max];
    else if (range.includes('-')) [from, to] = range.split('-').map(number);
    else [from, to] = [number(range), stepText === undefined ? number(range) : max];
    if (from === undefined || to === undefined || from > to) return undefined;
    for (let n = from; n <= to; n += step) selected.add(n);
  }
  return selected;
}

/** Whether a day is selected by the day-of-month and day-of-week fields (one of them is `?`). */
function dayMatcher(dayOfMonth: string, dayOfWeek: string): ((date: Date) => boolean) | undefined {
  const lastOfMonth = (date: Date) => new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth() + 1, 0)).getUTCDate();
  // EventBridge takes a value in one of the two fields and `?` in the other.
  if ((dayOfWeek === '?') === (dayOfMonth === '?')) return undefined;
  if (dayOfWeek === '?') {
    if (dayOfMonth === 'L') return (date) => date.getUTCDate() === lastOfMonth(date);
    const weekday = /^(\d+|L)W$/.exec(dayOfMonth);
    if (weekday) return (date) => date.getUTCDate() === nearestWeekday(date, weekday[1], lastOfMonth(date));
    const days = values(dayOfMonth, 1, 31);
    return days && ((date) => days.has(date.getUTCDate()));
  }
  const nth = /^(\w+)#([1-5])$/.exec(dayOfWeek);
  if (nth) {
    const weekday = values(nth[1], 1, 7, WEEKDAYS);
    return (
      weekday && ((date) => weekday.has(date.getUTCDay() + 1) && Math.ceil(date.getUTCDate() / 7) === Number(nth[2]))
    );
  }
  const last = /^(\w+)L$/.exec(dayOfWeek);
  if (last) {
    const weekday = values(last[1], 1, 7, WEEKDAYS);
    return weekday && ((date) => weekday.has(date.getUTCDay() + 1) && date.getUTCDate() + 7 > lastOfMonth(date));
  }
  const weekdays = values(dayOfWeek, 1, 7, WEEKDAYS);
  return weekdays && ((date) => weekdays.has(date.getUTCDay() + 1));
}

/** The weekday nearest to day `n` (or the last day, `L`) of the month, never crossing into another month. */
function nearestWeekday(date: Date, n: string, last: number): number {
  const target = n === 'L' ? last : Math.min(Number(n), last);
  const weekday = new Date(Date.UTC(date.getUTCFullYear(), date.getUTCMonth(), target)).getUTCDay();
  if (weekday === 6) return target === 1 ? 3 : target - 1;
  if (weekday === 0) return target === last ? target - 2 : target + 1;
  return target;
}
