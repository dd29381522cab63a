import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { firehoseClient, s3Client, type FunctionClients } from '@pipeline/aws';
import { readConfig } from '@pipeline/config';
import { firehoseDeliveryPort } from '@pipeline/delivery';
import { observability, MetricUnit } from '@pipeline/observability';
import { s3ObjectStore } from '@pipeline/object-store';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { writeBatch, type WriterDeps } from './write-batch';

export { writeBatch } from './write-batch';
export type { WriterDeps, WriteCounts } from './write-batch';

const { logger, metrics, captureClient } = observability('writer');
let deps: WriterDeps | undefined;
let overrides: Partial<WriterDeps> = {};
let clientOptions: FunctionClients = {};

function wire(): WriterDeps {
  if (deps) return deps;
  const config = readConfig(['deliveryStream', 'resultsBucket', 'spillBucket']);
  const store = s3ObjectStore(captureClient(s3Client(process.env, clientOptions.s3)));
  const ledger = new RunLedger(store, config.resultsBucket);
  deps = {
    deliver: firehoseDeliveryPort(captureClient(firehoseClient(process.env, clientOptions.firehose))),
    deliveryStream: config.deliveryStream,
    store,
    resultsBucket: config.resultsBucket,
    ledger,
    spill: {
      store,
      bucket: config.spillBucket,
      prefix: config.spillPrefix,
      thresholdBytes: config.spillThresholdBytes,
    },
    control: new ControlCache(ledger),
    log: (message, fields) => logger.warn(message, fields ?? {}),
    ...overrides,
  };
  return deps;
}

/** Lambda entry point for the results stream's event source mapping (ReportBatchItemFailures on). */
export async function handler(event: KinesisStreamEvent): Promise<KinesisStreamBatchResponse> {
  try {
    const { batchItemFailures, counts } = await writeBatch(event, wire());
    metrics.addMetric('ResultsDelivered', MetricUnit.Count, counts.delivered);
    metrics.addMetric('DeadLettersStored', MetricUnit.Count, counts.deadLettered);
    metrics.addMetric('SlicesDone', MetricUnit.Count, counts.slicesDone);
    metrics.addMetric('RecordsParked', MetricUnit.Count, counts.parked);
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
export function resetWriter(replace: Partial<WriterDeps> = {}, clients: FunctionClients = {}): void {
  deps = undefined;
  overrides = replace;
  clientOptions = clients;
}
