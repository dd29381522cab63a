import { readFile } from 'node:fs/promises';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import type { KinesisClient } from '@aws-sdk/client-kinesis';
import { kinesisClient, lambdaClient, s3Client } from '@pipeline/aws';
import { pipelineNames } from '@pipeline/config';
import { LOCAL_S3_CREDENTIALS } from '@pipeline/local-stack';
import {
  CommandError,
  DEFAULT_DATA_DIR,
  LOCAL_RESOURCES,
  LocalPipeline,
  readDataDirClaim,
  type DataDirClaim,
} from '@pipeline/local-runner';
import { s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { RunLedger } from '@pipeline/run-ledger';
import {
  awsStreamsPort,
  RUN_STREAMS_ENV,
  type RunStreamsPlan,
  RunStreamsPlanError,
  runStreamsPlan,
  type StreamsPort,
} from '@pipeline/run-streams';

/** The names of an environment's resources: what the operator verbs read, write and put records on. */
export interface EnvironmentResources {
  recordsStream: string;
  resultsStream: string;
  sourceBucket: string;
  spillBucket: string;
  resultsBucket: string;
  /** The event source mappings' on-failure destination (records under `aws/lambda/`). */
  failuresBucket: string;
  readerFunction: string;
  /** The streams' lifecycle, when the environment says (the `StreamsLifecycle` output). */
  streamsLifecycle?: 'always-on' | 'per-run';
  /** Per-run streams: the plan the reader opens them with (the `RunStreams` output), for `redrive`. */
  runStreams?: RunStreamsPlan;
}

/**
 * Where the operator verbs act: a deployed environment, a local pipeline running in another
 * process, or the embedded stack this command starts because none is running.
 */
export interface Environment {
  /** `local`, or the deployed environment's name. */
  readonly name: string;
  /**
   * - `deployed`: found by name; its event source mappings consume, the verbs only read, write
   *   control objects and put records.
   * - `attached`: the local pipeline another process runs (`npm start`, `npm run pipeline -- serve`), reached through its endpoints.
   * - `embedded`: no pipeline was running, so this command started the embedded stack and runs its consumers.
   */
  readonly kind: 'deployed' | 'attached' | 'embedded';
  readonly resources: EnvironmentResources;
  readonly kinesis: KinesisClient;
  readonly store: ObjectStore;
  readonly ledger: RunLedger;
  /** Only when this command runs the pipeline itself (`embedded`): its consumers and finisher. */
  readonly pipeline?: LocalPipeline;
  /** The Kinesis and Lambda calls that open per-run streams, with the operator's credentials. */
  streamsPort(): StreamsPort;
  /** Invokes the reader asynchronously, as the schedule does. */
  invokeReader(request: { runId: string; source?: { bucket: string; prefix?: string } }): Promise<void>;
  close(): Promise<void>;
}

/** How the user named the environment: `--env NAME [--outputs FILE] [--account ID]`, or nothing (local). */
export interface EnvironmentChoice {
  env?: string;
  outputs?: string;
  account?: string;
  dataDir?: string;
}

/** The verbs' options that choose the environment, checked before anything starts. */
export function checkEnvironmentChoice(choice: EnvironmentChoice): void {
  if (choice.env === undefined) {
    if (choice.outputs !== undefined || choice.account !== undefined)
      throw new CommandError("--outputs and --account name a deployed environment's resources: give --env NAME too");
    return;
  }
  if (!/^[a-z][a-z0-9-]{0,30}$/.test(choice.env))
    throw new CommandError(
      `--env must be an environment name as the CDK app was deployed with (e.g. dev), got "${choice.env}"`,
    );
  if (choice.dataDir !== undefined) throw new CommandError("--data-dir is the embedded stack's folder: not with --env");
  if (choice.account !== undefined && !/^[0-9]{12}$/.test(choice.account))
    throw new CommandError(`--account must be a 12-digit AWS account id, got "${choice.account}"`);
}

/** Opens the environment the user chose. A deployed one is never created or consumed from here. */
export async function openEnvironment(choice: EnvironmentChoice): Promise<Environment> {
  checkEnvironmentChoice(choice);
  if (choice.env !== undefined) {
    const outputs = choice.outputs === undefined ? undefined : await readOutputsFile(choice.outputs);
    const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    return remoteEnvironment(
      choice.env,
      'deployed',
      deployedResources(choice.env, outputs, choice.account, region),
      {},
    );
  }
  const dataDir = choice.dataDir ?? process.env.PIPELINE_DATA_DIR ?? DEFAULT_DATA_DIR;
  const claim = await readDataDirClaim(dataDir);
  if (claim?.endpoints?.s3 && claim.endpoints.kinesis && claim.pid !== process.pid) return attached(claim);
  // No pipeline running on this folder (or one that does not say how to reach it: LocalPipeline.start says which).
  return embeddedEnvironment(await LocalPipeline.start({ dataDir }));
}

/** A local pipeline this process runs, as an environment: the verbs run its consumers and finisher. */
export function embeddedEnvironment(pipeline: LocalPipeline): Environment {
  // The local Lambda's endpoint (AWS_ENDPOINT_URL_LAMBDA) is this process's: the operator's calls
  // carry no function's key, so the IAM gateways let them through as an administrator's.
  let lambda: ReturnType<typeof lambdaClient> | undefined;
  return {
    name: 'local',
    kind: 'embedded',
    resources: {
      ...LOCAL_RESOURCES,
      ...(pipeline.perRun
        ? { streamsLifecycle: 'per-run' as const, runStreams: runStreamsPlan(process.env) }
        : { streamsLifecycle: 'always-on' as const }),
    },
    kinesis: pipeline.kinesis,
    store: pipeline.store,
    ledger: pipeline.ledger,
    pipeline,
    streamsPort() {
      lambda ??= lambdaClient();
      return awsStreamsPort(pipeline.kinesis, lambda);
    },
    async invokeReader(request) {
      await pipeline.read(request);
    },
    async close() {
      lambda?.destroy();
      await pipeline.stop();
    },
  };
}

/** The local pipeline another process runs, reached through the endpoints it wrote in its `in-use.json`. */
function attached(claim: DataDirClaim): Environment {
  const endpoints = claim.endpoints ?? {};
  return remoteEnvironment('local', 'attached', claim.resources ?? LOCAL_RESOURCES, {
    kinesis: endpoints.kinesis,
    s3: endpoints.s3,
    lambda: endpoints.lambda,
    // The embedded servers take the operator's key; its calls are no function's and pass the IAM gateways unchecked.
    credentials: LOCAL_S3_CREDENTIALS,
  });
}

interface Reach {
  kinesis?: string;
  s3?: string;
  lambda?: string;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

function remoteEnvironment(
  name: string,
  kind: 'deployed' | 'attached',
  resources: EnvironmentResources,
  reach: Reach,
): Environment {
  const credentials = reach.credentials ? { credentials: reach.credentials } : {};
  const env = { ...process.env, ...(reach.s3 ? { AWS_ENDPOINT_URL_S3: reach.s3 } : {}) };
  const kinesis = kinesisClient(process.env, { ...credentials, ...(reach.kinesis ? { endpoint: reach.kinesis } : {}) });
  const s3 = s3Client(env, { ...credentials, ...(reach.s3 ? { endpoint: reach.s3 } : {}) });
  const store = s3ObjectStore(s3);
  const lambda = new LambdaClient({ ...credentials, ...(reach.lambda ? { endpoint: reach.lambda } : {}) });
  return {
    name,
    kind,
    resources,
    kinesis,
    store,
    ledger: new RunLedger(store, resources.resultsBucket),
    streamsPort: () => awsStreamsPort(kinesis, lambda),
    async invokeReader(request) {
      // As the schedule does: an asynchronous invocation; the reader hands a long run on by itself.
      await lambda.send(
        new InvokeCommand({
          FunctionName: resources.readerFunction,
          InvocationType: 'Event',
          Payload: Buffer.from(JSON.stringify(request)),
        }),
      );
    },
    async close() {
      kinesis.destroy();
      s3.destroy();
      lambda.destroy();
    },
  };
}

/** Stack outputs by output key, merged over the environment's stacks. */
export type StackOutputs = Record<string, string>;

/**
 * Reads stack outputs from either file a user has: `cdk deploy --outputs-file F` (`{ "<stack>": { "<key>": "<value>" } }`)
 * or `aws cloudformation describe-stacks > F` (`{ "Stacks": [{ "StackName", "Outputs": [{ "OutputKey", "OutputValue" }] }] }`).
 */
export function parseStackOutputs(text: string, envName: string, file = 'the outputs file'): StackOutputs {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new CommandError(
      `${file} is not JSON (${(error as Error).message}): give the file \`cdk deploy --outputs-file\` or \`aws cloudformation describe-stacks\` wrote`,
    );
  }
  const stacks: Record<string, StackOutputs> = {};
  const described = (parsed as { Stacks?: unknown }).Stacks;
  if (Array.isArray(described)) {
    for (const stack of described as { StackName?: string; Outputs?: { OutputKey?: string; OutputValue?: string }[] }[])
      stacks[stack.StackName ?? ''] = Object.fromEntries(
        (stack.Outputs ?? []).map((o) => [String(o.OutputKey), String(o.OutputValue)]),
      );
  } else if (parsed && typeof parsed === 'object') {
    for (const [stackName, outputs] of Object.entries(parsed as Record<string, unknown>))
      if (outputs && typeof outputs === 'object')
        stacks[stackName] = Object.fromEntries(Object.entries(outputs).map(([k, v]) => [k, String(v)]));
  }
  // The environment's own stacks, when the file holds several environments' (describe-stacks lists them all).
  const own = new Set(Object.values(pipelineNames(envName).stacks));
  const names = Object.keys(stacks).some((n) => own.has(n))
    ? Object.keys(stacks).filter((n) => own.has(n))
    : Object.keys(stacks);
  return Object.assign({}, ...names.map((n) => stacks[n]));
}

async function readOutputsFile(file: string): Promise<string> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    throw new CommandError(
      `--outputs ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}: give the file \`cdk deploy --outputs-file\` or \`aws cloudformation describe-stacks\` wrote`,
    );
  }
}

