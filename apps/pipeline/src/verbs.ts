import type { ParseArgsConfig } from 'node:util';
import { EXAMPLE_DEFAULTS } from '@pipeline/example-job';
import { DEFAULTS } from '@pipeline/limits';
import {
  CommandError,
  formatReport,
  jsonReport,
  LOCAL_RESOURCES,
  LocalPipeline,
  loadJob,
  planInput,
  pipelineOptions,
  runJob,
  type RunJobOptions,
  type RunReport,
  type RunSource,
  stageInput,
} from '@pipeline/local-runner';
import { DEAD_LETTER_REASONS, ON_FAILURE_PREFIX } from '@pipeline/records';
import { checkRunId } from '@pipeline/run-ledger';
import type { Environment } from './environment';
import { collate, listDeadLetters, listRuns, pause, redrive, replay, runStatus, unpark } from './operations';
import { serve } from './serve';

export type Values = Record<string, string | boolean | undefined>;

export interface Output {
  json: boolean;
  /** The command the user typed (`npm run pipeline --`), for the hints the verbs print. */
  command: string;
  print(human: string, json: unknown): void;
  progress(line: string): void;
}

/**
 * One operator verb: its arguments, checked by `parse` before anything starts, and one function
 * that acts on the environment the user chose. A new verb is one more entry in {@link VERBS}.
 */
export interface Verb<A = never> {
  summary: string;
  /** The verb's own arguments; the common options are added to every usage line. */
  usage: string;
  /** Defaults and other details, printed under the usage line. */
  note?: string;
  options: ParseArgsConfig['options'];
  /** Checks the arguments and turns them into what `run` takes: a mistake answers before anything starts. */
  parse(values: Values): A;
  /** Acts on the environment (deployed, the running local pipeline, or the embedded stack started for it). */
  run?(args: A, env: Environment, out: Output): Promise<number>;
  /** Verbs that run the local pipeline themselves (run, serve), in place of `run`. */
  local?(args: A, values: Values, out: Output): Promise<number>;
  /** Only on this machine's pipeline: refused with --env. */
  localOnly?: boolean;
}

export const COMMON_OPTIONS = {
  json: { type: 'boolean', default: false },
  'data-dir': { type: 'string' },
  env: { type: 'string' },
  outputs: { type: 'string' },
  account: { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

const runOption = { run: { type: 'string' } } as const;
/** Local runs use smaller slices than AWS (DEFAULTS.sliceBytes) so the example shows several in flight. */
const LOCAL_SLICE_BYTES = 1024 * 1024;
export const NUMERIC_OPTIONS = new Set([
  'records',
  'shards',
  'slice-bytes',
  'deadline-minutes',
  'limit',
  'timeout-minutes',
]);

function requireRun(values: Values): string {
  if (typeof values.run !== 'string') throw new CommandError('--run <id> is required');
  try {
    return checkRunId(values.run);
  } catch (error) {
    throw new CommandError((error as Error).message);
  }
}

/** Numeric options take whole decimal numbers only: no 1e3, 0x10, 1.0, +5 or blanks. */
function int(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  const text = String(value);
  const parsed = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(parsed) || parsed < 1)
    throw new CommandError(`--${name} must be a whole number of at least 1, written in digits, got "${text}"`);
  return parsed;
}

function reasonOf(values: Values): string | undefined {
  const reason = values.reason as string | undefined;
  if (reason !== undefined && !(DEAD_LETTER_REASONS as readonly string[]).includes(reason))
    throw new CommandError(`unknown reason "${reason}": use one of ${DEAD_LETTER_REASONS.join(', ')}`);
  return reason;
}

/** `s3://BUCKET/PREFIX` → the reader's source. */
function s3Source(name: string, value: unknown): { bucket: string; prefix: string } | undefined {
  if (value === undefined) return undefined;
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])\/?(.*)$/.exec(String(value));
  if (!match) throw new CommandError(`--${name} must be s3://BUCKET/PREFIX, got "${String(value)}"`);
  return { bucket: match[1], prefix: match[2] };
}

