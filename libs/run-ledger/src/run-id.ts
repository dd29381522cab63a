import { RunIdSchema } from '@pipeline/records';

/**
 * The run id of a scheduled run: the schedule's time, to the second, so a repeated trigger of the
 * same schedule tick names the same run.
 *
 * @example runIdFromTime('2026-11-23T06:00:00Z') // 'run-20261123T060000Z'
 */
export function runIdFromTime(time: string | Date): string {
  const date = typeof time === 'string' ? new Date(time) : time;
  if (Number.isNaN(date.getTime())) throw new RangeError(`scheduled time "${String(time)}" is not a date`);
  return `run-${date.toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
}

/** Checks a caller's run id, with a message that says what is allowed. */
export function checkRunId(run: string): string {
  const parsed = RunIdSchema.safeParse(run);
  if (!parsed.success)
    throw new RangeError(`run id "${run}" is invalid: ${parsed.error.issues[0]?.message ?? 'unknown'}`);
  return parsed.data;
}
