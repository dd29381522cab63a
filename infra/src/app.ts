import { App, type AppProps, type Environment } from 'aws-cdk-lib';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import { job } from '@pipeline/active-job';
import { APP_NAMES, type AppName, type InfraConfig } from './config';
import { pipelineNames } from './names';
import { registerNag } from './nag';
import { ProcessorStack } from './stacks/processor-stack';
import { ReaderStack } from './stacks/reader-stack';
import { SharedStack } from './stacks/shared-stack';
import { FinisherStack } from './stacks/finisher-stack';
import { WriterStack } from './stacks/writer-stack';

/** Construct ids of the stacks: what `cdk deploy --app <assembly> <id>` selects. */
export const STACK_IDS = {
  shared: 'Shared',
  reader: 'Reader',
  processor: 'Processor',
  writer: 'Writer',
  finisher: 'Finisher',
} as const;

/**
 * Feature flags this app relies on: server access logs granted by bucket policy (our buckets
 * disable ACLs), partition literals (ARNs read plainly wherever the region is known), and
 * CloudFormation's own template rules failing synthesis instead of warning.
 */
export const FEATURE_FLAGS = {
  '@aws-cdk/core:validateAgainstDefaultRules': true,
  '@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy': true,
  '@aws-cdk/aws-s3:createDefaultLoggingPolicy': true,
  '@aws-cdk/core:enablePartitionLiterals': true,
} as const;

/** A CDK app with the project's feature flags set. */
export function createApp(props: AppProps = {}): App {
  return new App({ ...props, context: { ...FEATURE_FLAGS, ...props.context } });
}

export interface PipelineProps {
  config: InfraConfig;
  /** The app stacks to build; the shared stack is always built. Default: all of them. */
  apps?: readonly AppName[];
  /** Each app's Lambda code: its bundle in dist/ (see bundleCode), inline code in tests. */
  code: (app: AppName) => lambda.Code;
  /** Account and region; default: environment-agnostic (the deploying credentials decide). */
  env?: Environment;
  /** Run cdk-nag's AwsSolutions checks when the app is synthesized; default true. */
  nag?: boolean;
  /**
   * The name of the job the processor runs, which scopes its `context.once` claims; default the
   * active job's (the one its bundle holds). The embedded stack names the job it runs (`--job`).
   */
  jobName?: string;
}

export interface PipelineStacks {
  shared: SharedStack;
  reader?: ReaderStack;
  processor?: ProcessorStack;
  writer?: WriterStack;
  finisher?: FinisherStack;
}

/**
 * Adds one environment's stacks to an app: the shared stack and the chosen app stacks, each app
 * stack ordered after the shared stack (it uses the shared resources by name, not by export).
 *
 * @example buildPipeline(createApp(), { config: resolveConfig(), apps: ['reader'], code: (app) => bundleCode(app) });
 */
export function buildPipeline(app: App, props: PipelineProps): PipelineStacks {
  const { config, env } = props;
  const names = pipelineNames(config.envName);
  const apps = props.apps ?? APP_NAMES;
  const tags = { pipeline: names.prefix, environment: config.envName };
  const stackProps = (stack: keyof typeof names.stacks, description: string) => ({
    stackName: names.stacks[stack],
    description,
    env,
    tags: { ...tags, app: stack },
  });

  const shared = new SharedStack(app, STACK_IDS.shared, {
    ...stackProps('shared', 'Streams, buckets, Firehose and dashboard shared by the pipeline apps'),
    config,
  });
  const stacks: PipelineStacks = { shared };
  if (apps.includes('reader')) {
    stacks.reader = new ReaderStack(app, STACK_IDS.reader, {
      ...stackProps('reader', 'Scheduled reader'),
      config,
      code: props.code('reader'),
    });
  }
  if (apps.includes('processor')) {
    stacks.processor = new ProcessorStack(app, STACK_IDS.processor, {
      ...stackProps('processor', 'Processor on the records stream'),
      config,
      code: props.code('processor'),
      jobName: props.jobName ?? job.name,
    });
  }
  if (apps.includes('writer')) {
    stacks.writer = new WriterStack(app, STACK_IDS.writer, {
      ...stackProps('writer', 'Writer on the results stream'),
      config,
      code: props.code('writer'),
    });
  }
  if (apps.includes('finisher')) {
    stacks.finisher = new FinisherStack(app, STACK_IDS.finisher, {
      ...stackProps('finisher', 'Finisher: completes runs whose output is in S3'),
      config,
      code: props.code('finisher'),
    });
  }
  for (const stack of [stacks.reader, stacks.processor, stacks.writer, stacks.finisher])
    stack?.addStackDependency(shared, 'uses the shared streams and buckets by name');
  if (props.nag ?? true) registerNag(app);
  return stacks;
}
