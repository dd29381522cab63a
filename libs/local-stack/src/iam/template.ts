import type { PolicyDocument, PolicyStatement } from './policy';

/**
 * Role policies out of synthesized CloudFormation templates: which role a function runs as, every
 * policy attached to that role, and the template's intrinsic functions resolved to plain ARNs.
 */

export interface CfnResource {
  Type: string;
  Properties?: Record<string, unknown>;
}

export interface CfnTemplate {
  Resources?: Record<string, CfnResource>;
  Outputs?: Record<string, { Value: unknown; Export?: { Name: unknown } }>;
}

/** What a template's pseudo parameters and cross-stack exports stand for in one environment. */
export interface ResolveContext {
  partition: string;
  region: string;
  accountId: string;
  /** Export name → value, from every template's Outputs (see exportsOf). */
  exports?: Record<string, string>;
}

export class TemplateError extends Error {
  override readonly name = 'TemplateError';
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** How a resource's physical name and ARN follow from its properties, per resource type. */
const RESOURCE_TYPES: Record<string, { name: string; arn: (name: string, ctx: ResolveContext) => string }> = {
  'AWS::S3::Bucket': { name: 'BucketName', arn: (n, c) => `arn:${c.partition}:s3:::${n}` },
  'AWS::Kinesis::Stream': {
    name: 'Name',
    arn: (n, c) => `arn:${c.partition}:kinesis:${c.region}:${c.accountId}:stream/${n}`,
  },
  'AWS::KinesisFirehose::DeliveryStream': {
    name: 'DeliveryStreamName',
    arn: (n, c) => `arn:${c.partition}:firehose:${c.region}:${c.accountId}:deliverystream/${n}`,
  },
  'AWS::Lambda::Function': {
    name: 'FunctionName',
    arn: (n, c) => `arn:${c.partition}:lambda:${c.region}:${c.accountId}:function:${n}`,
  },
  'AWS::Logs::LogGroup': {
    name: 'LogGroupName',
    arn: (n, c) => `arn:${c.partition}:logs:${c.region}:${c.accountId}:log-group:${n}:*`,
  },
  'AWS::IAM::Role': { name: 'RoleName', arn: (n, c) => `arn:${c.partition}:iam::${c.accountId}:role/${n}` },
};

/**
 * A name no real resource has: references to resources without a fixed name (or of a type this
 * resolver does not know) resolve to it, so a statement on them matches no request (fail closed).
 */
const unresolved = (what: string) => `unresolved:${what}`;

function physicalName(template: CfnTemplate, logicalId: string, ctx: ResolveContext): string {
  const resource = template.Resources?.[logicalId];
  if (!resource) throw new TemplateError(`Ref to "${logicalId}", which is not in the template`);
  const type = RESOURCE_TYPES[resource.Type];
  const name = type ? resource.Properties?.[type.name] : undefined;
  return name === undefined ? unresolved(logicalId) : String(resolveIntrinsics(name, template, ctx));
}

/** Resolves Ref, Fn::GetAtt (Arn), Fn::Join, Fn::Sub, Fn::Select, Fn::Split and Fn::ImportValue, and the pseudo parameters. */
export function resolveIntrinsics(value: unknown, template: CfnTemplate, ctx: ResolveContext): unknown {
  if (Array.isArray(value)) return value.map((v) => resolveIntrinsics(v, template, ctx));
  if (!isObject(value)) return value;
  const keys = Object.keys(value);
  if (keys.length !== 1 || !(keys[0] === 'Ref' || keys[0].startsWith('Fn::')))
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolveIntrinsics(v, template, ctx)]));
  const [fn] = keys;
  const arg = value[fn];
  const resolve = (v: unknown) => resolveIntrinsics(v, template, ctx);
  switch (fn) {
    case 'Ref':
      return ref(String(arg), template, ctx);
    case 'Fn::GetAtt': {
      const [logicalId, attribute] = Array.isArray(arg) ? arg.map(String) : String(arg).split('.');
      const resource = template.Resources?.[logicalId];
      if (!resource) throw new TemplateError(`Fn::GetAtt of "${logicalId}", which is not in the template`);
      const type = RESOURCE_TYPES[resource.Type];
      if (attribute !== 'Arn' || !type) return unresolved(`${logicalId}.${attribute}`);
      const name = physicalName(template, logicalId, ctx);
      return name.startsWith('unresolved:') ? unresolved(`${logicalId}.${attribute}`) : type.arn(name, ctx);
    }
    case 'Fn::Join': {
      const [separator, parts] = arg as [string, unknown[]];
      return (resolve(parts) as unknown[]).map(String).join(separator);
    }
    case 'Fn::Sub': {
      const [text, variables] = Array.isArray(arg) ? (arg as [string, Record<string, unknown>]) : [String(arg), {}];
      const vars = resolve(variables) as Record<string, unknown>;
      return text.replace(/\$\{([^}!][^}]*)\}/g, (_, name: string) => {
        if (name in vars) return String(vars[name]);
        if (name.includes('.')) return String(resolve({ 'Fn::GetAtt': name.split('.') }));
        return String(ref(name, template, ctx));
      });
    }
    case 'Fn::Select': {
      const [index, list] = resolve(arg) as [number, unknown[]];
      return list[Number(index)];
    }
    case 'Fn::Split': {
      const [separator, text] = resolve(arg) as [string, string];
      return text.split(separator);
    }
    case 'Fn::ImportValue': {
      const name = String(resolve(arg));
      const exported = ctx.exports?.[name];
      if (exported === undefined) throw new TemplateError(`Fn::ImportValue of "${name}", which no stack exports`);
      return exported;
    }
    default:
      throw new TemplateError(`${fn} is not supported when reading role policies; resolve it in the CDK app`);
  }
}

