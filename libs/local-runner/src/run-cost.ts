import {
  billedUnits,
  type Cost,
  type CostLine,
  emptyUsage,
  ALWAYS_ON,
  idleCostPerMonth,
  runCost,
  runsPerMonth,
  type StreamsLifecycle,
  type StreamCapacity,
  type Usage,
} from '@pipeline/cost';
import { DEFAULTS, FIREHOSE_BILLING_STEP_BYTES, PRICE_TABLE, PUT_PAYLOAD_UNIT_BYTES } from '@pipeline/limits';
import type { FunctionUsage, MeterReading } from '@pipeline/local-stack';
import type { DeployedCapacity } from './iam';

/** What a local run used, as the embedded stack metered it. */
export interface MeteredRun {
  /** The IAM gateways' reading: every function's calls (and Firehose's own S3 writes). */
  calls: MeterReading;
  /** Invocations and billed milliseconds by app name (reader, processor, writer, finisher). */
  lambda: Record<string, FunctionUsage>;
  deployed: DeployedCapacity;
  /** The principal suffix of the local Firehose, whose S3 PutObjects are its delivered objects. */
  deliveryPrincipal: string;
  elapsedMs: number;
  /** Per-run streams (default always on): the replay window, for the idle month. */
  streams?: { lifecycle: 'always-on' } | { lifecycle: 'per-run'; replayWindowHours: number };
}

/** The cost report of a run: its modeled bill, and what the streams cost a month with no run. */
export type RunCostReport =
  | (Cost & {
      idlePerMonth: Cost;
      /** How the idle month was counted: always-on streams, or per-run streams at an assumed runs a month. */
      idleBasis: string;
      /** Usage lines priced from third-party or unverified figures (see libs/limits/src/prices.ts). */
      unconfirmedUsd: number;
      notes: string[];
    })
  | { region: string; error: string };

const S3_FREE = new Set(['s3:DeleteObject', 's3:DeleteObjectVersion']);
const S3_TIER1 = new Set(['s3:PutObject', 's3:ListBucket', 's3:ListBucketVersions', 's3:ListBucketMultipartUploads']);

/** Turns metered calls into billable usage: records by billing step, S3 requests by class, GB-seconds by architecture. */
export function usageOf(run: MeteredRun): Usage {
  const usage = emptyUsage();
  const kib = 1024;
  for (const action of ['kinesis:PutRecords', 'kinesis:PutRecord']) {
    const puts = run.calls.puts[action];
    if (!puts) continue;
    for (const [size, count] of Object.entries(puts.byStartedKiB)) {
      const bytes = Number(size) * kib;
      usage.kinesis.recordsPut += count;
      usage.kinesis.putPayloadUnits += count * billedUnits(bytes, PUT_PAYLOAD_UNIT_BYTES);
      usage.kinesis.billedBytesIn += count * bytes;
    }
    // Each stream has one consumer, which reads every record once (retries aside).
    usage.kinesis.bytesOut += puts.bytes;
  }
  for (const action of ['firehose:PutRecordBatch', 'firehose:PutRecord']) {
    const puts = run.calls.puts[action];
    if (!puts) continue;
    for (const [size, count] of Object.entries(puts.byStartedKiB)) {
      usage.firehose.records += count;
      usage.firehose.billedBytes +=
        count * billedUnits(Number(size) * kib, FIREHOSE_BILLING_STEP_BYTES) * FIREHOSE_BILLING_STEP_BYTES;
    }
    usage.firehose.deliveredBytes += puts.bytes;
  }
  for (const [principal, actions] of Object.entries(run.calls.calls))
    for (const [action, count] of Object.entries(actions)) {
      if (!action.startsWith('s3:') || S3_FREE.has(action)) continue;
      if (S3_TIER1.has(action)) usage.s3.tier1Requests += count;
      else usage.s3.tier2Requests += count;
      if (action === 's3:PutObject' && principal.endsWith(`/${run.deliveryPrincipal}`)) usage.firehose.objects += count;
    }
  for (const [app, used] of Object.entries(run.lambda)) {
    const fn = run.deployed.functions[app];
    if (!fn) throw new Error(`the CDK app deploys no ${app} function: check infra/src/names.ts`);
    usage.lambda.requests += used.invocations;
    const gbSeconds = (used.billedMs / 1000) * (fn.memoryMiB / 1024);
    if (fn.architecture === 'arm64') usage.lambda.gbSecondsArm += gbSeconds;
    else usage.lambda.gbSeconds += gbSeconds;
  }
  return usage;
}

