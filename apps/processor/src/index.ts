import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { job } from '@pipeline/active-job';
import { kinesisClient, s3Client, type FunctionClients } from '@pipeline/aws';
import { readConfig } from '@pipeline/config';
import { observability, MetricUnit } from '@pipeline/observability';
import { s3ObjectStore } from '@pipeline/object-store';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { kinesisPutRecordsPort, SlabPool } from '@pipeline/stream-producer';
import { processBatch, type ProcessorDeps } from './process-batch';
import { selectRun } from './replay-selection';

export { processBatch } from './process-batch';
export { selectRun, type RunSelection } from './replay-selection';
export type { ProcessorDeps, BatchCounts } from './process-batch';

const { logger, metrics, captureClient } = observability('processor');
let deps: ProcessorDeps | undefined;
let overrides: Partial<ProcessorDeps> = {};
let clientOptions: FunctionClients = {};
/** The run a replay function processes (REPLAY_RUN_ID); unset on the live processor. */
let replayRun: string | undefined;

function wire(): ProcessorDeps {
  if (deps) return deps;
  const config = readConfig(['resultsStream', 'resultsBucket', 'spillBucket']);
  replayRun = config.replayRun;
  const store = s3ObjectStore(captureClient(s3Client(process.env, clientOptions.s3)));
  deps = {
    job,
    putRecords: kinesisPutRecordsPort(captureClient(kinesisClient(process.env, clientOptions.kinesis))),
    resultsStream: config.resultsStream,
    spill: {
      store,
      bucket: config.spillBucket,
      prefix: config.spillPrefix,
      thresholdBytes: config.spillThresholdBytes,
    },
    control: new ControlCache(new RunLedger(store, config.resultsBucket)),
    parking: { store, bucket: config.resultsBucket },
    // The SDK's port keeps no record's data once PutRecords has answered.
    slabs: new SlabPool(),
    log: (message, fields) => logger.warn(message, fields ?? {}),
    ...overrides,
  };
  return deps;
}

/**
 * Lambda entry point for the records stream's event source mapping (ReportBatchItemFailures on).
 * A replay function (REPLAY_RUN_ID set) processes that run's records only; see {@link processRun}.
 */
export async function handler(event: KinesisStreamEvent, context?: Context): Promise<KinesisStreamBatchResponse> {
  const wired = wire();
  return replayRun === undefined ? processEvent(event, wired) : processRun(replayRun, event, context);
}

/**
 * Processes only `runId`'s records of the event, as a replay does: the others are acknowledged
 * and counted (metric `RecordsOfOtherRuns`), since the mapping cannot filter on the partition key.
 */
export async function processRun(
  runId: string,
  event: KinesisStreamEvent,
  _context?: Context,
): Promise<KinesisStreamBatchResponse> {
  const { event: mine, skipped } = selectRun(event, runId);
  if (skipped > 0) metrics.addMetric('RecordsOfOtherRuns', MetricUnit.Count, skipped);
  if (mine.Records.length === 0) {
    metrics.publishStoredMetrics();
    return { batchItemFailures: [] };
  }
  return processEvent(mine, wire());
}

async function processEvent(event: KinesisStreamEvent, wired: ProcessorDeps): Promise<KinesisStreamBatchResponse> {
  try {
    const { batchItemFailures, counts } = await processBatch(event, wired);
    metrics.addMetric('Results', MetricUnit.Count, counts.results);
    metrics.addMetric('DeadLettered', MetricUnit.Count, counts.deadLettered);
    metrics.addMetric('RecordsParked', MetricUnit.Count, counts.parked);
    metrics.addMetric('RecordsRetried', MetricUnit.Count, batchItemFailures.length);
    if (batchItemFailures.length) logger.warn('batch partly failed', { ...counts, failed: batchItemFailures.length });
    return { batchItemFailures };
  } finally {
    metrics.publishStoredMetrics();
  }
}

/**
 * For the local runner and tests: forget the wiring so a changed environment is read again, and
 * optionally replace parts of it (another job, say) and give its AWS clients their own credentials
 * (the local runner runs every function in one process, each under its own identity).
 */
export function resetProcessor(replace: Partial<ProcessorDeps> = {}, clients: FunctionClients = {}): void {
  deps = undefined;
  overrides = replace;
  clientOptions = clients;
}
