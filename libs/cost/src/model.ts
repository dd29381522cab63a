import {
  FIREHOSE_BILLING_STEP_BYTES,
  HOURS_PER_MONTH,
  ON_DEMAND_BILLING_STEP_BYTES,
  PRICE_TABLE,
  type Price,
  PUT_PAYLOAD_UNIT_BYTES,
  type PriceTable,
} from '@pipeline/limits';

/**
 * The modeled AWS bill of a run: what it used, priced from the one price table.
 *
 * Usage is counted from the calls a run made (the embedded stack meters them) or predicted by a
 * formula of records and slices; either way the same function prices it.
 */

export interface Usage {
  kinesis: {
    /** Records put on either stream. */
    recordsPut: number;
    /** PUT payload units: per record put, its size in started 25 KB units (provisioned billing). */
    putPayloadUnits: number;
    /** Bytes put, each record rounded up to 1 KB (on-demand billing). */
    billedBytesIn: number;
    /** Bytes the consumers read (on-demand billing). */
    bytesOut: number;
  };
  /** GB-seconds by architecture: x86_64 (`gbSeconds`) and arm64 (`gbSecondsArm`) are priced apart. */
  lambda: { requests: number; gbSeconds: number; gbSecondsArm: number };
  firehose: {
    records: number;
    /** Bytes ingested, each record rounded up to 5 KB. */
    billedBytes: number;
    /** Bytes delivered to S3 through dynamic partitioning, and the objects written. */
    deliveredBytes: number;
    objects: number;
    jqHours: number;
  };
  s3: { tier1Requests: number; tier2Requests: number };
  eventBridge: { events: number };
}

/** How the two streams are provisioned. */
export interface StreamCapacity {
  mode: 'provisioned' | 'on-demand';
  streams: number;
  /** Provisioned: shards per stream. */
  shardsPerStream: number;
}

export interface CostLine {
  service: 'Kinesis' | 'Lambda' | 'Firehose' | 'S3' | 'EventBridge' | 'SQS' | 'DynamoDB' | 'Step Functions';
  item: string;
  quantity: number;
  unit: string;
  usd: number;
}

export interface Cost {
  region: string;
  pricesAsOf: string;
  totalUsd: number;
  lines: CostLine[];
}

export const GB = 1024 ** 3;

/** The started billing units of one record: `ceil(bytes / step)`, at least one. */
export function billedUnits(bytes: number, step: number): number {
  return Math.max(1, Math.ceil(bytes / step));
}

/** Adds one record of `bytes` put on a stream to a usage. */
export function countKinesisPut(usage: Usage, bytes: number): void {
  usage.kinesis.recordsPut += 1;
  usage.kinesis.putPayloadUnits += billedUnits(bytes, PUT_PAYLOAD_UNIT_BYTES);
  usage.kinesis.billedBytesIn += billedUnits(bytes, ON_DEMAND_BILLING_STEP_BYTES) * ON_DEMAND_BILLING_STEP_BYTES;
}

/** Adds one Firehose record of `bytes` to a usage. */
export function countFirehoseRecord(usage: Usage, bytes: number): void {
  usage.firehose.records += 1;
  usage.firehose.billedBytes += billedUnits(bytes, FIREHOSE_BILLING_STEP_BYTES) * FIREHOSE_BILLING_STEP_BYTES;
}

export function emptyUsage(): Usage {
  return {
    kinesis: { recordsPut: 0, putPayloadUnits: 0, billedBytesIn: 0, bytesOut: 0 },
    lambda: { requests: 0, gbSeconds: 0, gbSecondsArm: 0 },
    firehose: { records: 0, billedBytes: 0, deliveredBytes: 0, objects: 0, jqHours: 0 },
    s3: { tier1Requests: 0, tier2Requests: 0 },
    eventBridge: { events: 0 },
  };
}

/** Prices a quantity: `quantity / per × price`, where `per` is how many units the price is for. */
function line(
  service: CostLine['service'],
  item: string,
  quantity: number,
  unit: string,
  p: Price,
  per: number,
): CostLine {
  return { service, item, quantity, unit, usd: (quantity / per) * p.usd };
}

function total(lines: CostLine[], prices: PriceTable): Cost {
  return {
    region: prices.region,
    pricesAsOf: prices.asOf,
    totalUsd: lines.reduce((sum, l) => sum + l.usd, 0),
    lines,
  };
}

