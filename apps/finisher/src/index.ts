import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { kinesisClient, lambdaClient, s3Client, type FunctionClients } from '@pipeline/aws';
import { checkOutput } from '@pipeline/collation';
import { readConfig } from '@pipeline/config';
import { MetricUnit, observability } from '@pipeline/observability';
import { type EtagWrites, type ObjectStore, s3ObjectStore } from '@pipeline/object-store';
import { finishRun, type FinishOutcome, RunLedger } from '@pipeline/run-ledger';
import {
  awsStreamsPort,
  ledgerRunActivity,
  type RetireOutcome,
  retireStreams,
  runStreamsPlan,
  type SWEEP_EVENT,
} from '@pipeline/run-streams';
import { finishMessages, type FinisherDeps } from './finish-messages';

export { finishMessages, runOfMessage } from './finish-messages';
export type { FinisherDeps } from './finish-messages';

const { logger, metrics, captureClient } = observability('finisher');
let deps: FinisherDeps | undefined;
/** The results bucket's store as the sweep needs it: with compare-and-swap for its mark. */
let sweepStore: (ObjectStore & EtagWrites) | undefined;
let overrides: Partial<FinisherDeps> = {};
let clientOptions: FunctionClients = {};

function wire(): FinisherDeps {
  if (deps) return deps;
  const config = readConfig(['resultsBucket']);
  const store = s3ObjectStore(captureClient(s3Client(process.env, clientOptions.s3)));
  sweepStore = store;
  deps = {
    store,
    bucket: config.resultsBucket,
    ledger: new RunLedger(store, config.resultsBucket),
    checkOutput: (runId, expected) => checkOutput({ store, bucket: config.resultsBucket, runId, expected }),
    bufferIntervalSeconds: config.deliveryBufferIntervalSeconds,
    log: (message, fields) => logger.warn(message, fields ?? {}),
    ...overrides,
  };
  return deps;
}

/**
 * Per-run streams: deletes them if no run needs them any more (see retireStreams). Undefined when
 * the streams are always on (no RUN_STREAMS).
 */
export async function sweepStreams(now: Date = new Date()): Promise<RetireOutcome | undefined> {
  const plan = runStreamsPlan(process.env);
  if (!plan) return undefined;
  const { bucket } = wire();
  const store = sweepStore as ObjectStore & EtagWrites;
  const port = awsStreamsPort(
    captureClient(kinesisClient(process.env, clientOptions.kinesis)),
    captureClient(lambdaClient(clientOptions.lambda)),
  );
  return retireStreams(plan, port, ledgerRunActivity(store, bucket), now);
}

/** Lambda entry point for the finisher queue (ReportBatchItemFailures on), and for the hourly streams sweep. */
export async function handler(event: SQSEvent | typeof SWEEP_EVENT): Promise<SQSBatchResponse> {
  if ('sweep' in event) {
    const outcome = await sweepStreams();
    for (const lease of outcome?.abandoned ?? [])
      logger.warn(
        `streams lease of run ${lease.runId}${lease.slice ? ` (${lease.slice})` : ''} counted as ended: no news from its holder since ${lease.lastActiveAt.toISOString()}; ` +
          (lease.slice
            ? 'its redrive was stopped before its end: run `redrive` again for what it left'
            : 'its reader stopped before the run completed: trigger the run again to resume it'),
        { ...lease },
      );
    logger.info('streams sweep', { outcome: outcome ?? 'streams are always on' });
    return { batchItemFailures: [] };
  }
  try {
    const { batchItemFailures, outcomes } = await finishMessages(event, wire());
    for (const state of ['complete', 'failed', 'delivering', 'stalled'] as const) {
      const count = outcomes.filter((o) => o.state === state).length;
      if (count) metrics.addMetric(`Runs${state[0].toUpperCase()}${state.slice(1)}`, MetricUnit.Count, count);
    }
    return { batchItemFailures };
  } finally {
    metrics.publishStoredMetrics();
  }
}

/** The same check for one run, as the local runner and the operator tool ask it. */
export async function finish(run: string, now: Date = new Date()): Promise<FinishOutcome> {
  const deps = wire();
  const outcome = await finishRun(run, { ...deps, now });
  if (outcome.state !== 'running' && outcome.state !== 'delivering') await deps.afterEnd?.(outcome);
  return outcome;
}

/**
 * For the local runner and tests: forget the wiring so a changed environment is read again, and
 * optionally give its AWS clients their own credentials (the local runner runs every function in
 * one process, each under its own identity).
 */
export function resetFinisher(replace: Partial<FinisherDeps> = {}, clients: FunctionClients = {}): void {
  deps = undefined;
  sweepStore = undefined;
  overrides = replace;
  clientOptions = clients;
}
