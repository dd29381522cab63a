import { LOCAL_FUNCTIONS, LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { E2E_DATA, E2E_PIPELINE, tempDataDir } from './testing';

/** What a key is, from the results bucket's layout: the kinds whose counts the README states as formulas. */
function kindOf(resource: string): string {
  const key = resource.replace(/^arn:aws:[a-z0-9]+:[^:]*:[^:]*:/, '');
  const rules: [RegExp, string][] = [
    [/\/runs\/[^/]+\/slices\/[^/]+\/read\.json$/, 'read marker'],
    [/\/runs\/[^/]+\/slices\/[^/]+\/done\.json$/, 'done marker'],
    [/\/runs\/[^/]+\/([a-z-]+)\.json$/, '$1'],
    [/^pipeline-spill\//, 'spill'],
    [/^pipeline-source\//, 'source'],
    [/^pipeline-results\/dead-letters\//, 'dead letter'],
    [/^pipeline-results\/results\//, 'delivered'],
    [/^pipeline-results\/runs\/[^/]+\/failures\//, 'failure counter'],
    [/^pipeline-[a-z]+$/, 'bucket'],
    [/^stream\//, 'stream'],
    [/^deliverystream\//, 'delivery stream'],
  ];
  for (const [pattern, kind] of rules) {
    const match = pattern.exec(key);
    if (match) return kind.replace('$1', match[1] ?? '');
  }
  return key;
}

describe('per-run call counts on the embedded stack, counted at the IAM gateways', () => {
  jest.setTimeout(180_000);

  it('match the README formulas: the bookkeeping grows with slices, never with slices × slices', async () => {
    const data = await tempDataDir();
    const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE });
    try {
      pipeline.iam?.meter.keepResources();
      const report = await runJob({ runId: 'run-counts', pipeline, data: E2E_DATA, timeoutMs: 120_000 });
      expect(report.complete).toBe(true);
      const table: Record<string, number> = {};
      for (const c of pipeline.iam?.meter.readResources() ?? []) {
        const fn = c.principal.split('/').pop();
        const key = `${fn} ${c.action} ${kindOf(c.resource)}`;
        table[key] = (table[key] ?? 0) + c.calls;
      }
      const calls = (fn: keyof typeof LOCAL_FUNCTIONS, action: string, kind: string) =>
        table[`${LOCAL_FUNCTIONS[fn]} s3:${action} ${kind}`] ?? 0;
      const lambda = pipeline.lambdaMeter.read();
      const S = report.slices;
      const F = lambda.finisher.invocations;
      // Concurrent writer invocations: one per results shard (parallelization factor 1).
      const W = E2E_PIPELINE.shardCount ?? 1;
      const M = calls('writer', 'GetObject', 'done-through');
      expect(S).toBeGreaterThan(3);

      // Reader: one manifest, one read marker per slice, one listing of the source and one of the markers.
      expect(calls('reader', 'PutObject', 'manifest')).toBe(1);
      expect(calls('reader', 'PutObject', 'read marker')).toBe(S);
      expect(calls('reader', 'ListBucket', 'bucket')).toBe(2);
      expect(lambda.reader.invocations).toBe(1);

      // Writer: no listing at all; one done marker per slice; M ≤ S completion checks, each reading on
      // from the resume point (S + M reads, W·S at worst when W writers' checks overlap).
      expect(calls('writer', 'ListBucket', 'bucket')).toBe(0);
      expect(calls('writer', 'PutObject', 'done marker')).toBe(S);
      expect(calls('writer', 'GetObject', 'read marker')).toBe(S);
      expect(M).toBeGreaterThanOrEqual(1);
      expect(M).toBeLessThanOrEqual(S);
      expect(calls('writer', 'PutObject', 'done-through')).toBeLessThanOrEqual(M);
      expect(calls('writer', 'GetObject', 'done marker')).toBeLessThanOrEqual(S + M + W * S);
      expect(calls('writer', 'PutObject', 'delivered')).toBe(1);
      // The manifest is frozen once planned: a warm writer reads it once a run, not once a batch.
      expect(calls('writer', 'GetObject', 'manifest')).toBe(1);

      // Finisher: each invocation lists the markers once and reads each marker once (O(S) per check).
      expect(F).toBeGreaterThanOrEqual(1);
      expect(calls('finisher', 'GetObject', 'read marker')).toBe(F * S);
      expect(calls('finisher', 'GetObject', 'done marker')).toBe(F * S);
      expect(calls('finisher', 'PutObject', 'complete')).toBe(1);
    } finally {
      await pipeline.stop();
      await data.remove();
    }
  });
});
