import { DEFAULTS, LAMBDA } from '@pipeline/limits';
import { LOCAL_RESOURCES, LocalPipeline, type LocalPipelineOptions } from './local-pipeline';
import { runJob } from './run-job';
import { collatedLines, deadLetterIds, E2E_DATA as DATA, E2E_PIPELINE, expectedIds, tempDataDir } from './testing';

/**
 * A reader Lambda that has time for exactly one slice per invocation: every look at the clock moves
 * it on by a second, and the timeout leaves the margin plus a second and a half, so the first look
 * of an invocation finds enough time and the second does not. Small slices make the run need more
 * invocations than Lambda's recursive loop limit.
 */
function oneSlicePerInvocation(): LocalPipelineOptions['reader'] {
  let now = 0;
  const stepMs = 1_000;
  return { clock: () => (now += stepMs), timeoutMs: DEFAULTS.readerSliceTimeMarginMs + 1.5 * stepMs };
}

const SMALL_SLICES: LocalPipelineOptions = {
  ...E2E_PIPELINE,
  env: { ...E2E_PIPELINE.env, SLICE_BYTES: String(12 * 1024) },
};

async function start(options: Partial<LocalPipelineOptions>) {
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...SMALL_SLICES, ...options });
  return {
    pipeline,
    async close() {
      await pipeline.stop();
      await data.remove();
    },
  };
}

describe('the local reader Lambda: a run handed on from invocation to invocation', () => {
  it(`with RecursiveLoop Terminate stops after ${LAMBDA.maxRecursiveChainInvocations} invocations and says so`, async () => {
    const h = await start({ reader: { ...oneSlicePerInvocation(), recursiveLoop: 'Terminate' } });
    try {
      // runJob gives up waiting once the reader's chain is stopped, well before its own deadline.
      const report = await runJob({ runId: 'run-terminated', pipeline: h.pipeline, data: DATA, timeoutMs: 120_000 });

      const status = await h.pipeline.ledger.status('run-terminated');
      expect(report.complete).toBe(false);
      expect(status.slices.length).toBeGreaterThan(LAMBDA.maxRecursiveChainInvocations);
      expect(status.slicesRead).toBe(LAMBDA.maxRecursiveChainInvocations);
      expect(h.pipeline.lambda?.stats()).toMatchObject({
        invocations: LAMBDA.maxRecursiveChainInvocations,
        recursionStops: [
          expect.objectContaining({
            functionName: LOCAL_RESOURCES.readerFunction,
            payload: { runId: 'run-terminated', hop: LAMBDA.maxRecursiveChainInvocations },
            message: expect.stringContaining('recursive loop detected'),
          }),
        ],
      });
    } finally {
      await h.close();
    }
  });

  it('with RecursiveLoop Allow (the deployed setting) finishes the run across hops, every record accounted for', async () => {
    const h = await start({ reader: oneSlicePerInvocation() });
    try {
      const report = await runJob({ runId: 'run-allowed', pipeline: h.pipeline, data: DATA, timeoutMs: 120_000 });

      const expected = await expectedIds(h.pipeline.ledger, report.runId, DATA);
      const ids = (await collatedLines(h.pipeline.store, report.runId)).map((l) => l.id);
      const letters = await deadLetterIds(h.pipeline.store, report.runId);
      const stats = h.pipeline.lambda?.stats();
      expect(report).toMatchObject({ complete: true, conserved: true, read: DATA.records });
      expect(stats?.recursionStops).toEqual([]);
      expect(stats?.invocations).toBeGreaterThan(LAMBDA.maxRecursiveChainInvocations);
      expect(stats?.invocations).toBeLessThanOrEqual(DEFAULTS.readerMaxHops + 1);
      expect(new Set(ids).size).toBe(ids.length);
      expect(new Set(ids)).toEqual(expected.results);
      expect(new Set(letters)).toEqual(expected.deadLetters);
    } finally {
      await h.close();
    }
  });
});
