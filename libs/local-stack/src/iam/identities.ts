import { LOCAL_S3_CREDENTIALS, type LocalServer } from '../servers';

import { startIamGateway, type DeniedCall, type IamGateway, type LocalIdentity } from './gateway';
import { CallMeter } from './meter';
import type { ServiceScope } from './requests';
import {
  deliveryStreamRole,
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
  /** Local identity → the deployed delivery stream whose role it writes with (the local Firehose). */
  deliveryStreams?: Record<string, string>;
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
  const add = (local: string, { template, roleLogicalId }: { template: CfnTemplate; roleLogicalId: string }) =>
    identities.set(local, {
      principal: `arn:${scope.partition}:sts::${scope.accountId}:assumed-role/${roleLogicalId}/${local}`,
      policies: renameResources(rolePolicies(template, roleLogicalId, ctx), roles.names),
    });
  for (const [local, deployed] of Object.entries(roles.functions))
    add(local, functionRole(roles.templates, deployed, ctx));
  for (const [local, deployed] of Object.entries(roles.deliveryStreams ?? {}))
    add(local, deliveryStreamRole(roles.templates, deployed, ctx));
  return identities;
}

export type GatedService = 's3' | 'kinesis' | 'firehose' | 'lambda';

export interface IamGateways {
  /** The gateway of each service it stands in front of. */
  endpoints: Partial<Record<GatedService, string>>;
  /** The server behind each gateway, for what must reach it unchecked and unproxied (a bench's CPU count). */
  upstreams: Partial<Record<GatedService, string>>;
  servers: LocalServer[];
  /** Puts a gateway in front of one more server, checking the same identities; returns its endpoint. */
  add(service: GatedService, upstream: string): Promise<string>;
  denied(): DeniedCall[];
  /** What the checked identities called, counted at the gateways. */
  meter: CallMeter;
  /** Replaces the identities checked from now on (a test switching a policy, say). */
  setIdentities(next: ReadonlyMap<string, LocalIdentity>): void;
}

/** An IAM gateway in front of each embedded server given (more with `add`), all checking the same identities. */
export async function startIamGateways(
  upstreams: Partial<Record<GatedService, string>>,
  scope: ServiceScope,
  identities: ReadonlyMap<string, LocalIdentity>,
): Promise<IamGateways> {
  let current = identities;
  const gateways: IamGateway[] = [];
  const meter = new CallMeter();
  const endpoints: Partial<Record<GatedService, string>> = {};
  const behind: Partial<Record<GatedService, string>> = {};
  const add = async (service: GatedService, upstream: string) => {
    const gateway = await startIamGateway({ service, upstream, scope, identities: () => current, meter });
    gateways.push(gateway);
    endpoints[service] = gateway.endpoint;
    behind[service] = upstream;
    return gateway.endpoint;
  };
  for (const [service, upstream] of Object.entries(upstreams) as [GatedService, string][]) await add(service, upstream);
  return {
    endpoints,
    upstreams: behind,
    servers: gateways,
    add,
    denied: () => gateways.flatMap((g) => g.denied()),
    meter,
    setIdentities: (next) => {
      current = next;
    },
  };
}
