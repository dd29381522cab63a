import { exampleJob, expectedCounts } from '@pipeline/example-job';
import type { Job, TransformContext } from '@pipeline/job';
import { recordIdString } from '@pipeline/records';
import { LOCAL_FUNCTIONS, LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { usageOf } from './run-cost';
import { E2E_DATA, E2E_PIPELINE, tempDataDir } from './testing';

const DATA = { ...E2E_DATA, records: 300 };

/**
 * The example job with a side effect that has no idempotency key, guarded by context.once; every
 * tenth record's first attempt fails after the effect (its answer lost), so the transform is retried.
 */
function guardedJob() {
  const effects = new Map<string, number>();
  const attempts = new Map<string, number>();
  let claims = 0;
  const job = {
    ...exampleJob,
    async transform(customer: Parameters<typeof exampleJob.transform>[0], context: TransformContext) {
      const greeting = exampleJob.transform(customer, context);
      const id = recordIdString(context.id);
      const attempt = (attempts.get(id) ?? 0) + 1;
      attempts.set(id, attempt);
      claims += 1;
      await context.once(async () => {
        effects.set(id, (effects.get(id) ?? 0) + 1);
      });
      if (attempt === 1 && context.id.pos % 10 === 3) throw new Error('the side effect answered 502: retry');
      return greeting;
    },
  } as unknown as Job;
  return { job, effects, claims: () => claims, retried: () => [...attempts.values()].filter((n) => n > 1).length };
}

describe('context.once on the embedded stack', () => {
  jest.setTimeout(180_000);

  it('runs each record’s side effect exactly once though transforms are retried, each claim one metered PUT', async () => {
    const data = await tempDataDir();
    const guarded = guardedJob();
    const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE, job: guarded.job });
    try {
      pipeline.iam?.meter.keepResources();
      const report = await runJob({ runId: 'run-once', pipeline, job: guarded.job, data: DATA, timeoutMs: 120_000 });
      expect(report.complete).toBe(true);

      const counts = expectedCounts(DATA);
      expect(guarded.effects.size).toBe(counts.good + counts.large);
      expect([...guarded.effects.values()].every((n) => n === 1)).toBe(true);
      expect(guarded.retried()).toBeGreaterThan(0);

      // Every claim, won or lost, is a conditional PUT by the processor under once/: the cost report's S3 PUTs.
      const claimPuts = (pipeline.iam?.meter.readResources() ?? [])
        .filter((c) => c.principal.endsWith(`/${LOCAL_FUNCTIONS.processor}`) && c.action === 's3:PutObject')
        .filter((c) => c.resource.includes(':::pipeline-results/once/'))
        .reduce((sum, c) => sum + c.calls, 0);
      expect(claimPuts).toBe(guarded.claims());
      const metered = pipeline.metered(1_000);
      expect(metered && usageOf(metered).s3.tier1Requests).toBeGreaterThanOrEqual(claimPuts);
    } finally {
      await pipeline.stop();
      await data.remove();
    }
  });
});
