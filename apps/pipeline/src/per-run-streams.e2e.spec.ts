import { DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { CreateEventSourceMappingCommand, ListEventSourceMappingsCommand } from '@aws-sdk/client-lambda';
import { lambdaClient } from '@pipeline/aws';
import { functionCredentials, LOCAL_ACCOUNT_ID } from '@pipeline/local-stack';
import { LOCAL_FUNCTIONS, LOCAL_RESOURCES, LocalPipeline, runJob } from '@pipeline/local-runner';
import { collatedLines, deadLetterIds, E2E_PIPELINE, expectedIds, tempDataDir } from '@pipeline/local-runner/testing';
import { embeddedEnvironment } from './environment';
import { replay } from './operations';

const DATA = { records: 300, recordBytes: 200, largeEvery: 97, largeNotesBytes: 20 * 1024, malformedEvery: 71 };
const HOUR = 3_600_000;
const WINDOW_HOURS = 2;

/**
 * Per-run streams on the embedded stack: the reader creates both streams and both mappings
 * through the Kinesis and Lambda APIs (checked by IAM against the roles the CDK app synthesizes for
 * `streams.lifecycle: per-run`), and the sweep deletes them once the replay window has passed.
 */
describe('per-run streams on the embedded stack', () => {
  let pipeline: LocalPipeline;
  let data: { dir: string; remove(): Promise<void> };

  beforeAll(async () => {
    data = await tempDataDir();
    pipeline = await LocalPipeline.start({
      dataDir: data.dir,
      ...E2E_PIPELINE,
      streams: 'per-run',
      replayWindowHours: WINDOW_HOURS,
    });
  });
  afterAll(async () => {
    await pipeline.stop();
    await data.remove();
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
  const mappings = async () => {
    const client = lambdaClient();
    try {
      return (await client.send(new ListEventSourceMappingsCommand({}))).EventSourceMappings ?? [];
    } finally {
      client.destroy();
    }
  };
  const runExactly = async (runId: string) => {
    const report = await runJob({ runId, pipeline, data: DATA, timeoutMs: 120_000 });
    const expected = await expectedIds(pipeline.ledger, runId, DATA);
    const ids = (await collatedLines(pipeline.store, runId)).map((l) => l.id);
    expect(report).toMatchObject({ complete: true, conserved: true, read: DATA.records });
    expect(new Set(ids).size).toBe(ids.length);
    expect(new Set(ids)).toEqual(expected.results);
    expect(new Set(await deadLetterIds(pipeline.store, runId))).toEqual(expected.deadLetters);
    return report;
  };

  it('starts without streams or mappings: the first run creates them', async () => {
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(false);
    expect(await streamExists(LOCAL_RESOURCES.resultsStream)).toBe(false);
    expect(await mappings()).toEqual([]);
  });

  it('run 1 opens both streams, encrypted, and both mappings, and completes with every record accounted for', async () => {
    await runExactly('per-run-1');
    for (const name of [LOCAL_RESOURCES.recordsStream, LOCAL_RESOURCES.resultsStream]) {
      const { StreamDescriptionSummary } = await pipeline.kinesis.send(
        new DescribeStreamSummaryCommand({ StreamName: name }),
      );
      expect(StreamDescriptionSummary).toMatchObject({ StreamStatus: 'ACTIVE', EncryptionType: 'KMS' });
    }
    expect((await mappings()).map((m) => m.FunctionArn?.split(':').pop()).sort()).toEqual([
      'pipeline-processor',
      'pipeline-writer',
    ]);
    expect(pipeline.deniedCalls()).toEqual([]);
  });

  it('a sweep within the replay window keeps them', async () => {
    const outcome = await pipeline.sweep(new Date(Date.now() + (WINDOW_HOURS * HOUR) / 2));
    expect(outcome).toMatchObject({ retired: false, reason: expect.stringContaining('replay window') });
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(true);
    expect(await mappings()).toHaveLength(2);
  });

  it('a sweep after the replay window deletes the mappings, then the streams', async () => {
    const outcome = await pipeline.sweep(new Date(Date.now() + WINDOW_HOURS * HOUR + 60_000));
    expect(outcome).toMatchObject({ retired: true, mappings: 2 });
    // Lambda keeps a deleted mapping Deleting for a while; none is left to poll.
    expect((await mappings()).filter((m) => m.State !== 'Deleting')).toEqual([]);
    expect(await streamExists(LOCAL_RESOURCES.recordsStream)).toBe(false);
    expect(await streamExists(LOCAL_RESOURCES.resultsStream)).toBe(false);
    expect(pipeline.deniedCalls()).toEqual([]);
  });

  it('replay of run 1 after retirement fails, saying when the stream was retired, where the results are and what to raise', async () => {
    await expect(replay(embeddedEnvironment(pipeline), 'per-run-1', 'trim-horizon')).rejects.toThrow(
      new RegExp(
        `cannot replay per-run-1: the records stream ${LOCAL_RESOURCES.recordsStream} was retired at .*results are in S3.*replay window of ${WINDOW_HOURS} h.*replayWindowHours`,
      ),
    );
  });

  it('run 2 creates them again, through calls IAM checked against the reader role, and completes exactly', async () => {
    await runExactly('per-run-2');
    expect(await streamExists(LOCAL_RESOURCES.resultsStream)).toBe(true);
    expect(await mappings()).toHaveLength(2);
    expect(pipeline.deniedCalls()).toEqual([]);
    const calls = Object.entries(pipeline.iam?.meter.read().calls ?? {}).find(([principal]) =>
      principal.includes(LOCAL_FUNCTIONS.reader),
    )?.[1];
    expect(calls).toMatchObject({
      'kinesis:CreateStream': 2,
      'kinesis:StartStreamEncryption': 2,
      'lambda:CreateEventSourceMapping': 2,
      'lambda:ListEventSourceMappings': 2,
    });
  });

  it('refuses the mapping API to a function whose role does not grant it, as AWS would', async () => {
    const client = lambdaClient({ credentials: functionCredentials(LOCAL_FUNCTIONS.processor) });
    try {
      await expect(
        client.send(
          new CreateEventSourceMappingCommand({
            FunctionName: LOCAL_FUNCTIONS.writer,
            EventSourceArn: `arn:aws:kinesis:us-east-1:${LOCAL_ACCOUNT_ID}:stream/${LOCAL_RESOURCES.recordsStream}`,
            StartingPosition: 'TRIM_HORIZON',
          }),
        ),
      ).rejects.toMatchObject({ name: 'AccessDeniedException' });
    } finally {
      client.destroy();
    }
    expect(pipeline.deniedCalls()).toEqual([
      expect.objectContaining({ action: 'lambda:CreateEventSourceMapping', accessKeyId: LOCAL_FUNCTIONS.processor }),
    ]);
  });

  it("replay of run 1 still fails once run 2 has created the streams again: run 1's records are gone", async () => {
    await expect(replay(embeddedEnvironment(pipeline), 'per-run-1', 'trim-horizon')).rejects.toThrow(
      /created again since/,
    );
  });
});