/**
 * A deployed environment's resources: the stacks' outputs where the file has them, else the names
 * the CDK app gives them (pipelineNames). Bucket names end with the account and region, so without
 * an outputs file the account must be given (--account) and the region set (AWS_REGION).
 */
export function deployedResources(
  envName: string,
  outputsText: string | undefined,
  account: string | undefined,
  region: string | undefined,
): EnvironmentResources {
  const names = pipelineNames(envName);
  const outputs = outputsText === undefined ? {} : parseStackOutputs(outputsText, envName);
  const bucket = (key: string, kind: 'source' | 'spill' | 'results' | 'failures') => {
    if (outputs[key]) return outputs[key];
    if (!account || !region)
      throw new CommandError(
        `the ${kind} bucket of ${envName} is not in the outputs: give --outputs FILE (\`cdk deploy --outputs-file FILE\`), or --account ID with AWS_REGION set`,
      );
    return names.bucket(kind, account, region);
  };
  return {
    recordsStream: outputs.RecordsStreamName ?? names.recordsStream,
    resultsStream: outputs.ResultsStreamName ?? names.resultsStream,
    sourceBucket: bucket('SourceBucketName', 'source'),
    spillBucket: bucket('SpillBucketName', 'spill'),
    resultsBucket: bucket('ResultsBucketName', 'results'),
    failuresBucket: bucket('FailuresBucketName', 'failures'),
    readerFunction: outputs.ReaderFunctionName ?? names.functions.reader,
    ...streamsOutputs(outputs),
  };
}