/** The streams as deployed, for the hourly charges. */
export function streamCapacity(deployed: DeployedCapacity): StreamCapacity {
  const streams = deployed.streams.shards.length;
  const shards = deployed.streams.shards.reduce((sum, s) => sum + s, 0);
  return { mode: deployed.streams.mode, streams, shardsPerStream: streams ? shards / streams : 0 };
}

const UNCONFIRMED_PRICES = (() => {
  const unconfirmed = new Set<string>();
  for (const [service, prices] of Object.entries(PRICE_TABLE))
    if (typeof prices === 'object')
      for (const [name, p] of Object.entries(prices as Record<string, { confidence?: string }>))
        if (p.confidence && p.confidence !== 'aws-page') unconfirmed.add(`${service}.${name}`);
  return unconfirmed;
})();

/** Which price-table entry a line was priced with (for the confirmed/unconfirmed split). */
function priceOf(line: CostLine): string {
  const table: Record<string, string> = {
    'shard-hours': 'kinesis.shardHour',
    'stream-hours': 'kinesis.onDemandStreamHour',
    'PUT payload units': 'kinesis.putPayloadUnits',
    'data in': 'kinesis.onDemandGbIn',
    'data out': 'kinesis.onDemandGbOut',
    requests: 'lambda.requests',
    'duration (x86_64)': 'lambda.gbSecond',
    'duration (arm64)': 'lambda.gbSecondArm',
    ingestion: 'firehose.ingestedGb',
    'dynamic partitioning': 'firehose.partitionedGb',
    'partitioned objects': 'firehose.partitionedObjects',
    'JQ processing': 'firehose.jqHour',
    'PUT, COPY, POST, LIST': 's3.tier1Requests',
    'GET, HEAD and others': 's3.tier2Requests',
    events: 'eventBridge.events',
  };
  return table[line.item] ?? '';
}

/**
 * The modeled AWS bill of a local run, from the calls it made: the usage priced at the region's list
 * prices, the streams' hourly charge for the run's duration, and the idle cost per month beside it.
 * Only us-east-1 is in the price table: any other region says so rather than guess.
 */
export function runCostReport(run: MeteredRun, region: string = PRICE_TABLE.region): RunCostReport {
  if (region !== PRICE_TABLE.region)
    return {
      region,
      error: `no prices for ${region}: the price table (libs/limits/src/prices.ts) holds ${PRICE_TABLE.region} list prices only`,
    };
  const capacity = streamCapacity(run.deployed);
  const cost = runCost(usageOf(run), capacity, run.elapsedMs / 3_600_000);
  const lines = cost.lines.filter((l) => l.quantity > 0);
  const runs = runsPerMonth(run.deployed.schedule);
  const lifecycle: StreamsLifecycle =
    run.streams?.lifecycle === 'per-run'
      ? {
          kind: 'per-run',
          runHours: run.elapsedMs / 3_600_000,
          replayWindowHours: run.streams.replayWindowHours,
          sweepHours: DEFAULTS.streamsSweepHours,
          runsPerMonth: runs.runs,
        }
      : ALWAYS_ON;
  return {
    ...cost,
    lines,
    idlePerMonth: idleCostPerMonth(capacity, PRICE_TABLE, lifecycle),
    idleBasis:
      lifecycle.kind === 'per-run'
        ? `with per-run streams: ${runs.basis} × (this run's ${(lifecycle.runHours).toFixed(2)} h + ${lifecycle.replayWindowHours} h replay window + up to ${lifecycle.sweepHours} h until the sweep)`
        : 'with no run (always-on streams)',
    unconfirmedUsd: lines.filter((l) => UNCONFIRMED_PRICES.has(priceOf(l))).reduce((sum, l) => sum + l.usd, 0),
    notes: [
      'Lambda duration is the handlers’ wall time on this machine, at the memory the CDK app deploys: AWS timings differ.',
      'Stream hours are for this run’s elapsed time; the idle month is the streams with no run at all.',
      'Firehose JQ processing time (the run partitioning query) is not metered locally and not in the total.',
      'Free tiers are not deducted.',
    ],
  };
}
