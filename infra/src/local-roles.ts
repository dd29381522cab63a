import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildPipeline, createApp } from './app';
import { configSourcesFrom, resolveConfig, type AppName } from './config';
import { cdkJsonContext } from './main';
import { BUCKET_KINDS, pipelineNames, type BucketKind } from './names';

/**
 * What the embedded stack enforces, from the CDK app itself: the templates of every stack of the
 * environment (PIPELINE_ENV, infra/cdk.json, PIPELINE_OVERRIDES, as `main.ts` reads them), the
 * deployed name of each function, and the deployed names of the shared resources, with the account
 * and region left as CloudFormation pseudo parameters for the reader of this file to resolve.
 * `jobName` is the job the embedded processor runs (default the active job): its claims are granted.
 *
 *   tsx infra/src/local-roles.ts <out.json> [job name]
 *
 * Synthesized with stand-in code and without cdk-nag: neither changes a role's policies.
 */
export function localRoles(env: NodeJS.ProcessEnv = process.env, jobName?: string) {
  const outdir = mkdtempSync(path.join(tmpdir(), 'local-roles-'));
  try {
    const app = createApp({ outdir, context: cdkJsonContext() });
    const config = resolveConfig(configSourcesFrom((key) => app.node.tryGetContext(key), env));
    buildPipeline(app, {
      config,
      code: () => lambda.Code.fromInline('exports.handler = async () => ({});'),
      nag: false,
      jobName,
    });
    const assembly = app.synth();
    const names = pipelineNames(config.envName);
    const bucket = (kind: BucketKind) =>
      kind === 'source' && config.source.bucketName
        ? config.source.bucketName
        : // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholders
          names.bucket(kind, '${AWS::AccountId}', '${AWS::Region}');
    return {
      envName: config.envName,
      templates: assembly.stacks.map((stack) => stack.template as unknown),
      functions: names.functions satisfies Record<AppName, string>,
      names: {
        recordsStream: names.recordsStream,
        resultsStream: names.resultsStream,
        deliveryStream: names.deliveryStream,
        buckets: Object.fromEntries(BUCKET_KINDS.map((kind) => [kind, { 'Fn::Sub': bucket(kind) }])),
      },
    };
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

if (require.main === module) {
  const [out, jobName] = process.argv.slice(2);
  if (!out) {
    console.error('usage: tsx infra/src/local-roles.ts <out.json> [job name]');
    process.exitCode = 2;
  } else {
    writeFileSync(out, JSON.stringify(localRoles(process.env, jobName)));
  }
}