function ref(name: string, template: CfnTemplate, ctx: ResolveContext): string {
  switch (name) {
    case 'AWS::Partition':
      return ctx.partition;
    case 'AWS::Region':
      return ctx.region;
    case 'AWS::AccountId':
      return ctx.accountId;
    case 'AWS::URLSuffix':
      return 'amazonaws.com';
    default:
      return physicalName(template, name, ctx);
  }
}

/** Every export of the templates (Outputs with Export.Name), for Fn::ImportValue. */
export function exportsOf(templates: readonly CfnTemplate[], ctx: ResolveContext): Record<string, string> {
  const exports: Record<string, string> = {};
  for (const template of templates)
    for (const output of Object.values(template.Outputs ?? {}))
      if (output.Export)
        exports[String(resolveIntrinsics(output.Export.Name, template, ctx))] = String(
          resolveIntrinsics(output.Value, template, ctx),
        );
  return exports;
}

const refsOf = (value: unknown): string[] =>
  (Array.isArray(value) ? value : []).flatMap((r) => (isObject(r) && typeof r.Ref === 'string' ? [r.Ref] : []));

/**
 * Every identity-based policy of a role, resolved: its inline policies and the AWS::IAM::Policy and
 * AWS::IAM::ManagedPolicy resources of the template attached to it. (AWS managed policies attached
 * by ARN are not in the template; the pipeline's roles have none.)
 */
export function rolePolicies(template: CfnTemplate, roleLogicalId: string, ctx: ResolveContext): PolicyDocument[] {
  const role = template.Resources?.[roleLogicalId];
  if (role?.Type !== 'AWS::IAM::Role') throw new TemplateError(`"${roleLogicalId}" is not a role of the template`);
  if (((role.Properties?.ManagedPolicyArns as unknown[]) ?? []).length)
    throw new TemplateError(`role ${roleLogicalId} has managed policies by ARN, which the local evaluator cannot read`);
  const documents: unknown[] = ((role.Properties?.Policies as { PolicyDocument: unknown }[]) ?? []).map(
    (p) => p.PolicyDocument,
  );
  for (const resource of Object.values(template.Resources ?? {}))
    if (
      (resource.Type === 'AWS::IAM::Policy' || resource.Type === 'AWS::IAM::ManagedPolicy') &&
      refsOf(resource.Properties?.Roles).includes(roleLogicalId)
    )
      documents.push(resource.Properties?.PolicyDocument);
  return documents.map((document) => resolveIntrinsics(document, template, ctx) as PolicyDocument);
}

