import { LOCAL_S3_CREDENTIALS, type LocalServer } from '../servers';

import { startIamGateway, type DeniedCall, type IamGateway, type LocalIdentity } from './gateway';
import type { ServiceScope } from './requests';
import {
  exportsOf,
  functionRole,
  renameResources,
  rolePolicies,
  type CfnTemplate,
  type ResolveContext,
} from './template';

/**
 * The credentials a function's clients sign with on the embedded stack: its access key id is the
 * function's name, which is how the IAM gateway knows whose policies apply.
 */
export function functionCredentials(functionName: string): { accessKeyId: string; secretAccessKey: string } {
  return { accessKeyId: functionName, secretAccessKey: LOCAL_S3_CREDENTIALS.secretAccessKey };
}

export interface SynthesizedRoles {
  /** The templates of every stack of one environment, as the CDK app synthesizes them. */
  templates: CfnTemplate[];
  /** Local function name → the deployed function whose role it runs as. */
  functions: Record<string, string>;
  /** Deployed resource name → local resource name (streams, buckets, delivery stream). */
  names: Record<string, string>;
}

/**
 * Each local function's identity from the synthesized templates: the role its deployed
 * counterpart runs as, that role's policies with intrinsics resolved for the local account and
 * region, and the deployed resource names replaced by the local ones.
 */
export function identitiesFromTemplates(roles: SynthesizedRoles, scope: ServiceScope): Map<string, LocalIdentity> {
  const ctx: ResolveContext = { ...scope, accountId: scope.accountId };
  ctx.exports = exportsOf(roles.templates, ctx);
  const identities = new Map<string, LocalIdentity>();
  for (const [local, deployed] of Object.entries(roles.functions)) {
    const { template, roleLogicalId } = functionRole(roles.templates, deployed, ctx);
    identities.set(local, {
      principal: `arn:${scope.partition}:sts::${scope.accountId}:assumed-role/${roleLogicalId}/${local}`,
      policies: renameResources(rolePolicies(template, roleLogicalId, ctx), roles.names),
    });
  }
  return identities;
}

export type GatedService = 's3' | 'kinesis' | 'firehose';

export interface IamGateways {
  /** The gateway of each service it stands in front of. */
  endpoints: Partial<Record<GatedService, string>>;
  servers: LocalServer[];
  denied(): DeniedCall[];
  /** Replaces the identities checked from now on (a test switching a policy, say). */
  setIdentities(next: ReadonlyMap<string, LocalIdentity>): void;
}

/** An IAM gateway in front of each embedded server given, all checking the same identities. */
export async function startIamGateways(
  upstreams: Partial<Record<GatedService, string>>,
  scope: ServiceScope,
  identities: ReadonlyMap<string, LocalIdentity>,
): Promise<IamGateways> {
  let current = identities;
  const gateways: Partial<Record<GatedService, IamGateway>> = {};
  for (const [service, upstream] of Object.entries(upstreams) as [GatedService, string][])
    gateways[service] = await startIamGateway({ service, upstream, scope, identities: () => current });
  const all = Object.values(gateways);
  return {
    endpoints: Object.fromEntries(Object.entries(gateways).map(([service, g]) => [service, g.endpoint])),
    servers: all,
    denied: () => all.flatMap((g) => g.denied()),
    setIdentities: (next) => {
      current = next;
    },
  };
}