/** The stream charges for `hours` whatever the traffic: shard-hours, or on-demand stream-hours. */
function streamHours(capacity: StreamCapacity, hours: number, prices: PriceTable): CostLine[] {
  const k = prices.kinesis;
  return capacity.mode === 'provisioned'
    ? [
        line(
          'Kinesis',
          'shard-hours',
          capacity.streams * capacity.shardsPerStream * hours,
          'shard-hours',
          k.shardHour,
          1,
        ),
      ]
    : [line('Kinesis', 'stream-hours', capacity.streams * hours, 'stream-hours', k.onDemandStreamHour, 1)];
}

/**
 * What a run costs: its usage priced, plus the streams' hourly charge for the run's `hours` (the
 * idle rest of the month is {@link idleCostPerMonth}).
 */
export function runCost(usage: Usage, capacity: StreamCapacity, hours: number, prices: PriceTable = PRICE_TABLE): Cost {
  const k = prices.kinesis;
  const f = prices.firehose;
  const lines: CostLine[] = [
    ...streamHours(capacity, hours, prices),
    ...(capacity.mode === 'provisioned'
      ? [line('Kinesis', 'PUT payload units', usage.kinesis.putPayloadUnits, 'units of 25 KB', k.putPayloadUnits, 1e6)]
      : [
          line(
            'Kinesis',
            'data in',
            usage.kinesis.billedBytesIn / GB,
            'GB (records rounded to 1 KB)',
            k.onDemandGbIn,
            1,
          ),
          line('Kinesis', 'data out', usage.kinesis.bytesOut / GB, 'GB', k.onDemandGbOut, 1),
        ]),
    line('Lambda', 'requests', usage.lambda.requests, 'requests', prices.lambda.requests, 1e6),
    line('Lambda', 'duration (x86_64)', usage.lambda.gbSeconds, 'GB-seconds', prices.lambda.gbSecond, 1),
    line('Lambda', 'duration (arm64)', usage.lambda.gbSecondsArm, 'GB-seconds', prices.lambda.gbSecondArm, 1),
    line('Firehose', 'ingestion', usage.firehose.billedBytes / GB, 'GB (records rounded to 5 KB)', f.ingestedGb, 1),
    line('Firehose', 'dynamic partitioning', usage.firehose.deliveredBytes / GB, 'GB delivered', f.partitionedGb, 1),
    line('Firehose', 'partitioned objects', usage.firehose.objects, 'objects', f.partitionedObjects, 1000),
    line('Firehose', 'JQ processing', usage.firehose.jqHours, 'hours', f.jqHour, 1),
    line('S3', 'PUT, COPY, POST, LIST', usage.s3.tier1Requests, 'requests', prices.s3.tier1Requests, 1000),
    line('S3', 'GET, HEAD and others', usage.s3.tier2Requests, 'requests', prices.s3.tier2Requests, 1000),
    line('EventBridge', 'events', usage.eventBridge.events, 'events', prices.eventBridge.events, 1e6),
  ];
  return total(lines, prices);
}

/**
 * How long the streams exist in a month: always (every hour of it), or per run — created when a
 * run starts, deleted by the hourly sweep once the replay window after the run has passed.
 */
export type StreamsLifecycle =
  | { kind: 'always-on' }
  | {
      kind: 'per-run';
      /** How long one run keeps the streams busy. */
      runHours: number;
      replayWindowHours: number;
      /** The sweep's period: the streams outlive the window by up to this much (counted in full). */
      sweepHours: number;
      runsPerMonth: number;
    };

export const ALWAYS_ON: StreamsLifecycle = { kind: 'always-on' };

/** Hours a month the streams exist (and bill shard-hours or stream-hours). */
export function streamHoursPerMonth(lifecycle: StreamsLifecycle): number {
  if (lifecycle.kind === 'always-on') return HOURS_PER_MONTH;
  const perRun = lifecycle.runHours + lifecycle.replayWindowHours + lifecycle.sweepHours;
  return Math.min(HOURS_PER_MONTH, perRun * lifecycle.runsPerMonth);
}

/**
 * What the streams cost in a month whatever the traffic: the part of the bill that does not scale
 * to zero. Always-on streams bill every hour; per-run streams the hours they exist around each run
 * (run + replay window + sweep period, times the runs a month).
 *
 * @example idleCostPerMonth({ mode: 'provisioned', streams: 2, shardsPerStream: 2 }).totalUsd; // 43.8
 */
export function idleCostPerMonth(
  capacity: StreamCapacity,
  prices: PriceTable = PRICE_TABLE,
  lifecycle: StreamsLifecycle = ALWAYS_ON,
): Cost {
  return total(streamHours(capacity, streamHoursPerMonth(lifecycle), prices), prices);
}
