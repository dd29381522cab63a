import './local-env';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DEAD_LETTER_REASONS } from '@pipeline/records';
import { DEFAULTS } from '@pipeline/limits';
import { EXAMPLE_DEFAULTS } from '@pipeline/example-job';
import { checkRunId } from '@pipeline/run-ledger';
import { formatReport, jsonReport } from './format';
import { localServerFailure, LocalServerError } from '@pipeline/local-stack';
import { DataDirInUseError, LOCAL_RESOURCES, LocalPipeline } from './local-pipeline';
import { collate, CommandError, listDeadLetters, pause, redrive, replay, runStatus, unpark } from './operations';
import { planInput, type RunSource, stageInput } from './input';
import { loadJob } from './job-module';
import { pipelineOptions, type RunJobOptions, type RunReport, runJob } from './run-job';

type Values = Record<string, string | boolean | undefined>;
interface Verb {
  summary: string;
  /** The verb's own arguments; the common options are added to every usage line. */
  usage: string;
  /** Defaults and other details, printed under the usage line. */
  note?: string;
  options: ParseArgsConfig['options'];
  run(values: Values, out: Output): Promise<number>;
}
interface Output {
  json: boolean;
  print(human: string, json: unknown): void;
  progress(line: string): void;
}

const common = {
  json: { type: 'boolean', default: false },
  'data-dir': { type: 'string' },
  help: { type: 'boolean', short: 'h', default: false },
} as const;
const runOption = { run: { type: 'string' } } as const;
/** Local runs use smaller slices than AWS (DEFAULTS.sliceBytes) so the example shows several in flight. */
const LOCAL_SLICE_BYTES = 1024 * 1024;

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
  if (!Number.isSafeInteger(parsed) || parsed < 1) throw badNumber(name, text);
  return parsed;
}

const badNumber = (name: string, value: string) =>
  new CommandError(`--${name} must be a whole number of at least 1, written in digits, got "${value}"`);

/**
 * parseArgs reads `--records -5` as an option followed by another option, and says so in its own
 * words ("ambiguous"): give a value that starts with a dash the same wording as any other bad number.
 */
function numericOptionWithDash(args: string[], options: ParseArgsConfig['options']): CommandError | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : undefined;
    const option = name === undefined ? undefined : options?.[name];
    if (option?.type === 'string' && NUMERIC_OPTIONS.has(name!) && /^-/.test(args[i + 1]))
      return badNumber(name!, args[i + 1]);
  }
  return undefined;
}

const NUMERIC_OPTIONS = new Set(['records', 'shards', 'slice-bytes', 'deadline-minutes', 'limit']);

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

async function withPipeline<T>(values: Values, action: (pipeline: LocalPipeline) => Promise<T>): Promise<T> {
  const pipeline = await LocalPipeline.start({ dataDir: values['data-dir'] as string | undefined });
  try {
    return await action(pipeline);
  } finally {
    await pipeline.stop();
  }
}