/** Starts the pipeline, stages the user's input for it, and runs `action` on that source. */
async function withInput<T>(
  options: RunJobOptions,
  input: string,
  action: (source: RunSource, pipeline: LocalPipeline) => Promise<T>,
): Promise<T> {
  const plan = await planInput(input);
  const pipeline = await LocalPipeline.start(pipelineOptions(options));
  try {
    const staged = await stageInput(pipeline.s3, plan, LOCAL_RESOURCES.sourceBucket);
    return await action(staged, pipeline);
  } finally {
    await pipeline.stop();
  }
}

/**
 * When no row got through and every row failed the job's input schema (or was not a row at all),
 * the job and the input do not belong together: say so rather than report an ordinary run.
 */
export function jobMismatchHint(report: RunReport): string | undefined {
  const byReason = report.deadLetteredByReason ?? {};
  const refused = (byReason['invalid-input'] ?? 0) + (byReason['malformed-row'] ?? 0);
  if (report.read === 0 || report.delivered > 0 || refused < report.read) return undefined;
  return (
    `hint: every one of the ${report.read} rows was refused (${Object.entries(byReason)
      .map(([reason, n]) => `${reason} ${n}`)
      .join(', ')}): does the job's input schema and source format match the input? ` +
    `See the reasons with \`npm run pipeline -- dead-letters --run ${report.runId}\`.`
  );
}

const verb = <A>(v: Verb<A>) => v as unknown as Verb<unknown>;

