import type { Context } from 'aws-lambda';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { job } from '@pipeline/active-job';
import { kinesisClient, lambdaClient, s3Client, type FunctionClients } from '@pipeline/aws';
import { readConfig } from '@pipeline/config';
import { observability, MetricUnit } from '@pipeline/observability';
import { s3ObjectStore } from '@pipeline/object-store';
import { RunLedger } from '@pipeline/run-ledger';
import {
  awsStreamsPort,
  ledgerOpeningActivity,
  openRunStreams,
  realSleep,
  runStreamsPlan,
} from '@pipeline/run-streams';
import { s3ObjectSource } from '@pipeline/sources';
import { kinesisPutRecordsPort } from '@pipeline/stream-producer';
import { readRun, type ReaderDeps, type ReaderRequest, type ReaderResult } from './read-run';

export { readRun, resolveRunId, RunPausedError, ChainLimitError } from './read-run';
export type { ReaderDeps, ReaderRequest, ReaderResult } from './read-run';

const { logger, metrics, captureClient } = observability('reader');
let deps: Omit<ReaderDeps, 'remainingMs' | 'continueRun'> | undefined;
let overrides: Partial<Omit<ReaderDeps, 'remainingMs' | 'continueRun'>> = {};
let clientOptions: FunctionClients = {};

/** Built on first use, so configuration is read from the environment the function runs in. */
function wire(): Omit<ReaderDeps, 'remainingMs' | 'continueRun'> {
  if (deps) return deps;
  const config = readConfig(['recordsStream', 'resultsBucket', 'spillBucket']);
  const s3 = captureClient(s3Client(process.env, clientOptions.s3));
  const store = s3ObjectStore(s3);
  const kinesis = captureClient(kinesisClient(process.env, clientOptions.kinesis));
  const streams = runStreamsPlan(process.env);
  deps = {
    job,
    objects: s3ObjectSource(s3),
    ledger: new RunLedger(store, config.resultsBucket),
    putRecords: kinesisPutRecordsPort(kinesis),
    recordsStream: config.recordsStream,
    spill: {
      store,
      bucket: config.spillBucket,
      prefix: config.spillPrefix,
      thresholdBytes: config.spillThresholdBytes,
    },
    sliceBytes: config.sliceBytes,
    concurrency: config.readerConcurrency,
    fanOut: config.readerFanOut,
    defaultSource: config.sourceBucket ? { bucket: config.sourceBucket, prefix: config.sourcePrefix ?? '' } : undefined,
    log: (message, fields) => logger.info(message, fields ?? {}),
    openStreams: streams
      ? async (runId) => {
          const port = awsStreamsPort(kinesis, captureClient(lambdaClient(clientOptions.lambda)));
          const activity = ledgerOpeningActivity(store, config.resultsBucket);
          const opened = await openRunStreams(streams, port, activity, runId, { sleep: realSleep, now: new Date() });
          logger.info('streams open', { runId, ...opened });
        }
      : undefined,
    ...overrides,
  };
  return deps;
}

/** Hands the rest of a long run to a fresh asynchronous invocation of this same function. */
async function continueRun(context: Context, request: ReaderRequest): Promise<void> {
  const lambda = new LambdaClient({});
  await lambda.send(
    new InvokeCommand({
      FunctionName: context.invokedFunctionArn,
      InvocationType: 'Event',
      Payload: Buffer.from(JSON.stringify(request)),
    }),
  );
}

/** Lambda entry point: triggered by the schedule (`{ scheduledTime }`) or a caller (`{ runId, source }`). */
export async function handler(event: ReaderRequest, context?: Context): Promise<ReaderResult> {
  const base = wire();
  const inLambda = context !== undefined && typeof context.getRemainingTimeInMillis === 'function';
  try {
    const result = await readRun(event ?? {}, {
      ...base,
      remainingMs: inLambda ? () => context.getRemainingTimeInMillis() : undefined,
      continueRun: inLambda ? (request) => continueRun(context, request) : undefined,
    });
    metrics.addMetric('RecordsRead', MetricUnit.Count, result.read);
    metrics.addMetric('RowsMalformed', MetricUnit.Count, result.malformed);
    metrics.addMetric('RecordsSpilled', MetricUnit.Count, result.spilled);
    metrics.addMetric('SlicesRead', MetricUnit.Count, result.slicesReadNow);
    // Read by this invocation while another reader of the run recorded them first: the cost of two triggers at once.
    if (result.slicesTaken > 0) metrics.addMetric('SlicesTaken', MetricUnit.Count, result.slicesTaken);
    logger.info('reader finished', { ...result });
    return result;
  } finally {
    metrics.publishStoredMetrics();
  }
}

/**
 * For the local runner and tests: forget the wiring so a changed environment is read again, and
 * optionally replace parts of it (another job, say) and give its AWS clients their own credentials
 * (the local runner runs every function in one process, each under its own identity).
 */
export function resetReader(
  replace: Partial<Omit<ReaderDeps, 'remainingMs' | 'continueRun'>> = {},
  clients: FunctionClients = {},
): void {
  deps = undefined;
  overrides = replace;
  clientOptions = clients;
}
