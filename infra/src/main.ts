import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { parseArgs as parseCommandLine } from 'node:util';
import type { cx_api } from 'aws-cdk-lib';
import { buildPipeline, createApp } from './app';
import { bundleCode, WORKSPACE_ROOT } from './code';
import { APP_NAMES, configSourcesFrom, resolveConfig, type AppName } from './config';

/**
 * The CDK app. Synthesizes by itself — no CDK CLI needed, nothing leaves the machine:
 *
 *   tsx infra/src/main.ts [--app reader]… [--shared-only] [--outdir <dir>] [-c key=value]…
 *
 * With no `--app`, every app stack is built; the shared stack always is. Context comes from
 * infra/cdk.json, then PIPELINE_ENV / PIPELINE_OVERRIDES, then `-c` (see config.ts). The CDK CLI
 * can run it too (`cd infra && npx cdk synth`), as infra/cdk.json names it as the app.
 */

export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export interface SynthOptions {
  apps: AppName[];
  outdir?: string;
  context: Record<string, string>;
}

const USAGE =
  'usage: tsx infra/src/main.ts [--app reader|processor|writer|finisher]… [--shared-only] [--outdir <dir>] [-c key=value]…';

const SYNTH_OPTIONS = {
  app: { type: 'string', multiple: true },
  'shared-only': { type: 'boolean' },
  outdir: { type: 'string', short: 'o' },
  context: { type: 'string', short: 'c', multiple: true },
} as const;

/**
 * @example parseArgs(['--app', 'reader', '-c', 'env=prod']); // { apps: ['reader'], context: { env: 'prod' } }
 */
export function parseArgs(argv: readonly string[]): SynthOptions {
  let parsed: ReturnType<typeof parseCommandLine<{ options: typeof SYNTH_OPTIONS; strict: true }>>;
  try {
    parsed = parseCommandLine({ args: [...argv], options: SYNTH_OPTIONS, strict: true, allowPositionals: false });
  } catch (error) {
    throw new UsageError(`${(error as Error).message}; ${USAGE}`);
  }
  const { values } = parsed;
  const apps = (values.app ?? []).map((app) => {
    if (!(APP_NAMES as readonly string[]).includes(app))
      throw new UsageError(`unknown app "${app}": choose one of ${APP_NAMES.join(', ')}`);
    return app as AppName;
  });
  const context: Record<string, string> = {};
  for (const pair of values.context ?? []) {
    const at = pair.indexOf('=');
    if (at < 1) throw new UsageError(`context "${pair}" is not key=value`);
    context[pair.slice(0, at)] = pair.slice(at + 1);
  }
  const sharedOnly = values['shared-only'] ?? false;
  if (sharedOnly && apps.length) throw new UsageError('--shared-only and --app exclude each other');
  return { apps: sharedOnly ? [] : apps.length ? apps : [...APP_NAMES], outdir: values.outdir, context };
}

/** infra/cdk.json's context: the per-environment settings. */
export function cdkJsonContext(root: string = WORKSPACE_ROOT): Record<string, unknown> {
  const file = path.join(root, 'infra', 'cdk.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { context?: Record<string, unknown> }).context ?? {};
}

/**
 * Builds and synthesizes the chosen stacks, with cdk-nag; throws on invalid configuration, a
 * missing bundle or an unacknowledged finding.
 *
 * @example synthesize(['--app', 'reader', '--outdir', 'infra/cdk.out/reader']);
 */
export function synthesize(
  argv: readonly string[],
  env: NodeJS.ProcessEnv = process.env,
  root: string = WORKSPACE_ROOT,
): cx_api.CloudAssembly {
  const options = parseArgs(argv);
  const app = createApp({
    outdir: options.outdir ? path.resolve(options.outdir) : undefined,
    context: cdkJsonContext(root),
    postCliContext: options.context,
  });
  const config = resolveConfig(configSourcesFrom((key) => app.node.tryGetContext(key), env));
  buildPipeline(app, { config, apps: options.apps, code: (name) => bundleCode(name, root) });
  return app.synth();
}

if (require.main === module) {
  try {
    const assembly = synthesize(process.argv.slice(2));
    const stacks = assembly.stacks.map((s) => `${s.hierarchicalId} (${s.stackName})`).join(', ');
    console.log(`synthesized ${stacks} into ${path.relative(process.cwd(), assembly.directory) || '.'}`);
  } catch (error) {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  }
}