/** The role a function runs as: the template and logical id of its role, found by the function's name. */
export function functionRole(
  templates: readonly CfnTemplate[],
  functionName: string,
  ctx: ResolveContext,
): { template: CfnTemplate; roleLogicalId: string } {
  for (const template of templates)
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::Lambda::Function') continue;
      if (resolveIntrinsics(resource.Properties?.FunctionName, template, ctx) !== functionName) continue;
      const role = resource.Properties?.Role as { 'Fn::GetAtt'?: [string, string] } | undefined;
      const roleLogicalId = role?.['Fn::GetAtt']?.[0];
      if (!roleLogicalId) throw new TemplateError(`function ${functionName} does not name a role of its template`);
      return { template, roleLogicalId };
    }
  throw new TemplateError(`no function named ${functionName} in the templates`);
}

/** The role a Firehose delivery stream writes its destination with, found by the stream's name. */
export function deliveryStreamRole(
  templates: readonly CfnTemplate[],
  deliveryStreamName: string,
  ctx: ResolveContext,
): { template: CfnTemplate; roleLogicalId: string } {
  for (const template of templates)
    for (const resource of Object.values(template.Resources ?? {})) {
      if (resource.Type !== 'AWS::KinesisFirehose::DeliveryStream') continue;
      if (resolveIntrinsics(resource.Properties?.DeliveryStreamName, template, ctx) !== deliveryStreamName) continue;
      const destination = (resource.Properties?.ExtendedS3DestinationConfiguration ??
        resource.Properties?.S3DestinationConfiguration) as
        | { RoleARN?: { 'Fn::GetAtt'?: [string, string] } }
        | undefined;
      const roleLogicalId = destination?.RoleARN?.['Fn::GetAtt']?.[0];
      if (!roleLogicalId)
        throw new TemplateError(`delivery stream ${deliveryStreamName} does not name a role of its template`);
      return { template, roleLogicalId };
    }
  throw new TemplateError(`no delivery stream named ${deliveryStreamName} in the templates`);
}

/**
 * The same policies with resource names replaced (`dev-pipeline-results-…` → `pipeline-results`):
 * the names a deployed environment gives its streams and buckets, mapped to the embedded stack's.
 * Only the name part of an ARN is replaced, never part of a longer name.
 */
export function renameResources(policies: PolicyDocument[], names: Record<string, string>): PolicyDocument[] {
  const rename = (arn: string): string => {
    const s3 = /^(arn:[^:]+:s3:::)([^/]+)(.*)$/s.exec(arn);
    if (s3) return `${s3[1]}${names[s3[2]] ?? s3[2]}${s3[3]}`;
    const named = /^(arn:[^:]+:[^:]+:[^:]*:[^:]*:[^/:]+[/:])([^/:]+)(.*)$/s.exec(arn);
    if (named) return `${named[1]}${names[named[2]] ?? named[2]}${named[3]}`;
    return arn;
  };
  const renameAll = (value: string | string[] | undefined) =>
    value === undefined ? undefined : Array.isArray(value) ? value.map(rename) : rename(value);
  return policies.map((policy) => ({
    ...policy,
    Statement: (Array.isArray(policy.Statement) ? policy.Statement : [policy.Statement]).map((s): PolicyStatement => {
      const out: PolicyStatement = { ...s };
      if (s.Resource !== undefined) out.Resource = renameAll(s.Resource);
      if (s.NotResource !== undefined) out.NotResource = renameAll(s.NotResource);
      // ARNs in conditions too (lambda:FunctionArn names a function by its deployed name).
      if (s.Condition !== undefined)
        out.Condition = Object.fromEntries(
          Object.entries(s.Condition).map(([operator, keys]) => [
            operator,
            Object.fromEntries(
              Object.entries(keys as Record<string, string | string[]>).map(([key, value]) => [key, renameAll(value)]),
            ),
          ]),
        ) as PolicyStatement['Condition'];
      return out;
    }),
  }));
}