const VERBS: Record<string, Verb> = {
  run: {
    summary:
      'run a job end to end and print its summary (what `npm start` does): the example job on its example data, or --job on --input',
    usage:
      '[--run ID] [--job NAME|PATH] [--input FILE|FOLDER|s3://BUCKET/PREFIX] [--records N] [--shards N] [--slice-bytes N] [--cost-region REGION]',
    note: `defaults: the example job on ${EXAMPLE_DEFAULTS.records} example records, ${DEFAULTS.shardCount} shards, ${LOCAL_SLICE_BYTES}-byte slices; an existing run id resumes that run; --job takes a module path or a job made with \`npx nx g @pipeline/workspace:job NAME\``,
    options: {
      ...runOption,
      job: { type: 'string' },
      input: { type: 'string' },
      records: { type: 'string' },
      shards: { type: 'string' },
      'slice-bytes': { type: 'string' },
      'cost-region': { type: 'string' },
    },
    async run(values, out) {
      if (values.job !== undefined && values.input === undefined)
        throw new CommandError('--job needs --input: the example data set fits the example job only');
      if (values.input !== undefined && values.records !== undefined)
        throw new CommandError('--records sizes the example data set; with --input the input is the data');
      const job = typeof values.job === 'string' ? loadJob(values.job) : undefined;
      const options = {
        runId: values.run === undefined ? undefined : requireRun(values),
        dataDir: values['data-dir'] as string | undefined,
        shardCount: int('shards', values.shards, DEFAULTS.shardCount),
        sliceBytes: int('slice-bytes', values['slice-bytes'], LOCAL_SLICE_BYTES),
        data: { records: int('records', values.records, EXAMPLE_DEFAULTS.records) },
        job,
        progress: out.progress,
        costRegion: values['cost-region'] as string | undefined,
      };
      const report =
        typeof values.input === 'string'
          ? await withInput(options, values.input, (source, pipeline) => runJob({ ...options, source, pipeline }))
          : await runJob(options);
      out.print(formatReport(report), jsonReport(report));
      const hint = jobMismatchHint(report);
      if (hint) out.progress(hint);
      return report.complete && report.conserved && !hint ? 0 : 1;
    },
  },
  status: {
    summary: "show a run's progress slice by slice, and whether it is delivering, complete, paused or stalled",
    usage: `--run ID [--deadline-minutes N]`,
    note: `a run not complete N minutes after it was planned is stalled; default ${DEFAULTS.runDeadlineMinutes}`,
    options: { ...runOption, 'deadline-minutes': { type: 'string' } },
    async run(values, out) {
      const runId = requireRun(values);
      const deadline = int('deadline-minutes', values['deadline-minutes'], DEFAULTS.runDeadlineMinutes);
      const report = await withPipeline(values, (p) => runStatus(p, runId, new Date(), deadline));
      const lines = [
        `Run ${runId}: ${report.state} · slices read ${report.slicesRead}/${report.slices} · done ${report.slicesDone}/${report.slices} · records read ${report.read}`,
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
              `  the event source mappings gave up on ${report.eventSourceFailures} batches: see s3://${LOCAL_RESOURCES.resultsBucket}/event-source-failures/`,
            ]
          : []),
      ];
      out.print(lines.join('\n'), report);
      return 0;
    },
  },
  'dead-letters': {
    summary: "list a run's dead letters by reason",
    usage: `--run ID [--reason R] [--limit N]`,
    note: `reasons: ${DEAD_LETTER_REASONS.join(', ')}`,
    options: { ...runOption, reason: { type: 'string' }, limit: { type: 'string' } },
    async run(values, out) {
      const runId = requireRun(values);
      const listing = await withPipeline(values, (p) =>
        listDeadLetters(p.store, runId, values.reason as string | undefined, int('limit', values.limit, 50)),
      );
      const lines = [
        `Run ${runId}: ${listing.total} dead letters`,
        ...Object.entries(listing.byReason).map(([reason, count]) => `  ${reason.padEnd(20)}${count}`),
        ...listing.letters.map((l) => `  ${l.id}  [${l.stage}/${l.reason}] ${l.message}`),
      ];
      out.print(lines.join('\n'), listing);
      return 0;
    },
  },
  redrive: {
    summary: "put a run's dead letters (all, or one reason) back through the processor",
    usage: '--run ID [--reason R]',
    options: { ...runOption, reason: { type: 'string' } },
    async run(values, out) {
      const runId = requireRun(values);
      const report = await withPipeline(values, (p) => redrive(p, runId, values.reason as string | undefined));
      out.print(
        `Run ${runId}: redrove ${report.redriven} (skipped ${report.skipped}) · now delivered ${report.summary.delivered}, dead-lettered ${report.summary.deadLettered}, conserved ${report.summary.conserved}`,
        report,
      );
      return 0;
    },
  },
  replay: {
    summary: 'reprocess a run from the records stream (trim horizon or a timestamp) and collate again',
    usage: '--run ID [--from trim-horizon|<ISO time>]',
    options: { ...runOption, from: { type: 'string', default: 'trim-horizon' } },
    async run(values, out) {
      const runId = requireRun(values);
      const from = values.from === 'trim-horizon' ? 'trim-horizon' : new Date(String(values.from));
      if (from !== 'trim-horizon' && Number.isNaN(from.getTime()))
        throw new CommandError(`--from must be trim-horizon or an ISO time, got "${String(values.from)}"`);
      const report = await withPipeline(values, (p) => replay(p, runId, from));
      out.print(
        `Run ${runId}: replayed ${report.replayed} records from ${report.from} · delivered ${report.delivered}, dead-lettered ${report.deadLettered}, duplicates dropped ${report.duplicatesDropped} · output ${report.identical ? 'identical to' : 'DIFFERENT from'} before`,
        report,
      );
      return report.identical ? 0 : 1;
    },
  },
  pause: {
    summary: 'halt a run: the reader, processor and writer stop taking its records (others go on)',
    usage: '--run ID',
    options: runOption,
    async run(values, out) {
      const runId = requireRun(values);
      const result = await withPipeline(values, (p) => pause(p, runId));
      out.print(`Run ${runId} paused. Resume it with \`npm run pipeline -- resume --run ${runId}\`.`, result);
      return 0;
    },
  },
  resume: {
    summary: 'continue a paused run without loss and run it to completion',
    usage: '--run ID',
    options: runOption,
    async run(values, out) {
      const runId = requireRun(values);
      const report = await withPipeline(values, async (pipeline) => {
        const { unparked } = await unpark(pipeline, runId);
        const manifest = await pipeline.ledger.getManifest(runId);
        out.progress(`put ${unparked} parked records back on their streams`);
        if (!manifest) throw new CommandError(`run ${runId} has no manifest: it was never started`);
        return runJob({ runId, pipeline, source: manifest.source, progress: out.progress });
      });
      out.print(formatReport(report), jsonReport(report));
      return report.complete && report.conserved ? 0 : 1;
    },
  },
  collate: {
    summary: "collate a run's output again and print its summary",
    usage: '--run ID',
    options: runOption,
    async run(values, out) {
      const runId = requireRun(values);
      const summary = await withPipeline(values, (p) => collate(p, runId));
      out.print(
        `Run ${runId}: read ${summary.read} · delivered ${summary.delivered} · dead-lettered ${summary.deadLettered} · conserved ${summary.conserved}`,
        summary,
      );
      return summary.conserved ? 0 : 1;
    },
  },
};

