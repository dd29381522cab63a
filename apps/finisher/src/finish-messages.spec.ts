import type { SQSEvent } from 'aws-lambda';
import { gzipSync } from 'node:zlib';
import { checkOutput } from '@pipeline/collation';
import { startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { getJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { markRunDelivered, RunLedger } from '@pipeline/run-ledger';
import { finishMessages, type FinisherDeps, runOfMessage } from './finish-messages';

const BUCKET = 'results-bucket';
const HANDED_AT = new Date('2026-11-25T10:00:00.000Z');

/** The EventBridge event S3 sends when an object is created, as an SQS message body. */
const objectCreated = (key: string, bucket = BUCKET) =>
  JSON.stringify({
    version: '0',
    source: 'aws.s3',
    'detail-type': 'Object Created',
    detail: { bucket: { name: bucket }, object: { key, size: 40 } },
  });
const sqsEvent = (...bodies: string[]): SQSEvent =>
  ({ Records: bodies.map((body, i) => ({ messageId: `m${i}`, body })) }) as unknown as SQSEvent;
const line = (run: string, pos: number) => `{"id":"${run}/s0/${pos}","run":"${run}","result":${pos}}\n`;

describe('the finisher', () => {
  let stack: TestStack;
  let deps: FinisherDeps;

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [BUCKET] });
    const ledger = new RunLedger(stack.store, BUCKET);
    deps = {
      store: stack.store,
      bucket: BUCKET,
      ledger,
      checkOutput: (runId, expected) => checkOutput({ store: stack.store, bucket: BUCKET, runId, expected }),
      bufferIntervalSeconds: 300,
      now: () => new Date(HANDED_AT.getTime() + 1_000),
    };
  });
  afterAll(() => stack.close());

  const deliveredRun = async (run: string, read: number, toleratedFailures?: { count: number }) => {
    await deps.ledger.createManifest({
      runId: run,
      job: 'job',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices: [{ id: 's0' }],
      ...(toleratedFailures ? { toleratedFailures } : {}),
    });
    await deps.ledger.markSliceRead({ run, slice: 's0', count: read, malformed: 0, spilled: 0, at: 'now' });
    await deps.ledger.markSliceDone({ run, slice: 's0', count: read, at: 'now' });
    await markRunDelivered(stack.store, BUCKET, run, HANDED_AT);
  };

  describe('reads the run from its message', () => {
    it('from the Object Created event of runs/<run>/delivered.json', () => {
      expect(runOfMessage(objectCreated(LAYOUT.deliveredKey('run-1')), BUCKET)).toBe('run-1');
    });

    it('from an operator message naming the run', () => {
      expect(runOfMessage('{"runId":"run-2"}', BUCKET)).toBe('run-2');
    });

    it('refuses another key or another bucket, saying what to check', () => {
      expect(() => runOfMessage(objectCreated(LAYOUT.completeKey('run-1')), BUCKET)).toThrow(/EventBridge rule/);
      expect(() => runOfMessage(objectCreated(LAYOUT.deliveredKey('run-1'), 'other'), BUCKET)).toThrow(
        /EventBridge rule/,
      );
      expect(() => runOfMessage('nope', BUCKET)).toThrow(/not JSON/);
    });
  });

  it('fails the message of a run whose output is not all in S3, so SQS asks again later', async () => {
    await deliveredRun('run-partial', 3);
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix('run-partial')}a`, line('run-partial', 0));

    const response = await finishMessages(sqsEvent(objectCreated(LAYOUT.deliveredKey('run-partial'))), deps);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(response.outcomes).toMatchObject([{ state: 'delivering' }]);
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-partial'))).toBeUndefined();
  });

  it('completes a run once its results (gzip as Firehose writes them) and dead letters are all in S3', async () => {
    await deliveredRun('run-whole', 3);
    await stack.store.put(
      BUCKET,
      `${LAYOUT.resultsPrefix('run-whole')}a.gz`,
      gzipSync(line('run-whole', 0) + line('run-whole', 1)),
    );
    await stack.store.put(BUCKET, `${LAYOUT.deadLettersPrefix('run-whole', 'invalid-input')}s0/2.json`, '{}');

    const response = await finishMessages(sqsEvent(objectCreated(LAYOUT.deliveredKey('run-whole'))), deps);

    expect(response.batchItemFailures).toEqual([]);
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-whole'))).toMatchObject({
      detailType: 'Run Completed',
      detail: { runId: 'run-whole', read: 3, delivered: 2, deadLettered: 1, conserved: true },
    });
  });

  it('fails a message it cannot read, and still handles the others in the batch', async () => {
    await deliveredRun('run-next', 1);
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix('run-next')}a`, line('run-next', 0));

    const response = await finishMessages(sqsEvent('nope', '{"runId":"run-next"}'), deps);

    expect(response.batchItemFailures).toEqual([{ itemIdentifier: 'm0' }]);
    expect(response.outcomes).toMatchObject([{ runId: 'run-next', state: 'complete' }]);
  });

  it('takes a run over its tolerated failures as ended (failed): the message is done, and what follows the end is run', async () => {
    await deliveredRun('run-over', 2, { count: 0 });
    await stack.store.put(BUCKET, `${LAYOUT.resultsPrefix('run-over')}a`, line('run-over', 0));
    await stack.store.put(BUCKET, `${LAYOUT.deadLettersPrefix('run-over', 'invalid-input')}s0/1.json`, '{}');
    const ended: string[] = [];
    const afterEnd = async (outcome: { runId: string; state: string }) => {
      ended.push(`${outcome.runId}:${outcome.state}`);
    };

    const response = await finishMessages(sqsEvent(objectCreated(LAYOUT.deliveredKey('run-over'))), {
      ...deps,
      afterEnd,
    });

    expect(response.batchItemFailures).toEqual([]);
    expect(response.outcomes).toMatchObject([{ state: 'failed', failed: { reason: 'over-failure-threshold' } }]);
    expect(ended).toEqual(['run-over:failed']);
    expect(await getJson(stack.store, BUCKET, LAYOUT.completeKey('run-over'))).toBeUndefined();
  });

  it('runs nothing after a run that is still delivering', async () => {
    await deliveredRun('run-early', 2);
    const ended: string[] = [];
    await finishMessages(sqsEvent('{"runId":"run-early"}'), {
      ...deps,
      afterEnd: async (outcome) => {
        ended.push(outcome.state);
      },
    });
    expect(ended).toEqual([]);
  });
});
