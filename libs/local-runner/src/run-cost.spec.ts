import { PRICE_TABLE } from '@pipeline/limits';
import { formatReport, jsonReport } from './format';
import { type DeployedCapacity, deployedCapacity } from './iam';
import { type MeteredRun, runCostReport, usageOf } from './run-cost';
import type { RunReport } from './run-job';

const deployed: DeployedCapacity = {
  functions: {
    reader: { memoryMiB: 1024, architecture: 'arm64' },
    processor: { memoryMiB: 512, architecture: 'arm64' },
    writer: { memoryMiB: 512, architecture: 'x86_64' },
  },
  streams: { mode: 'provisioned', shards: [2, 2] },
};
const principal = (fn: string) => `arn:aws:sts::000000000000:assumed-role/Role/${fn}`;
const run: MeteredRun = {
  calls: {
    calls: {
      [principal('pipeline-reader')]: {
        's3:GetObject': 10,
        's3:ListBucket': 2,
        's3:PutObject': 5,
        'kinesis:PutRecords': 3,
      },
      [principal('pipeline-writer')]: { 's3:PutObject': 4, 's3:DeleteObject': 7, 'firehose:PutRecordBatch': 1 },
      [principal('pipeline-delivery')]: { 's3:PutObject': 2 },
    },
    puts: {
      // 24 KiB records take one PUT payload unit; 26 KiB two.
      'kinesis:PutRecords': { records: 3, bytes: 3 * 24 * 1024, byStartedKiB: { 24: 2, 26: 1 } },
      // 3 KiB counts as 5 KB in Firehose, 12 KiB as 15 KB.
      'firehose:PutRecordBatch': { records: 2, bytes: 15 * 1024, byStartedKiB: { 3: 1, 12: 1 } },
    },
  },
  lambda: { reader: { invocations: 1, billedMs: 2000 }, writer: { invocations: 4, billedMs: 1000 } },
  deployed,
  deliveryPrincipal: 'pipeline-delivery',
  elapsedMs: 3_600_000,
};

describe('the cost report of a run, from the calls the embedded stack metered', () => {
  it('bills Kinesis per started 25 KB and 1 KB, Firehose per started 5 KB, and S3 requests by class', () => {
    const usage = usageOf(run);
    expect(usage.kinesis).toEqual({
      recordsPut: 3,
      putPayloadUnits: 1 + 1 + 2,
      billedBytesIn: (24 + 24 + 26) * 1024,
      bytesOut: 3 * 24 * 1024,
    });
    expect(usage.firehose).toMatchObject({ records: 2, billedBytes: (5 + 15) * 1024, objects: 2 });
    // PUT and LIST are tier 1 (Firehose's own puts included), GET tier 2, DELETE free.
    expect(usage.s3).toEqual({ tier1Requests: 2 + 5 + 4 + 2, tier2Requests: 10 });
  });

  it('prices Lambda at the memory and architecture the CDK app deploys', () => {
    const { lambda } = usageOf(run);
    expect(lambda).toEqual({ requests: 5, gbSecondsArm: 2 * 1, gbSeconds: 1 * 0.5 });
  });

  it('adds the streams’ hours for the run and shows the idle month beside it', () => {
    const cost = runCostReport(run);
    if ('error' in cost) throw new Error(cost.error);
    const shardHours = cost.lines.find((l) => l.item === 'shard-hours');
    expect(shardHours?.quantity).toBe(4);
    expect(cost.idlePerMonth.totalUsd).toBeCloseTo(4 * 730 * PRICE_TABLE.kinesis.shardHour.usd, 6);
    expect(cost.totalUsd).toBeCloseTo(
      cost.lines.reduce((sum, l) => sum + l.usd, 0),
      12,
    );
    expect(cost.unconfirmedUsd).toBeLessThanOrEqual(cost.totalUsd);
  });

  it('with per-run streams, shows the month of streams around each run of the deployed schedule, and says how it was counted', () => {
    const perRun = (schedule?: DeployedCapacity['schedule']): MeteredRun => ({
      ...run,
      deployed: { ...deployed, streams: { mode: 'provisioned', shards: [1, 1] }, ...(schedule ? { schedule } : {}) },
      elapsedMs: 15 * 60_000,
      streams: { lifecycle: 'per-run', replayWindowHours: 3 },
    });
    const daily = runCostReport(perRun({ expression: 'cron(0 2 * * ? *)', enabled: true }));
    if ('error' in daily) throw new Error(daily.error);
    // 2 shards × (0.25 h run + 3 h window + 1 h sweep) × 30.42 runs × $0.015 ≈ $3.88.
    expect(daily.idlePerMonth.totalUsd).toBeCloseTo(2 * 4.25 * (730 / 24) * PRICE_TABLE.kinesis.shardHour.usd, 6);
    expect(daily.idleBasis).toContain('per-run streams: 30.42 runs a month (the schedule cron(0 2 * * ? *))');
    expect(daily.idleBasis).toContain('3 h replay window');
    // Four runs a day: four times the streams' hours.
    const fourADay = runCostReport(perRun({ expression: 'cron(0 0/6 * * ? *)', enabled: true }));
    if ('error' in fourADay) throw new Error(fourADay.error);
    expect(fourADay.idlePerMonth.totalUsd).toBeCloseTo(4 * daily.idlePerMonth.totalUsd, 6);
    // No schedule deployed: daily, and the basis says it was assumed.
    const unscheduled = runCostReport(perRun());
    if ('error' in unscheduled) throw new Error(unscheduled.error);
    expect(unscheduled.idlePerMonth.totalUsd).toBeCloseTo(daily.idlePerMonth.totalUsd, 6);
    expect(unscheduled.idleBasis).toContain('a daily schedule assumed');
  });

  it("reads the reader's schedule from the synthesized templates, as the CDK app writes it", () => {
    const template = (state: string) => ({
      Resources: {
        Schedule: {
          Type: 'AWS::Scheduler::Schedule',
          Properties: { ScheduleExpression: 'cron(0 2 * * ? *)', ScheduleExpressionTimezone: 'UTC', State: state },
        },
      },
    });
    expect(deployedCapacity({ templates: [template('ENABLED')], functions: {} }).schedule).toEqual({
      expression: 'cron(0 2 * * ? *)',
      enabled: true,
    });
    expect(deployedCapacity({ templates: [template('DISABLED')], functions: {} }).schedule?.enabled).toBe(false);
    expect(deployedCapacity({ templates: [], functions: {} }).schedule).toBeUndefined();
  });

  it('says so for a region the price table does not hold, rather than guess', () => {
    expect(runCostReport(run, 'eu-west-1')).toEqual({
      region: 'eu-west-1',
      error: expect.stringContaining('no prices for eu-west-1'),
    });
  });

  it('appears in the human summary and as a `cost` object with a total and per-service lines in --json', () => {
    const cost = runCostReport(run);
    const counts = { read: 0, slices: 0, spilled: 0, delivered: 0, deadLettered: 0, duplicatesDropped: 0 };
    const report = {
      runId: 'r',
      deadLetteredByReason: {},
      elapsedMs: 1,
      recordsPerSecond: 0,
      ...counts,
      cost,
    } as unknown as RunReport;
    expect(formatReport(report)).toMatch(/modeled AWS cost\s+\$\d+\.\d+ this run/);
    expect(formatReport(report)).toMatch(/idle cost\s+\$43\.80 a month with no run/);
    expect(jsonReport(report).cost).toMatchObject({
      totalUsd: expect.any(Number),
      lines: expect.arrayContaining([expect.objectContaining({ service: 'Lambda', item: 'requests', quantity: 5 })]),
    });
  });
});
