import { DEFAULTS, FIREHOSE, HOURS_PER_MONTH, KINESIS, KiB, MiB, PRICE_TABLE, type PriceTable } from '@pipeline/limits';
import { type Cost, emptyUsage, idleCostPerMonth, runCost, type StreamCapacity, type Usage } from './model';

/**
 * A run on AWS on paper: how long it takes, what limits it first, and what it costs — from the
 * documented quotas and the project's defaults, and the bookkeeping calls a simulation counted.
 * Every assumption is a named input, so the README can show the arithmetic.
 */
export interface ScaleInput {
  records: number;
  /** Average source line and result line, in bytes. */
  recordBytes: number;
  resultBytes: number;
  slices: number;
  /** Provisioned shards per stream. */
  shards: number;
  parallelizationFactor: number;
  batchSize: number;
  memoryMiB: { reader: number; processor: number; writer: number; finisher: number };
  /** Lambda wall time per record and per batch (the batch's puts), assumed: measure with `npm run bench`. */
  processorMicrosPerRecord: number;
  writerMicrosPerRecord: number;
  ioMillisPerBatch: number;
  firehoseBufferMiB: number;
  firehoseBufferSeconds: number;
  /** S3 requests of the run's bookkeeping (markers, manifest, completion), as counted by the simulation. */
  bookkeeping: { tier1: number; tier2: number };
}

export interface Limit {
  name: string;
  /** Source bytes a second this part of the pipeline can take. */
  bytesPerSecond: number;
  raise: string;
}

export interface ScaleModel {
  input: ScaleInput;
  limits: Limit[];
  limitedBy: Limit;
  hours: number;
  usage: Usage;
  cost: Cost;
  idlePerMonth: Cost;
}

/** The default inputs for a run of `records` source lines of ~1 KB: the CDK app's defaults. */
export function defaultScaleInput(records: number, slices: number, shards: number = DEFAULTS.shardCount): ScaleInput {
  return {
    records,
    recordBytes: 1024,
    resultBytes: 1024,
    slices,
    shards,
    parallelizationFactor: DEFAULTS.parallelizationFactor,
    batchSize: DEFAULTS.batchSize,
    memoryMiB: { reader: 1024, processor: 512, writer: 512, finisher: 512 },
    processorMicrosPerRecord: 50,
    writerMicrosPerRecord: 20,
    ioMillisPerBatch: 100,
    firehoseBufferMiB: FIREHOSE.dynamicPartitioning.minBufferSizeMiB,
    firehoseBufferSeconds: FIREHOSE.buffering.defaultIntervalSeconds,
    bookkeeping: { tier1: 0, tier2: 0 },
  };
}

/** Kinesis records of `bytes` packed in records of DEFAULTS.aggregateBytes, plus one marker per slice. */
function streamRecords(bytes: number, slices: number): number {
  return Math.ceil(bytes / DEFAULTS.aggregateBytes) + slices;
}

