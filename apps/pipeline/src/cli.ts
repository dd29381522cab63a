import { CommandError, DataDirInUseError } from '@pipeline/local-runner';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { localServerFailure, LocalServerError } from '@pipeline/local-stack';
import { EndpointError } from '@pipeline/aws';
import { checkEnvironmentChoice, type Environment, type EnvironmentChoice, openEnvironment } from './environment';
import { COMMON_OPTIONS, NUMERIC_OPTIONS, type Output, type Values, type Verb, VERBS } from './verbs';

/** The options every verb takes, with what they do. */
const COMMON_USAGE = [
  'Every verb takes --help and --json (one JSON object on stdout; with npm, add --silent before --: `npm run --silent pipeline -- status --run ID --json`).',
  'Where it acts: --env NAME [--outputs FILE] [--account ID] a deployed environment (its names from `cdk deploy --outputs-file FILE` or',
  "`aws cloudformation describe-stacks > FILE`, else from the CDK app's naming with --account and AWS_REGION; the SDK's usual credentials);",
  'without --env, the local pipeline: the one running on --data-dir DIR (default .local/), else the embedded stack, started for the command.',
].join('\n');

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

function verbUsage(name: string, verb: Verb<unknown>, invocation: Invocation): string {
  const where = verb.localOnly ? '[--data-dir DIR]' : '[--env NAME [--outputs FILE] | --data-dir DIR]';
  const words = [invocation.command, invocation.verb ? '' : name, verb.usage, where, '[--json]'];
  const line = `Usage: ${words.filter(Boolean).join(' ')}`;
  return verb.note ? `${line}\n  (${verb.note})` : line;
}

/**
 * parseArgs reads `--records -5` as an option followed by another option, and says so in its own
 * words ("ambiguous"): give a value that starts with a dash the same wording as any other bad number.
 */
function numericOptionWithDash(args: string[], options: ParseArgsConfig['options']): CommandError | undefined {
  for (let i = 0; i < args.length - 1; i++) {
    const name = args[i].startsWith('--') ? args[i].slice(2) : '';
    const option = options?.[name];
    if (option?.type === 'string' && NUMERIC_OPTIONS.has(name) && /^-/.test(args[i + 1]))
      return new CommandError(
        `--${name} must be a whole number of at least 1, written in digits, got "${args[i + 1]}"`,
      );
  }
  return undefined;
}

function environmentChoice(values: Values): EnvironmentChoice {
  return {
    env: values.env as string | undefined,
    outputs: values.outputs as string | undefined,
    account: values.account as string | undefined,
    dataDir: values['data-dir'] as string | undefined,
  };
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
      options: { ...COMMON_OPTIONS, ...verb.options },
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
    command: invocation.command,
    print: (human, data) => io.stdout.write(json ? `${JSON.stringify(data)}\n` : `${human}\n`),
    progress: (line) => io.stderr.write(`${line}\n`),
  };
  let env: Environment | undefined;
  try {
    // Fast feedback: every argument is checked before anything starts or connects.
    const choice = environmentChoice(values);
    checkEnvironmentChoice(choice);
    if (verb.localOnly && choice.env !== undefined)
      throw new CommandError(`${name} runs the local pipeline on this machine: not with --env`);
    const args = verb.parse(values);
    if (verb.local) return await verb.local(args, values, out);
    if (!verb.run) throw new Error(`verb ${name} has neither run nor local`);
    env = await openEnvironment(choice);
    if (env.kind !== 'embedded')
      out.progress(`acting on ${env.kind === 'deployed' ? `environment ${env.name}` : 'the running local pipeline'}`);
    return await verb.run(args, env, out);
  } catch (error) {
    // A server of the embedded stack that died is the cause of whatever failed after it: say that.
    const cause = localServerFailure() ?? error;
    const known =
      cause instanceof CommandError ||
      cause instanceof LocalServerError ||
      cause instanceof DataDirInUseError ||
      cause instanceof EndpointError;
    const message = known ? (cause as Error).message : `${(cause as Error).name}: ${(cause as Error).message}`;
    io.stderr.write(`error: ${message}\n`);
    return error instanceof CommandError ? 2 : 1;
  } finally {
    await env?.close();
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
