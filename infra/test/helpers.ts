import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildPipeline, createApp, type PipelineStacks } from '../src/app';
import { resolveConfig, type AppName, type InfraConfig, type InfraConfigOverrides } from '../src/config';

/** A made-up account and region: synthesis needs neither credentials nor network. */
export const TEST_ENV = { account: '123456789012', region: 'eu-west-1' } as const;

/** Stand-in Lambda code, so template tests do not need the apps' bundles. */
export const INLINE_CODE = lambda.Code.fromInline('exports.handler = async () => ({});');

export interface SynthesizedPipeline {
  app: App;
  config: InfraConfig;
  stacks: PipelineStacks;
  templates: { shared: Template; reader: Template; processor: Template; writer: Template; finisher: Template };
  outdir: string;
  cleanup: () => void;
}

/**
 * Builds the whole pipeline for the test account and synthesizes it once; each stack's template
 * is then read from the one cloud assembly.
 */
export function synthPipeline(
  overrides: InfraConfigOverrides = {},
  options: { nag?: boolean; apps?: AppName[] } = {},
): SynthesizedPipeline {
  const outdir = mkdtempSync(path.join(tmpdir(), 'infra-synth-'));
  const app = createApp({ outdir });
  const config = resolveConfig({ overrides });
  const stacks = buildPipeline(app, {
    config,
    code: () => INLINE_CODE,
    env: TEST_ENV,
    nag: options.nag ?? false,
    apps: options.apps,
  });
  const assembly = app.synth();
  const template = (stack: { artifactId: string } | undefined) =>
    stack
      ? Template.fromJSON(assembly.getStackArtifact(stack.artifactId).template as Record<string, unknown>)
      : (undefined as unknown as Template);
  return {
    app,
    config,
    stacks,
    templates: {
      shared: template(stacks.shared),
      reader: template(stacks.reader),
      processor: template(stacks.processor),
      writer: template(stacks.writer),
      finisher: template(stacks.finisher),
    },
    outdir,
    cleanup: () => rmSync(outdir, { recursive: true, force: true }),
  };
}

/** ARNs in the test account, as the stacks format them. */
export const ARN = {
  stream: (name: string) => `arn:aws:kinesis:${TEST_ENV.region}:${TEST_ENV.account}:stream/${name}`,
  deliveryStream: (name: string) => `arn:aws:firehose:${TEST_ENV.region}:${TEST_ENV.account}:deliverystream/${name}`,
  bucket: (kind: string) => `arn:aws:s3:::dev-pipeline-${kind}-${TEST_ENV.account}-${TEST_ENV.region}`,
  objects: (kind: string, prefix: string) => `${ARN.bucket(kind)}/${prefix}*`,
  fn: (name: string) => `arn:aws:lambda:${TEST_ENV.region}:${TEST_ENV.account}:function:${name}`,
};

interface Statement {
  Effect: 'Allow' | 'Deny';
  Action: string | string[];
  Resource: unknown;
}

/** One allowed statement of a role, with its resources as strings (references kept as JSON). */
export interface Grant {
  actions: string[];
  resources: string[];
}

const asArray = <T>(value: T | T[]): T[] => (Array.isArray(value) ? value : [value]);

/**
 * Everything a role is allowed, from every policy attached to it in a template. Identifies the
 * role by the start of its logical id (e.g. `ReaderRole`).
 */
export function grantsOf(template: Template, roleLogicalIdPrefix: string): Grant[] {
  const roles = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) =>
    id.startsWith(roleLogicalIdPrefix),
  );
  if (roles.length !== 1)
    throw new Error(`expected one role starting with ${roleLogicalIdPrefix}, found ${roles.join(', ') || 'none'}`);
  const [role] = roles;
  const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((policy) =>
    (policy.Properties.Roles as { Ref: string }[]).some((ref) => ref.Ref === role),
  );
  return policies.flatMap((policy) =>
    (policy.Properties.PolicyDocument.Statement as Statement[])
      .filter((statement) => statement.Effect === 'Allow')
      .map((statement) => ({
        actions: asArray(statement.Action),
        resources: asArray(statement.Resource).map((r) => (typeof r === 'string' ? r : JSON.stringify(r))),
      })),
  );
}

function globMatches(pattern: string, value: string): boolean {
  const regex = new RegExp(
    `^${pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.')}$`,
  );
  return regex.test(value);
}

/**
 * Whether the grants allow an action on a resource, with IAM's wildcard matching of actions and
 * resources (`*`, `?`). A small model of IAM: allows only, no conditions, which is all the
 * stacks use.
 */
export function allows(grants: Grant[], action: string, resource: string): boolean {
  return grants.some(
    (grant) =>
      grant.actions.some((a) => globMatches(a, action)) && grant.resources.some((r) => globMatches(r, resource)),
  );
}

/**
 * Every action a role is allowed on a resource by a grant naming it or a pattern covering it.
 * Grants on `"*"` itself are left out: the tests check separately that only X-Ray has one.
 */
export function actionsOn(grants: Grant[], resource: string): string[] {
  const named = grants.filter((g) => g.resources.some((r) => r !== '*' && globMatches(r, resource)));
  return [...new Set(named.flatMap((g) => g.actions))].sort();
}