export function modelRun(input: ScaleInput, prices: PriceTable = PRICE_TABLE): ScaleModel {
  const inBytes = input.records * input.recordBytes;
  const outBytes = input.records * input.resultBytes;
  const outPerIn = outBytes / inBytes;
  const concurrency = input.shards * input.parallelizationFactor;
  const limits: Limit[] = [
    {
      name: `records stream writes: ${input.shards} shards × 1 MiB/s`,
      bytesPerSecond: input.shards * KINESIS.shardWriteBytesPerSecond,
      raise: 'streams.recordsShardCount',
    },
    {
      name: `results stream writes: ${input.shards} shards × 1 MiB/s`,
      bytesPerSecond: (input.shards * KINESIS.shardWriteBytesPerSecond) / outPerIn,
      raise: 'streams.resultsShardCount',
    },
    {
      name: `processor: ${concurrency} concurrent invocations (shards × parallelization factor) at ${input.processorMicrosPerRecord} µs a record`,
      bytesPerSecond: (concurrency * input.recordBytes * 1e6) / input.processorMicrosPerRecord,
      raise: 'processor.eventSource.parallelizationFactor (up to 10) or more shards',
    },
    {
      name: 'Firehose Direct PUT quota: 5 MiB/s per delivery stream',
      bytesPerSecond: FIREHOSE.directPutBytesPerSecond / outPerIn,
      raise: 'a quota increase request (Service Quotas), or a second delivery stream',
    },
  ];
  const limitedBy = limits.reduce((a, b) => (b.bytesPerSecond < a.bytesPerSecond ? b : a));
  const seconds = inBytes / limitedBy.bytesPerSecond + FIREHOSE.deliveryDelayFactor * input.firehoseBufferSeconds;
  const hours = seconds / 3600;

  const usage = emptyUsage();
  const inRecords = streamRecords(inBytes, input.slices);
  const outRecords = streamRecords(outBytes, input.slices);
  usage.kinesis.recordsPut = inRecords + outRecords;
  // A packed record of 24 KiB is one 25 KB PUT payload unit; so is a marker.
  usage.kinesis.putPayloadUnits = inRecords + outRecords;
  usage.kinesis.billedBytesIn = inBytes + outBytes;
  usage.kinesis.bytesOut = inBytes + outBytes;

  const batches = (records: number) => Math.ceil(records / input.batchSize);
  const gbs = (ms: number, memoryMiB: number) => (ms / 1000) * (memoryMiB / 1024);
  const processorMs =
    (input.records * input.processorMicrosPerRecord) / 1000 + batches(inRecords) * input.ioMillisPerBatch;
  const writerMs = (input.records * input.writerMicrosPerRecord) / 1000 + batches(outRecords) * input.ioMillisPerBatch;
  // One reader is busy the whole run (it waits on the records stream), handing on every ~14 minutes.
  const readerMs = seconds * 1000;
  const finisherInvocations = 3;
  usage.lambda.requests =
    batches(inRecords) + batches(outRecords) + Math.ceil(seconds / (14 * 60)) + finisherInvocations;
  usage.lambda.gbSecondsArm =
    gbs(processorMs, input.memoryMiB.processor) +
    gbs(writerMs, input.memoryMiB.writer) +
    gbs(readerMs, input.memoryMiB.reader) +
    gbs(finisherInvocations * 1000, input.memoryMiB.finisher);

  // Result lines packed up to 500 a record and 1,000 KiB; each record billed in 5 KB steps.
  const linesPerRecord = Math.min(
    FIREHOSE.maxDeaggregatedRecords,
    Math.floor(FIREHOSE.maxRecordBytes / input.resultBytes),
  );
  const firehoseRecords = Math.ceil(input.records / linesPerRecord);
  const recordBytes = linesPerRecord * input.resultBytes;
  usage.firehose.records = firehoseRecords;
  usage.firehose.billedBytes = firehoseRecords * Math.ceil(recordBytes / (5 * KiB)) * 5 * KiB;
  usage.firehose.deliveredBytes = outBytes;
  usage.firehose.objects = Math.max(
    Math.ceil(outBytes / (input.firehoseBufferMiB * MiB)),
    Math.ceil(seconds / input.firehoseBufferSeconds),
  );

  // Source byte ranges (one GET a slice), Firehose's objects, and the bookkeeping counted.
  usage.s3.tier1Requests = usage.firehose.objects + input.bookkeeping.tier1;
  usage.s3.tier2Requests = input.slices + input.bookkeeping.tier2;

  const capacity: StreamCapacity = { mode: 'provisioned', streams: 2, shardsPerStream: input.shards };
  return {
    input,
    limits,
    limitedBy,
    hours,
    usage,
    cost: runCost(usage, capacity, hours, prices),
    idlePerMonth: idleCostPerMonth(capacity, prices),
  };
}

/** The designs this pipeline is meant to beat, for the same items (README: the arithmetic). */
export function alternatives(items: number, prices: PriceTable = PRICE_TABLE): Cost[] {
  const line = (
    service: Cost['lines'][number]['service'],
    item: string,
    quantity: number,
    unit: string,
    usd: number,
  ) => ({
    service,
    item,
    quantity,
    unit,
    usd,
  });
  const total = (lines: Cost['lines']): Cost => ({
    region: prices.region,
    pricesAsOf: prices.asOf,
    totalUsd: lines.reduce((sum, l) => sum + l.usd, 0),
    lines,
  });
  const sqs = prices.sqs.requests.usd / 1e6;
  const wru = prices.dynamodb.writeUnits.usd / 1e6;
  const transition = prices.stepFunctions.standardTransitions.usd / 1000;
  const expressRequest = prices.stepFunctions.expressRequests.usd / 1e6;
  // An Express child of one item: at least 100 ms at 64 MB.
  const expressDuration = 0.1 * (64 / 1024) * prices.stepFunctions.expressGbSecond.usd;
  return [
    total([
      line(
        'DynamoDB',
        'tracker writes: 3 per item (≤ 1 KB: 1 WRU each)',
        3 * items,
        'write request units',
        3 * items * wru,
      ),
      line('SQS', 'send, receive, delete per item', 3 * items, 'requests', 3 * items * sqs),
    ]),
    total([
      line('Step Functions', 'Distributed Map: 1 state transition per child', items, 'transitions', items * transition),
      line('Step Functions', 'Express child requests (one item each)', items, 'requests', items * expressRequest),
      line(
        'Step Functions',
        'Express child duration (100 ms, 64 MB minimum)',
        items,
        'children',
        items * expressDuration,
      ),
    ]),
  ];
}

/** Idle cost a month of two streams kept for `hoursPerDay` a day (per-run streams): the arithmetic of option (c). */
export function perRunStreamsPerMonth(
  hoursPerDay: number,
  shardsPerStream: number,
  prices: PriceTable = PRICE_TABLE,
): number {
  return 2 * shardsPerStream * hoursPerDay * (HOURS_PER_MONTH / 24) * prices.kinesis.shardHour.usd;
}
