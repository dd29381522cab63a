import { Logger } from '@aws-lambda-powertools/logger';
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { Tracer } from '@aws-lambda-powertools/tracer';

/**
 * Powertools Logger, Metrics and Tracer for one stage. Locally the runner sets
 * POWERTOOLS_METRICS_DISABLED and POWERTOOLS_LOG_LEVEL so a run's output stays readable.
 */
export interface Observability {
  logger: Logger;
  metrics: Metrics;
  tracer: Tracer;
}

export const NAMESPACE = 'SlicePipeline';

export function observability(stage: 'reader' | 'processor' | 'writer'): Observability {
  const serviceName = process.env.POWERTOOLS_SERVICE_NAME ?? `pipeline-${stage}`;
  return {
    logger: new Logger({ serviceName }),
    metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? NAMESPACE, serviceName }),
    tracer: new Tracer({ serviceName }),
  };
}

export { MetricUnit };
