import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { LAYOUT } from '@pipeline/records';
import { collateRun, idOfLine, parseDeadLetterKey } from './index';

const BUCKET = 'results-bucket';
const RUN = 'run-c';
const line = (slice: string, pos: number) => `{"id":"${RUN}/${slice}/${pos}","run":"${RUN}","result":{"pos":${pos}}}\n`;

describe('collateRun against a real S3 server', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
    // Two delivered objects that overlap (a redelivery), and dead letters, one of them later redriven.
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(RUN)}a`, [0, 1, 2, 3].map((p) => line('s0', p)).join(''));
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(RUN)}b`, [2, 3, 4, 6].map((p) => line('s0', p)).join(''));
    await stack.store.put(BUCKET, `${LAYOUT.deadLettersPrefix(RUN, 'invalid-input')}s0/5.json`, '{}');
    await stack.store.put(BUCKET, `${LAYOUT.deadLettersPrefix(RUN, 'retries-exhausted')}s0/6.json`, '{}');
  });
  afterAll(() => stack.close());

  it.each([1, 3])(
    'drops duplicates by id and counts a redriven dead letter as delivered (%i partitions)',
    async (partitions) => {
      const summary = await collateRun({
        store: stack.store,
        bucket: BUCKET,
        runId: RUN,
        read: 7,
        spilled: 0,
        complete: true,
        partitions,
      });
      expect(summary).toMatchObject({
        delivered: 6,
        duplicatesDropped: 2,
        deadLettered: 1,
        deadLetteredByReason: { 'invalid-input': 1 },
        conserved: true,
      });
      const ids: string[] = [];
      for (let p = 0; p < partitions; p++) {
        const body = Buffer.from((await stack.store.get(BUCKET, LAYOUT.collatedPartKey(RUN, p)))!).toString();
        ids.push(...body.split('\n').filter(Boolean).map(idOfLine));
      }
      expect(ids.sort()).toEqual([0, 1, 2, 3, 4, 6].map((p) => `${RUN}/s0/${p}`));
    },
  );

  it('reports a run whose counts do not balance as not conserved', async () => {
    const summary = await collateRun({
      store: stack.store,
      bucket: BUCKET,
      runId: RUN,
      read: 8,
      spilled: 0,
      complete: true,
    });
    expect(summary.conserved).toBe(false);
  });

  it('reads ids and reasons back from dead-letter keys', () => {
    expect(parseDeadLetterKey(RUN, `dead-letters/run=${RUN}/reason=malformed-row/s000001/42.json`)).toEqual({
      reason: 'malformed-row',
      id: `${RUN}/s000001/42`,
    });
    expect(parseDeadLetterKey(RUN, `dead-letters/run=${RUN}/reason=not-a-reason/s000001/42.json`)).toBeUndefined();
  });
});
