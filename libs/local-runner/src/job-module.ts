import { resolve } from 'node:path';
import type { Job } from '@pipeline/job';
import { CommandError } from './command-error';

/**
 * Loads the job `--job` names: a path to a module (`./my-job.ts`, `jobs/x/src/job.ts`), or the name
 * of a job made by `nx g @pipeline/workspace:job <name>` (the module `@jobs/<name>`). The module
 * exports `job` (or a default export) made with `defineJob`.
 */
export function loadJob(spec: string, cwd: string = process.cwd()): Job {
  const isPath = /^[./]|\.[cm]?[jt]s$/.test(spec);
  const target = isPath ? resolve(cwd, spec) : `@jobs/${spec}`;
  let loaded: Record<string, unknown>;
  try {
    loaded = require(target);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code !== 'MODULE_NOT_FOUND' || !String((error as Error).message).includes(target)) throw error;
    throw new CommandError(
      `--job ${spec}: no module ${target}. Give a path to a module that exports \`job\`, or the name of a job made with \`npx nx g @pipeline/workspace:job ${isPath ? '<name>' : spec}\``,
    );
  }
  const job = (loaded.job ?? loaded.default) as Job | undefined;
  const problem = jobProblem(job);
  if (problem) throw new CommandError(`--job ${spec}: ${target} ${problem}`);
  return job as Job;
}

function jobProblem(job: Job | undefined): string | undefined {
  if (!job || typeof job !== 'object') return 'exports no `job` (export const job = defineJob({...}))';
  if (typeof job.name !== 'string' || !job.name) return 'exports a job without a name';
  const source = job.source as { format?: unknown; kind?: unknown } | undefined;
  if (
    source?.format !== 'ndjson' &&
    source?.format !== 'csv' &&
    !['ids', 'pages', 'cursor', 'custom'].includes(source?.kind as string)
  )
    return "exports a job whose source is none of: format 'ndjson' or 'csv', kind 'ids', 'pages', 'cursor' or 'custom'";
  if (typeof job.input?.safeParse !== 'function' || typeof job.result?.safeParse !== 'function')
    return 'exports a job whose input and result are not zod schemas';
  if (typeof job.transform !== 'function') return 'exports a job without a transform';
  return undefined;
}
