import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat } from 'node:fs/promises';
import { join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import {
  identitiesFromTemplates,
  LOCAL_ACCOUNT_ID,
  resolveIntrinsics,
  type CfnTemplate,
  type LocalIdentity,
  type ServiceScope,
} from '@pipeline/local-stack';

/** What `infra/src/local-roles.ts` writes: the synthesized templates and the deployed names. */
interface LocalRolesFile {
  envName: string;
  templates: CfnTemplate[];
  /** App name → deployed function name. */
  functions: Record<string, string>;
  names: {
    recordsStream: string;
    resultsStream: string;
    deliveryStream: string;
    buckets: Record<'source' | 'spill' | 'results' | 'failures' | 'access-logs', unknown>;
  };
}

const WORKSPACE_ROOT = resolve(__dirname, '../../..');
const SCRIPT = join(WORKSPACE_ROOT, 'infra', 'src', 'local-roles.ts');
/** Shared by every data folder (tests use temporary ones): the templates depend on the sources only. */
const CACHE_DIR = join(WORKSPACE_ROOT, '.local', 'iam-cache');
/**
 * What the CDK app's output depends on: its sources, its context, and the libs it takes names from
 * (any lib but the embedded stack and this runner, which it may not import).
 */
const SOURCE_ROOTS = ['infra/src', 'infra/cdk.json', 'libs'];
const NOT_INFRA_INPUTS = [join('libs', 'local-runner'), join('libs', 'local-stack')];
const SYNTH_TIMEOUT_MS = 120_000;

async function sourceFiles(path: string): Promise<string[]> {
  const full = join(WORKSPACE_ROOT, path);
  if (!existsSync(full)) return [];
  if ((await stat(full)).isFile()) return [full];
  const entries = await readdir(full, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && /\.(ts|js|json)$/.test(e.name) && !e.name.includes('.spec.'))
    .map((e) => join(e.parentPath, e.name))
    .filter(
      (f) =>
        !f.includes('node_modules') && !NOT_INFRA_INPUTS.some((dir) => relative(WORKSPACE_ROOT, f).startsWith(dir)),
    )
    .sort();
}

/** A hash of everything the synthesized roles depend on, and the environment that selects them. */
async function sourcesHash(env: NodeJS.ProcessEnv): Promise<string> {
  const hash = createHash('sha256');
  hash.update(`${env.PIPELINE_ENV ?? ''}\0${env.PIPELINE_OVERRIDES ?? ''}\0`);
  for (const root of SOURCE_ROOTS)
    for (const file of await sourceFiles(root)) {
      hash.update(relative(WORKSPACE_ROOT, file));
      hash.update(await readFile(file));
    }
  return hash.digest('hex').slice(0, 16);
}

let loaded: { key: string; roles: Promise<LocalRolesFile> } | undefined;

/**
 * The roles as the CDK app synthesizes them, synthesized once per change of the infrastructure's
 * sources (a few seconds, in a child process: the local runner does not import the CDK app) and
 * cached in `.local/iam-cache/`. `jobName` names the job the processor runs when it is not the
 * active one (`--job`): the processor's `context.once` claims are granted for that job alone.
 */
export async function synthesizedRoles(
  env: NodeJS.ProcessEnv = process.env,
  jobName?: string,
): Promise<LocalRolesFile> {
  const sources = await sourcesHash(env);
  // One synthesis per job run on the same sources: each grants its own job's claims.
  const job = jobName === undefined ? '' : `-${createHash('sha256').update(jobName).digest('hex').slice(0, 8)}`;
  const key = `${sources}${job}`;
  if (loaded?.key === key) return loaded.roles;
  const roles = (async () => {
    const file = join(CACHE_DIR, `roles-${key}.json`);
    if (!existsSync(file)) {
      await mkdir(CACHE_DIR, { recursive: true });
      const partial = `${file}.${process.pid}.tmp`;
      try {
        const args = [require.resolve('tsx/cli'), SCRIPT, partial, ...(jobName === undefined ? [] : [jobName])];
        await promisify(execFile)(process.execPath, args, {
          cwd: WORKSPACE_ROOT,
          env: { ...env, NODE_OPTIONS: '' },
          timeout: SYNTH_TIMEOUT_MS,
        });
      } catch (error) {
        const stderr = (error as { stderr?: string }).stderr ?? '';
        throw new Error(
          `could not synthesize the CDK app to read the functions' role policies (${SCRIPT}): ${stderr.trim() || (error as Error).message}. ` +
            'Check that `npx tsx infra/src/local-roles.ts out.json` runs, or start the pipeline with IAM enforcement off (iam: false).',
        );
      }
      await rename(partial, file);
      // Syntheses of older sources are stale: keep the cache to the current sources (any job).
      for (const name of await readdir(CACHE_DIR))
        if (/^roles-[0-9a-f]+(-[0-9a-f]+)?\.json$/.test(name) && !name.startsWith(`roles-${sources}`))
          await rm(join(CACHE_DIR, name), { force: true });
    }
    return JSON.parse(await readFile(file, 'utf8')) as LocalRolesFile;
  })();
  loaded = { key, roles };
  roles.catch(() => {
    if (loaded?.roles === roles) loaded = undefined;
  });
  return roles;
}

/** The local resources the deployed names map to (LOCAL_RESOURCES in local-pipeline.ts). */
export interface LocalNames {
  recordsStream: string;
  resultsStream: string;
  deliveryStream: string;
  sourceBucket: string;
  spillBucket: string;
  resultsBucket: string;
}

/**
 * Each local function's identity (access key id = its local name) with its deployed role's
 * policies, resolved for the local account and region and renamed to the local resources.
 */
export function localIdentities(
  roles: LocalRolesFile,
  functions: Record<string, string>,
  local: LocalNames,
  region: string,
  /** The local Firehose's identity: it writes to S3 with the delivery stream's role. */
  delivery?: string,
): Map<string, LocalIdentity> {
  const scope: ServiceScope = { partition: 'aws', region, accountId: LOCAL_ACCOUNT_ID };
  const bucket = (kind: keyof LocalRolesFile['names']['buckets']) =>
    String(resolveIntrinsics(roles.names.buckets[kind], {}, scope));
  return identitiesFromTemplates(
    {
      templates: roles.templates,
      // Each local function runs as its deployed counterpart (by app name: reader, processor, …).
      functions: Object.fromEntries(
        Object.entries(functions).map(([app, localName]) => {
          const deployed = roles.functions[app];
          if (!deployed) throw new Error(`the CDK app defines no ${app} function: check infra/src/names.ts`);
          return [localName, deployed];
        }),
      ),
      deliveryStreams: delivery ? { [delivery]: roles.names.deliveryStream } : {},
      names: {
        // The functions by name too: conditions such as lambda:FunctionArn name them.
        ...Object.fromEntries(
          Object.entries(functions).flatMap(([app, localName]) =>
            roles.functions[app] ? [[roles.functions[app], localName]] : [],
          ),
        ),
        [roles.names.recordsStream]: local.recordsStream,
        [roles.names.resultsStream]: local.resultsStream,
        [roles.names.deliveryStream]: local.deliveryStream,
        [bucket('source')]: local.sourceBucket,
        [bucket('spill')]: local.spillBucket,
        [bucket('results')]: local.resultsBucket,
      },
    },
    scope,
  );
}

/** What the CDK app deploys that the bill depends on: each function's memory and architecture, and the streams' capacity. */
export interface DeployedCapacity {
  /** By app name (reader, processor, writer, finisher). */
  functions: Record<string, { memoryMiB: number; architecture: 'arm64' | 'x86_64' }>;
  streams: { mode: 'provisioned' | 'on-demand'; shards: number[] };
  /** The reader's schedule (AWS::Scheduler::Schedule), when the CDK app deploys one: how often runs start. */
  schedule?: { expression: string; enabled: boolean };
}

/** Reads the deployed capacity from the synthesized templates (AWS::Lambda::Function, AWS::Kinesis::Stream, AWS::Scheduler::Schedule). */
export function deployedCapacity(roles: Pick<LocalRolesFile, 'templates' | 'functions'>): DeployedCapacity {
  const byName = new Map(Object.entries(roles.functions).map(([app, deployed]) => [deployed, app]));
  const functions: DeployedCapacity['functions'] = {};
  const shards: number[] = [];
  let mode: DeployedCapacity['streams']['mode'] = 'provisioned';
  let schedule: DeployedCapacity['schedule'];
  for (const template of roles.templates)
    for (const resource of Object.values(template.Resources ?? {})) {
      const props = (resource.Properties ?? {}) as Record<string, unknown>;
      if (resource.Type === 'AWS::Lambda::Function') {
        const app = byName.get(String(props.FunctionName));
        if (!app) continue;
        const arch = (props.Architectures as string[] | undefined)?.[0] === 'arm64' ? 'arm64' : 'x86_64';
        // Lambda's default memory when a function sets none.
        functions[app] = { memoryMiB: Number(props.MemorySize ?? 128), architecture: arch };
      } else if (resource.Type === 'AWS::Kinesis::Stream') {
        const details = props.StreamModeDetails as { StreamMode?: string } | undefined;
        if (details?.StreamMode === 'ON_DEMAND') mode = 'on-demand';
        shards.push(Number(props.ShardCount ?? 0));
      } else if (resource.Type === 'AWS::Scheduler::Schedule' && typeof props.ScheduleExpression === 'string') {
        schedule = { expression: props.ScheduleExpression, enabled: props.State !== 'DISABLED' };
      }
    }
  return { functions, streams: { mode, shards }, ...(schedule ? { schedule } : {}) };
}
