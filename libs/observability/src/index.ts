import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Powertools Logger, Metrics and Tracer for one stage. Locally the runner sets
 * POWERTOOLS_METRICS_DISABLED, POWERTOOLS_TRACE_ENABLED=false and POWERTOOLS_LOG_LEVEL, so a run's
 * output stays readable.
 */
export interface Observability {
  logger: Logger;
  metrics: Metrics;
  /** Undefined when tracing is off. */
  tracer?: Tracer;
  /** The client, instrumented for X-Ray when tracing is on. */
  captureClient<T>(client: T): T;
}

export const NAMESPACE = 'SlicePipeline';

export function observability(stage: 'reader' | 'processor' | 'writer' | 'finisher'): Observability {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? `pipeline-${stage}`;
  // The X-Ray SDK installs async hooks as soon as it loads, which costs every promise: load it only
  // when tracing is on.
  const tracer: Tracer | undefined =
    process.env.POWERTOOLS_TRACE_ENABLED === 'false'
      ? undefined
      : new (require('@aws-lambda-powertools/tracer') as typeof import('@aws-lambda-powertools/tracer')).Tracer({
          serviceName,
        });
  return {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? NAMESPACE, serviceName }),
    tracer,
    captureClient: (client) => (tracer ? (tracer.captureAWSv3Client(client as never) as typeof client) : client),
  };
}

export { MetricUnit };
