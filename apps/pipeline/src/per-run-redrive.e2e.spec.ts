import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { exampleJob, type Customer } from '@pipeline/example-job';
import type { Job, TransformContext } from '@pipeline/job';
import { LOCAL_RESOURCES, LocalPipeline, runJob } from '@pipeline/local-runner';
import { collatedLines, deadLetterIds, E2E_PIPELINE, expectedIds, tempDataDir } from '@pipeline/local-runner/testing';
import { getJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import type { RetireOutcome } from '@pipeline/run-streams';
import { embeddedEnvironment } from './environment';
import { listDeadLetters, redrive } from './operations';

const DATA = { records: 300, recordBytes: 200, malformedEvery: 71 };
const HOUR = 3_600_000;
const WINDOW_HOURS = 2;
const RUN = 'per-run-redrive';
/** A row whose transform fails while its downstream is "unavailable": dead-lettered, then redriven once it is back. */
const POISON = 'c000000005';

/**
 * Redrive with per-run streams on the embedded stack: after the sweep retired the streams, a
 * redrive takes the run's lease, opens the streams and mappings again as the reader does, and no
 * sweep retires them until the redrive is through; the replay window then runs from its end.
 */
describe('redrive with per-run streams', () => {
  jest.setTimeout(300_000);
  let pipeline: LocalPipeline;
  let data: { dir: string; remove(): Promise<void> };
  let downstreamBroken = true;
  /** When set, the writer's next batch first runs a sweep at this time: a sweep in the middle of the redrive. */
  let sweepAt: Date | undefined;
  let sweptDuringRedrive: RetireOutcome | undefined;

  beforeAll(async () => {
    data = await tempDataDir();
    const job = {
      ...exampleJob,
      transform: (customer: Customer, context: TransformContext) => {
        if (downstreamBroken && customer.customerId === POISON) throw new Error('downstream unavailable');
        return exampleJob.transform(customer, context);
      },
    } as Job;
    pipeline = await LocalPipeline.start({
      dataDir: data.dir,
      ...E2E_PIPELINE,
      job,
      streams: 'per-run',
      replayWindowHours: WINDOW_HOURS,
      wrapWriter: (handler) => async (event, context) => {
        if (sweepAt && event.Records.length) {
          const at = sweepAt;
          sweepAt = undefined;
          sweptDuringRedrive = await pipeline.sweep(at);
        }
        return handler(event, context);
      },
    });
  });
  afterAll(async () => {
    await pipeline?.stop();
    await data?.remove();
  });

  const streamExists = async (name: string) => {
    try {
      await pipeline.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
      return true;
    } catch (error) {
      if ((error as { name?: string }).name === 'ResourceNotFoundException') return false;
      throw error;
    }
  };

  it('the run completes with the poison pill dead-lettered, and the sweep retires the streams after the window', async () => {
    const report = await runJob({ runId: RUN, pipeline, data: DATA, timeoutMs: 120_000 });
    expect(report).toMatchObject({ complete: true, conserved: true, read: DATA.records });
    const poisoned = await listDeadLetters(embeddedEnvironment(pipeline), RUN, 'retries-exhausted');
    expect(poisoned.total).toBe(1);
    expect(await pipeline.sweep(new Date(Date.now() + WINDOW_HOURS * HOUR + 60_000))).toMatchObject({
      retired: true,
    });
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(false);
  });

  it('a redrive opens the streams again, a sweep past the window meanwhile keeps them, and the run is collated exactly', async () => {
    downstreamBroken = false;
    sweepAt = new Date(Date.now() + 10 * WINDOW_HOURS * HOUR);
    const redriven = await redrive(embeddedEnvironment(pipeline), RUN, 'retries-exhausted', { timeoutMs: 60_000 });
    expect(sweptDuringRedrive).toEqual({ retired: false, reason: `run ${RUN} is still active` });
    expect(redriven).toMatchObject({ redriven: 1, skipped: 0 });
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(true);

    const expected = await expectedIds(pipeline.ledger, RUN, DATA);
    expect(redriven.summary).toMatchObject({
      complete: true,
      conserved: true,
      read: DATA.records,
      delivered: expected.results.size,
      deadLettered: expected.deadLetters.size,
    });
    const ids = (await collatedLines(pipeline.store, RUN)).map((l) => l.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(expected.results);
    expect(new Set(await deadLetterIds(pipeline.store, RUN))).toEqual(expected.deadLetters);
    // The redrive's own lease says when it put its last record and when it was through (all it put
    // was seen through: no on-failure batch): the replay window runs from there.
    const leases: { endedAt?: string }[] = [];
    for await (const { key } of pipeline.store.list(
      LOCAL_RESOURCES.resultsBucket,
      `${LAYOUT.streamsLeasePrefix}${RUN}/`,
    ))
      leases.push((await getJson<{ endedAt?: string }>(pipeline.store, LOCAL_RESOURCES.resultsBucket, key)) ?? {});
    expect(leases).toEqual([
      {
        runId: RUN,
        slice: expect.stringMatching(/^redrive-/),
        startedAt: expect.any(String),
        recordsPutAt: expect.any(String),
        endedAt: expect.any(String),
      },
    ]);
    expect(pipeline.deniedCalls()).toEqual([]);
  });

  it('after the redrive, the streams stay for the replay window from its end, then the sweep retires them', async () => {
    const halfway = await pipeline.sweep(new Date(Date.now() + (WINDOW_HOURS * HOUR) / 2));
    expect(halfway).toMatchObject({ retired: false, reason: expect.stringContaining('replay window') });
    const after = await pipeline.sweep(new Date(Date.now() + WINDOW_HOURS * HOUR + 60_000));
    expect(after).toMatchObject({ retired: true, mappings: 2 });
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(false);
    expect(pipeline.deniedCalls()).toEqual([]);
  });
});
