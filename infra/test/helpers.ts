import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildPipeline, createApp, type PipelineStacks } from '../src/app';
import {
  evaluate,
  rolePolicies,
  statementsOf,
  wildcardMatch,
  type CfnTemplate,
  type IamRequest,
  type PolicyDocument,
} from '@pipeline/local-stack';
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
  options: { nag?: boolean; apps?: AppName[]; jobName?: string } = {},
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
    jobName: options.jobName,
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

/** The test account and region as the IAM evaluator resolves the templates' intrinsics. */
export const TEST_SCOPE = { partition: 'aws', region: TEST_ENV.region, accountId: TEST_ENV.account } as const;

/** One allowed statement of a role, with its resources resolved to ARNs. */
export interface Grant {
  actions: string[];
  resources: string[];
}

/** A role's identity-based policies, resolved: what the embedded stack's IAM gateway enforces. */
export type RolePolicies = PolicyDocument[];

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

/**
 * Every policy attached to a role in a template, with intrinsics resolved for the test account, by
 * the same code that gives the embedded stack's functions their policies. Identifies the role by
 * the start of its logical id (e.g. `ReaderRole`).
 */
export function policiesOf(template: Template, roleLogicalIdPrefix: string): RolePolicies {
  const json = template.toJSON() as CfnTemplate;
  const roles = Object.keys(template.findResources('AWS::IAM::Role')).filter((id) =>
    id.startsWith(roleLogicalIdPrefix),
  );
  if (roles.length !== 1)
    throw new Error(`expected one role starting with ${roleLogicalIdPrefix}, found ${roles.join(', ') || 'none'}`);
  return rolePolicies(json, roles[0], TEST_SCOPE);
}

/** The Allow statements of a role, as action and resource lists. */
export function grantsOf(policies: RolePolicies): Grant[] {
  return statementsOf(policies)
    .filter((statement) => statement.Effect === 'Allow')
    .map((statement) => ({ actions: asArray(statement.Action), resources: asArray(statement.Resource) }));
}

/** Whether IAM allows the role the action on the resource (Allow and Deny, wildcards, conditions). */
export function allows(
  policies: RolePolicies,
  action: string,
  resource: string,
  context?: IamRequest['context'],
): boolean {
  return evaluate(policies, { action, resource, context }).allowed;
}

/**
 * Every action a role is allowed on a resource by a grant naming it or a pattern covering it.
 * Grants on `"*"` itself are left out: the tests check separately that only X-Ray has one.
 */
export function actionsOn(policies: RolePolicies, resource: string): string[] {
  const candidates = grantsOf(policies)
    .filter((g) => g.resources.some((r) => r !== '*' && wildcardMatch(r, resource)))
    .flatMap((g) => g.actions);
  return [...new Set(candidates)].filter((action) => allows(policies, action, resource)).sort();
}