/** The streams' lifecycle and, per run, the plan, from the `StreamsLifecycle` and `RunStreams` outputs. */
function streamsOutputs(outputs: StackOutputs): Pick<EnvironmentResources, 'streamsLifecycle' | 'runStreams'> {
  const lifecycle = outputs.StreamsLifecycle;
  if (lifecycle !== 'per-run' && lifecycle !== 'always-on') return {};
  if (lifecycle === 'always-on' || outputs.RunStreams === undefined) return { streamsLifecycle: lifecycle };
  try {
    return { streamsLifecycle: lifecycle, runStreams: runStreamsPlan({ [RUN_STREAMS_ENV]: outputs.RunStreams }) };
  } catch (error) {
    if (error instanceof RunStreamsPlanError)
      throw new CommandError(
        `the RunStreams output is not a plan (${error.message}): give the outputs file of a current \`cdk deploy\``,
      );
    throw error;
  }
}

/** The stack outputs of the local pipeline, in `cdk deploy --outputs-file`'s shape: what `serve` writes for other processes. */
export function localStackOutputs(): Record<string, Record<string, string>> {
  const names = pipelineNames('local');
  return {
    [names.stacks.shared]: {
      RecordsStreamName: LOCAL_RESOURCES.recordsStream,
      ResultsStreamName: LOCAL_RESOURCES.resultsStream,
      DeliveryStreamName: LOCAL_RESOURCES.deliveryStream,
      SourceBucketName: LOCAL_RESOURCES.sourceBucket,
      SpillBucketName: LOCAL_RESOURCES.spillBucket,
      ResultsBucketName: LOCAL_RESOURCES.resultsBucket,
      FailuresBucketName: LOCAL_RESOURCES.failuresBucket,
    },
    [names.stacks.reader]: { ReaderFunctionName: LOCAL_RESOURCES.readerFunction },
  };
}
