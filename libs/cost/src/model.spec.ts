import { PRICE_TABLE } from '@pipeline/limits';
import { billedUnits, countFirehoseRecord, countKinesisPut, emptyUsage, GB, idleCostPerMonth, runCost } from './model';

const TWO_BY_TWO = { mode: 'provisioned', streams: 2, shardsPerStream: 2 } as const;
const ON_DEMAND = { mode: 'on-demand', streams: 2, shardsPerStream: 0 } as const;
const usd = (cost: { lines: { item: string; usd: number }[] }, item: string) =>
  cost.lines.find((l) => l.item === item)?.usd;

describe('billedUnits', () => {
  it('counts every started unit, and at least one', () => {
    expect(billedUnits(0, 25 * 1024)).toBe(1);
    expect(billedUnits(25 * 1024, 25 * 1024)).toBe(1);
    expect(billedUnits(25 * 1024 + 1, 25 * 1024)).toBe(2);
  });
});

describe('counting usage per record', () => {
  it('bills a packed 24 KiB Kinesis record one PUT payload unit, and 24 KiB of on-demand data in', () => {
    const usage = emptyUsage();
    countKinesisPut(usage, 24 * 1024);
    expect(usage.kinesis).toEqual({ recordsPut: 1, putPayloadUnits: 1, billedBytesIn: 24 * 1024, bytesOut: 0 });
  });

  it('rounds each Firehose record up to 5 KB', () => {
    const usage = emptyUsage();
    countFirehoseRecord(usage, 3 * 1024);
    countFirehoseRecord(usage, 12 * 1024);
    expect(usage.firehose).toMatchObject({ records: 2, billedBytes: (5 + 15) * 1024 });
  });
});

describe('runCost', () => {
  it('prices shard-hours and PUT payload units on provisioned streams', () => {
    const usage = emptyUsage();
    usage.kinesis.putPayloadUnits = 2_000_000;
    const cost = runCost(usage, TWO_BY_TWO, 0.5);

    expect(usd(cost, 'shard-hours')).toBeCloseTo(4 * 0.5 * PRICE_TABLE.kinesis.shardHour.usd, 10);
    expect(usd(cost, 'PUT payload units')).toBeCloseTo(2 * PRICE_TABLE.kinesis.putPayloadUnits.usd, 10);
    expect(usd(cost, 'data in')).toBeUndefined();
  });

  it('prices data in and out per GB on on-demand streams, and no PUT payload units', () => {
    const usage = emptyUsage();
    usage.kinesis.billedBytesIn = 3 * GB;
    usage.kinesis.bytesOut = 6 * GB;
    const cost = runCost(usage, ON_DEMAND, 1);

    expect(usd(cost, 'stream-hours')).toBeCloseTo(2 * PRICE_TABLE.kinesis.onDemandStreamHour.usd, 10);
    expect(usd(cost, 'data in')).toBeCloseTo(3 * PRICE_TABLE.kinesis.onDemandGbIn.usd, 10);
    expect(usd(cost, 'data out')).toBeCloseTo(6 * PRICE_TABLE.kinesis.onDemandGbOut.usd, 10);
    expect(usd(cost, 'PUT payload units')).toBeUndefined();
  });

  it('prices Lambda, Firehose, S3 and EventBridge by their units, and totals every line', () => {
    const usage = emptyUsage();
    Object.assign(usage.lambda, { requests: 1_000_000, gbSeconds: 1000, gbSecondsArm: 1000 });
    Object.assign(usage.firehose, { billedBytes: GB, deliveredBytes: GB, objects: 2000, jqHours: 1 });
    Object.assign(usage.s3, { tier1Requests: 1000, tier2Requests: 1000 });
    usage.eventBridge.events = 1_000_000;
    const cost = runCost(usage, TWO_BY_TWO, 0);

    expect(usd(cost, 'requests')).toBeCloseTo(PRICE_TABLE.lambda.requests.usd, 10);
    expect(usd(cost, 'duration (x86_64)')).toBeCloseTo(1000 * PRICE_TABLE.lambda.gbSecond.usd, 10);
    expect(usd(cost, 'duration (arm64)')).toBeCloseTo(1000 * PRICE_TABLE.lambda.gbSecondArm.usd, 10);
    expect(usd(cost, 'ingestion')).toBeCloseTo(PRICE_TABLE.firehose.ingestedGb.usd, 10);
    expect(usd(cost, 'partitioned objects')).toBeCloseTo(2 * PRICE_TABLE.firehose.partitionedObjects.usd, 10);
    expect(usd(cost, 'PUT, COPY, POST, LIST')).toBeCloseTo(PRICE_TABLE.s3.tier1Requests.usd, 10);
    expect(usd(cost, 'events')).toBeCloseTo(PRICE_TABLE.eventBridge.events.usd, 10);
    expect(cost.totalUsd).toBeCloseTo(
      cost.lines.reduce((sum, l) => sum + l.usd, 0),
      10,
    );
    expect(cost).toMatchObject({ region: 'us-east-1', pricesAsOf: PRICE_TABLE.asOf });
  });
});

describe('idleCostPerMonth', () => {
  it('is 730 shard-hours per provisioned shard: two streams of two shards cost $43.80 a month', () => {
    expect(idleCostPerMonth(TWO_BY_TWO).totalUsd).toBeCloseTo(43.8, 6);
  });

  it('is 730 stream-hours per on-demand stream', () => {
    expect(idleCostPerMonth(ON_DEMAND).totalUsd).toBeCloseTo(2 * 730 * PRICE_TABLE.kinesis.onDemandStreamHour.usd, 6);
  });

  it('with per-run streams, bills only the hours around each run: run + replay window + sweep period, times the runs', () => {
    const ONE_BY_ONE = { mode: 'provisioned', streams: 2, shardsPerStream: 1 } as const;
    const daily = { kind: 'per-run', runHours: 0.25, replayWindowHours: 3, sweepHours: 1, runsPerMonth: 30.4 } as const;
    // 2 shards × 4.25 h × 30.4 runs × $0.015 = $3.88: under the issue's $5 for a pipeline that runs once a day.
    expect(idleCostPerMonth(ONE_BY_ONE, PRICE_TABLE, daily).totalUsd).toBeCloseTo(2 * 4.25 * 30.4 * 0.015, 6);
    expect(idleCostPerMonth(ONE_BY_ONE, PRICE_TABLE, daily).totalUsd).toBeLessThan(5);
    expect(idleCostPerMonth(TWO_BY_TWO, PRICE_TABLE, daily).totalUsd).toBeCloseTo(4 * 4.25 * 30.4 * 0.015, 6);
  });

  it('with per-run streams never bills more than the always-on month', () => {
    const hourly = { kind: 'per-run', runHours: 1, replayWindowHours: 3, sweepHours: 1, runsPerMonth: 730 } as const;
    expect(idleCostPerMonth(TWO_BY_TWO, PRICE_TABLE, hourly).totalUsd).toBeCloseTo(43.8, 6);
  });
});
