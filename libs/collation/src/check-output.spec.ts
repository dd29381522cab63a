import { gzipSync } from 'node:zlib';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { LAYOUT } from '@pipeline/records';
import { checkOutput } from './index';

const BUCKET = 'results-bucket';
const line = (run: string, slice: string, pos: number) =>
  `{"id":"${run}/${slice}/${pos}","run":"${run}","result":${pos}}\n`;
const lines = (run: string, slice: string, positions: number[]) => positions.map((p) => line(run, slice, p)).join('');

describe('checkOutput: whether the output of a run is readable in S3, position by position', () => {
  let stack: TestStack;

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
  });
  afterAll(() => stack.close());

  it('finds every position delivered (plain and gzip objects, duplicates once) or dead-lettered', async () => {
    const run = 'run-all';
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(run)}a`, lines(run, 's0', [0, 1, 2]));
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(run)}b.gz`, gzipSync(lines(run, 's0', [2, 3])));
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(run)}c`, lines(run, 's1', [0]));
    await stack.store.put(BUCKET, `${LAYOUT.deadLettersPrefix(run, 'invalid-input')}s1/1.json`, '{}');

    const check = await checkOutput({
      store: stack.store,
      bucket: BUCKET,
      runId: run,
      expected: [
        { slice: 's0', read: 4 },
        { slice: 's1', read: 2 },
      ],
    });

    expect(check).toMatchObject({ conserved: true, read: 6, delivered: 5, deadLettered: 1, unexpected: 0, objects: 3 });
    expect(check.slices.map((s) => s.missing)).toEqual([[], []]);
  });

  it('names the missing positions of each slice, and ids outside the plan, and is not conserved', async () => {
    const run = 'run-missing';
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix(run)}a`, lines(run, 's0', [0, 2, 9]) + lines(run, 'sX', [0]));

    const check = await checkOutput({
      store: stack.store,
      bucket: BUCKET,
      runId: run,
      expected: [{ slice: 's0', read: 4 }],
    });

    expect(check).toMatchObject({ conserved: false, read: 4, delivered: 2, unexpected: 2 });
    expect(check.slices).toEqual([{ slice: 's0', read: 4, found: 2, missing: [1, 3] }]);
  });

  it('does not count what Firehose put under its error output prefix', async () => {
    const run = 'run-errors';
    await stack.store.put(BUCKET, `${LAYOUT.deliveryErrorsPrefix}metadata-extraction-failed/x`, lines(run, 's0', [0]));

    const check = await checkOutput({
      store: stack.store,
      bucket: BUCKET,
      runId: run,
      expected: [{ slice: 's0', read: 1 }],
    });

    expect(check).toMatchObject({ conserved: false, delivered: 0 });
    expect(check.slices[0].missing).toEqual([0]);
  });
});