export const VERBS: Record<string, Verb<unknown>> = {
  run: verb({
    summary:
      'run a job end to end and print its summary (what `npm start` does): the example job on its example data, or --job on --input',
    usage:
      '[--run ID] [--job NAME|PATH] [--input FILE|FOLDER|s3://BUCKET/PREFIX] [--records N] [--shards N] [--slice-bytes N] [--streams always-on|per-run] [--cost-region REGION]',
    note: `defaults: the example job on ${EXAMPLE_DEFAULTS.records} example records, ${DEFAULTS.shardCount} shards, ${LOCAL_SLICE_BYTES}-byte slices, ${DEFAULTS.streamsLifecycle} streams (per-run: the reader creates them, and the cost report's idle month is per-run's); an existing run id resumes that run; --job takes a module path or a job made with \`npx nx g @pipeline/workspace:job NAME\``,
    localOnly: true,
    options: {
      ...runOption,
      job: { type: 'string' },
      input: { type: 'string' },
      records: { type: 'string' },
      shards: { type: 'string' },
      'slice-bytes': { type: 'string' },
      streams: { type: 'string' },
      'cost-region': { type: 'string' },
    },
    parse(values) {
      if (values.streams !== undefined && values.streams !== 'always-on' && values.streams !== 'per-run')
        throw new CommandError(`--streams takes always-on or per-run, not "${values.streams}"`);
      if (values.input !== undefined && values.records !== undefined)
        throw new CommandError('--records sizes the example data set; with --input the input is the data');
      const job = typeof values.job === 'string' ? loadJob(values.job) : undefined;
      // A job with its own source (ids, pages, custom) reads it itself; a job of S3 objects needs them.
      if (job && 'format' in job.source && values.input === undefined)
        throw new CommandError('--job needs --input: the example data set fits the example job only');
      if (job && !('format' in job.source) && values.input !== undefined)
        throw new CommandError(`--job ${values.job} reads its own source (kind '${job.source.kind}'): drop --input`);
      return {
        runId: values.run === undefined ? undefined : requireRun(values),
        dataDir: values['data-dir'] as string | undefined,
        shardCount: int('shards', values.shards, DEFAULTS.shardCount),
        sliceBytes: int('slice-bytes', values['slice-bytes'], LOCAL_SLICE_BYTES),
        data: { records: int('records', values.records, EXAMPLE_DEFAULTS.records) },
        input: values.input as string | undefined,
        job,
        streams: values.streams as 'always-on' | 'per-run' | undefined,
        costRegion: values['cost-region'] as string | undefined,
      };
    },
    async local({ input, job, ...rest }, _values, out) {
      const options: RunJobOptions = { ...rest, job, progress: out.progress };
      const report =
        input !== undefined
          ? await withInput(options, input, (source, pipeline) => runJob({ ...options, source, pipeline }))
          : await runJob(options);
      out.print(formatReport(report), jsonReport(report));
      const hint = jobMismatchHint(report);
      if (hint) out.progress(hint);
      return report.complete && report.conserved && !hint ? 0 : 1;
    },
  }),
  serve: verb({
    summary:
      'run the local pipeline as Lambda would (its consumers, reader and finisher) until stopped; the other verbs reach it from another terminal',
    usage: '[--records N] [--shards N] [--slice-bytes N] [--outputs-file FILE]',
    note: `the example data set (${EXAMPLE_DEFAULTS.records} records by default) is the reader's default source; --outputs-file writes the local stack's outputs as \`cdk deploy --outputs-file\` does, for \`--env local --outputs FILE\``,
    localOnly: true,
    options: {
      records: { type: 'string' },
      shards: { type: 'string' },
      'slice-bytes': { type: 'string' },
      'outputs-file': { type: 'string' },
    },
    parse(values) {
      return {
        exampleData: { ...EXAMPLE_DEFAULTS, records: int('records', values.records, EXAMPLE_DEFAULTS.records) },
        dataDir: values['data-dir'] as string | undefined,
        shardCount: int('shards', values.shards, DEFAULTS.shardCount),
        env: { SLICE_BYTES: String(int('slice-bytes', values['slice-bytes'], LOCAL_SLICE_BYTES)) },
        outputsFile: values['outputs-file'] as string | undefined,
      };
    },
    async local({ outputsFile, exampleData, ...options }, _values, out) {
      await serve(options, { outputsFile, exampleData, log: out.progress });
      return 0;
    },
  }),
  runs: verb({
    summary: "list the environment's runs, newest first, with their state and counts",
    usage: '[--limit N]',
    note: 'default: the 20 newest',
    options: { limit: { type: 'string' } },
    parse: (values) => ({ limit: int('limit', values.limit, 20) }),
    async run({ limit }, env, out) {
      const runs = await listRuns(env, limit);
      const lines = runs.length
        ? runs.map(
            (r) =>
              `${r.runId.padEnd(24)} ${r.state.padEnd(10)} slices ${r.slicesDone}/${r.slices} · read ${r.read}` +
              (r.delivered === undefined ? '' : ` · delivered ${r.delivered} · dead-lettered ${r.deadLettered}`) +
              (r.createdAt ? ` · started ${r.createdAt}` : ''),
          )
        : [`no runs in ${env.name}`];
      out.print(lines.join('\n'), { runs });
      return 0;
    },
  }),
  trigger: verb({
    summary: 'start (or continue) a run: invoke the reader as the schedule does',
    usage: '--run ID [--source s3://BUCKET/PREFIX]',
    note: "default source: the reader's own (its source bucket); on the embedded stack started for the command, the run goes to its end",
    options: { ...runOption, source: { type: 'string' } },
    parse: (values) => ({ runId: requireRun(values), source: s3Source('source', values.source) }),
    async run({ runId, source }, env, out) {
      if (env.pipeline) {
        const report = await runJob({ runId, pipeline: env.pipeline, source, progress: out.progress });
        out.print(formatReport(report), jsonReport(report));
        return report.complete && report.conserved ? 0 : 1;
      }
      await env.invokeReader({ runId, ...(source ? { source } : {}) });
      out.print(
        `Run ${runId}: the reader of ${env.name} is invoked. Follow it with \`${out.command} status --run ${runId}\`.`,
        { runId, triggered: true },
      );
      return 0;
    },
  }),
  status: verb({
    summary: "show a run's progress slice by slice, and whether it is delivering, complete, paused or stalled",
    usage: `--run ID [--deadline-minutes N]`,
    note: `a run not complete N minutes after it was planned is stalled; default ${DEFAULTS.runDeadlineMinutes}`,
    options: { ...runOption, 'deadline-minutes': { type: 'string' } },
    parse: (values) => ({
      runId: requireRun(values),
      deadline: int('deadline-minutes', values['deadline-minutes'], DEFAULTS.runDeadlineMinutes),
    }),
    async run({ runId, deadline }, env, out) {
      const report = await runStatus(env, runId, new Date(), deadline);
      const lines = [
        `Run ${runId}: ${report.state} · slices read ${report.slicesRead}/${report.slices} · done ${report.slicesDone}/${report.slices} · records read ${report.read}${report.chainOpen ? ' · cursor chain open: more slices to come' : ''}`,
        ...report.perSlice.map(
          (s) =>
            `  ${s.id}  ${s.read === undefined ? 'not read' : `read ${s.read} (malformed ${s.malformed}, spilled ${s.spilled})`}  ${s.done ? 'done' : 'pending'}`,
        ),
        ...(report.stalled
          ? [
              `  stalled: output due in S3 by ${report.stalled.dueBy} is missing from ${report.missingSlices.join(', ')}`,
              ...report.stalled.missing.map(
                (s) => `    ${s.slice}: ${s.found} of ${s.read} found, missing positions ${s.missing.join(', ')}…`,
              ),
            ]
          : report.missingSlices.length
            ? [`  stalled past ${report.deadline}: missing ${report.missingSlices.join(', ')}`]
            : []),
        ...(report.summary
          ? [
              `  last summary: delivered ${report.summary.delivered}, dead-lettered ${report.summary.deadLettered}, conserved ${report.summary.conserved}`,
            ]
          : []),
        ...(report.rejectedMarkers || report.forgedRecords
          ? [
              `  rejected: ${report.rejectedMarkers} end-of-slice markers that could not be true, ${report.forgedRecords} records not sealed by this run's reader (see \`dead-letters --run ${runId} --reason rejected-marker\`)`,
            ]
          : []),
        ...(report.eventSourceFailures
          ? [
              `  the event source mappings gave up on ${report.eventSourceFailures} batches: see s3://${env.resources.failuresBucket}/${ON_FAILURE_PREFIX}; \`redrive --run ${runId}\` puts this run's records back`,
            ]
          : []),
      ];
      out.print(lines.join('\n'), report);
      return 0;
    },
  }),
  'dead-letters': verb({
    summary: "list a run's dead letters by reason",
    usage: `--run ID [--reason R] [--limit N]`,
    note: `reasons: ${DEAD_LETTER_REASONS.join(', ')}`,
    options: { ...runOption, reason: { type: 'string' }, limit: { type: 'string' } },
    parse: (values) => ({ runId: requireRun(values), reason: reasonOf(values), limit: int('limit', values.limit, 50) }),
    async run({ runId, reason, limit }, env, out) {
      const listing = await listDeadLetters(env, runId, reason, limit);
      const lines = [
        `Run ${runId}: ${listing.total} dead letters`,
        ...Object.entries(listing.byReason).map(([r, count]) => `  ${r.padEnd(20)}${count}`),
        ...listing.letters.map((l) => `  ${l.id}  [${l.stage}/${l.reason}] ${l.message}`),
      ];
      out.print(lines.join('\n'), listing);
      return 0;
    },
  }),
  redrive: verb({
    summary:
      "put a run's dead letters (all, or one reason) and the batches the event source mappings gave up on back through the environment's processor",
    usage: '--run ID [--reason R] [--timeout-minutes N]',
    note: "waits for the environment's writer to write the redriven records, at most --timeout-minutes (default 10); safe to run again",
    options: { ...runOption, reason: { type: 'string' }, 'timeout-minutes': { type: 'string' } },
    parse: (values) => ({
      runId: requireRun(values),
      reason: reasonOf(values),
      timeoutMs: int('timeout-minutes', values['timeout-minutes'], 10) * 60_000,
    }),
    async run({ runId, reason, timeoutMs }, env, out) {
      const report = await redrive(env, runId, reason, { timeoutMs });
      out.print(
        `Run ${runId}: redrove ${report.redriven} dead letters (skipped ${report.skipped}) and ${report.onFailureRecords} records of ${report.onFailureBatches} batches the mappings gave up on · now delivered ${report.summary.delivered}, dead-lettered ${report.summary.deadLettered}, conserved ${report.summary.conserved}`,
        report,
      );
      return 0;
    },
  }),
  replay: verb({
    summary: 'reprocess a run from the records stream (trim horizon or a timestamp) and collate again',
    usage: '--run ID [--from trim-horizon|<ISO time>]',
    options: { ...runOption, from: { type: 'string', default: 'trim-horizon' } },
    parse(values) {
      const from: 'trim-horizon' | Date =
        values.from === 'trim-horizon' ? 'trim-horizon' : new Date(String(values.from));
      if (from !== 'trim-horizon' && Number.isNaN(from.getTime()))
        throw new CommandError(`--from must be trim-horizon or an ISO time, got "${String(values.from)}"`);
      return { runId: requireRun(values), from };
    },
    async run({ runId, from }, env, out) {
      const report = await replay(env, runId, from);
      out.print(
        `Run ${runId}: replayed ${report.replayed} records from ${report.from} · delivered ${report.delivered}, dead-lettered ${report.deadLettered}, duplicates dropped ${report.duplicatesDropped} · output ${report.identical ? 'identical to' : 'DIFFERENT from'} before`,
        report,
      );
      return report.identical ? 0 : 1;
    },
  }),
  pause: verb({
    summary: 'halt a run: the reader, processor and writer stop taking its records (others go on)',
    usage: '--run ID',
    options: runOption,
    parse: (values) => ({ runId: requireRun(values) }),
    async run({ runId }, env, out) {
      const result = await pause(env, runId);
      out.print(`Run ${runId} paused. Resume it with \`${out.command} resume --run ${runId}\`.`, result);
      return 0;
    },
  }),
  resume: verb({
    summary: 'continue a paused run without loss: its parked records go back on their streams and the reader goes on',
    usage: '--run ID',
    note: 'on the embedded stack started for the command, the run goes to its end; elsewhere follow it with `status`',
    options: runOption,
    parse: (values) => ({ runId: requireRun(values) }),
    async run({ runId }, env, out) {
      const { unparked } = await unpark(env, runId);
      out.progress(`put ${unparked} parked records back on their streams`);
      const manifest = await env.ledger.getManifest(runId);
      if (!manifest) throw new CommandError(`run ${runId} has no manifest: it was never started`);
      if (env.pipeline) {
        const report = await runJob({ runId, pipeline: env.pipeline, source: manifest.source, progress: out.progress });
        out.print(formatReport(report), jsonReport(report));
        return report.complete && report.conserved ? 0 : 1;
      }
      // The reader skips the slices it has read: invoked again, it reads what the pause left unread.
      const progress = await env.ledger.progress(runId, manifest);
      if (progress.read < progress.planned) await env.invokeReader({ runId, source: manifest.source });
      out.print(
        `Run ${runId} resumed: ${unparked} parked records back on their streams${progress.read < progress.planned ? `, the reader invoked for ${progress.planned - progress.read} unread slices` : ''}. Follow it with \`${out.command} status --run ${runId}\`.`,
        { runId, state: 'running', unparked, unreadSlices: progress.planned - progress.read },
      );
      return 0;
    },
  }),
  collate: verb({
    summary: "collate a run's output again and print its summary",
    usage: '--run ID',
    options: runOption,
    parse: (values) => ({ runId: requireRun(values) }),
    async run({ runId }, env, out) {
      const summary = await collate(env, runId);
      out.print(
        `Run ${runId}: read ${summary.read} · delivered ${summary.delivered} · dead-lettered ${summary.deadLettered} · conserved ${summary.conserved}`,
        summary,
      );
      return summary.conserved ? 0 : 1;
    },
  }),
};