/** The options every verb takes, with what they do. */
const COMMON_USAGE =
  "Every verb takes --help, --json (one JSON object on stdout; with npm, add --silent before --: `npm run --silent pipeline -- status --run ID --json`) and --data-dir DIR (the embedded stack's data folder; default .local/).";

function usage(command: string): string {
  const width = Math.max(...Object.keys(VERBS).map((v) => v.length));
  return [
    `Usage: ${command} <verb> [options]`,
    '',
    'Verbs:',
    ...Object.entries(VERBS).map(([name, verb]) => `  ${name.padEnd(width)}  ${verb.summary}`),
    '',
    COMMON_USAGE,
  ].join('\n');
}

/**
 * How the user invoked the CLI, so that usage and errors name the command they typed: the verbs
 * (`npm run pipeline -- status …`), or one verb bound to a command of its own (`npm start -- …` is `run`).
 */
export interface Invocation {
  command: string;
  verb?: string;
}
export const PIPELINE_COMMAND: Invocation = { command: 'npm run pipeline --' };

function verbUsage(name: string, verb: Verb, invocation: Invocation): string {
  const words = [invocation.command, invocation.verb ? '' : name, verb.usage, '[--data-dir DIR] [--json]'];
  const line = `Usage: ${words.filter(Boolean).join(' ')}`;
  return verb.note ? `${line}\n  (${verb.note})` : line;
}

export async function main(
  argv: string[],
  io: { stdout: Pick<NodeJS.WritableStream, 'write'>; stderr: Pick<NodeJS.WritableStream, 'write'> } = process,
  invocation: Invocation = PIPELINE_COMMAND,
): Promise<number> {
  const [name, ...rest] = invocation.verb ? [invocation.verb, ...argv] : argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    io.stdout.write(`${usage(invocation.command)}\n`);
    return name ? 0 : 2;
  }
  const verb = VERBS[name];
  if (!verb) {
    io.stderr.write(`unknown verb "${name}"\n\n${usage(invocation.command)}\n`);
    return 2;
  }
  let values: Values;
  const dashed = numericOptionWithDash(rest, verb.options);
  if (dashed) {
    io.stderr.write(`error: ${dashed.message}\n\n${verbUsage(name, verb, invocation)}\n`);
    return 2;
  }
  try {
    ({ values } = parseArgs({
      args: rest,
      options: { ...common, ...verb.options },
      strict: true,
      allowPositionals: false,
    }) as { values: Values });
  } catch (error) {
    io.stderr.write(`${(error as Error).message}\n\n${verbUsage(name, verb, invocation)}\n`);
    return 2;
  }
  if (values.help) {
    io.stdout.write(`${verbUsage(name, verb, invocation)}\n\n${verb.summary}\n\n${COMMON_USAGE}\n`);
    return 0;
  }
  const json = values.json === true;
  const out: Output = {
    json,
    print: (human, data) => io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`),
    progress: (line) => io.stderr.write(`${line}\n`),
  };
  try {
    return await verb.run(values, out);
  } catch (error) {
    // A server of the embedded stack that died is the cause of whatever failed after it: say that.
    const cause = localServerFailure() ?? error;
    const known =
      cause instanceof CommandError || cause instanceof LocalServerError || cause instanceof DataDirInUseError;
    const message = known ? (cause as Error).message : `${(cause as Error).name}: ${(cause as Error).message}`;
    io.stderr.write(`error: ${message}\n`);
    return error instanceof CommandError ? 2 : 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
