/**
 * Which AWS services the local pipeline embeds and which it reaches at the user's endpoints.
 *
 * Each service follows the SDK's standard settings on its own: `AWS_ENDPOINT_URL_<SERVICE>` sends
 * that service to an endpoint of the user's, `AWS_ENDPOINT_URL` sends every service without its own
 * variable there, and a service named by neither runs embedded on loopback. Nothing reaches AWS
 * unless the user names an AWS endpoint.
 */

export const SERVICES = ['kinesis', 's3', 'firehose'] as const;
export type Service = (typeof SERVICES)[number];

/** Lists the services whose endpoint variables the embedded stack set, so that they are not taken for the user's. */
export const EMBEDDED_ENDPOINTS = 'PIPELINE_EMBEDDED_ENDPOINTS';

export const endpointVariable = (service: Service) => `AWS_ENDPOINT_URL_${service.toUpperCase()}`;

export interface EndpointPlan {
  /** The services to start on loopback. */
  embedded: Service[];
  /** The services at the user's endpoints, with the variable that named each. */
  external: { service: Service; endpoint: string; variable: string }[];
}

/**
 * @example planEndpoints({ AWS_ENDPOINT_URL_FIREHOSE: 'http://localhost:4566' });
 * // { embedded: ['kinesis', 's3'], external: [{ service: 'firehose', endpoint: 'http://localhost:4566', variable: 'AWS_ENDPOINT_URL_FIREHOSE' }] }
 */
export function planEndpoints(env: NodeJS.ProcessEnv): EndpointPlan {
  const ours = new Set((env[EMBEDDED_ENDPOINTS] ?? '').split(',').filter(Boolean));
  const plan: EndpointPlan = { embedded: [], external: [] };
  for (const service of SERVICES) {
    const variable = endpointVariable(service);
    const own = ours.has(service) ? undefined : env[variable];
    if (own) plan.external.push({ service, endpoint: own, variable });
    else if (env.AWS_ENDPOINT_URL)
      plan.external.push({ service, endpoint: env.AWS_ENDPOINT_URL, variable: 'AWS_ENDPOINT_URL' });
    else plan.embedded.push(service);
  }
  return plan;
}

/** One line for the user: what runs where. */
export function describeEndpoints(plan: EndpointPlan): string {
  const parts = [
    ...plan.embedded.map((s) => `${s} embedded`),
    ...plan.external.map((e) => `${e.service} at ${e.endpoint} (${e.variable})`),
  ];
  return parts.join(' · ');
}
