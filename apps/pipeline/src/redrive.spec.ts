import { readFile } from 'node:fs/promises';
import { KinesisClient, type PutRecordsCommand } from '@aws-sdk/client-kinesis';
import { countingMemoryStore, putJson } from '@pipeline/object-store';
import { LAYOUT, ON_FAILURE_PREFIX } from '@pipeline/records';
import { RunLedger } from '@pipeline/run-ledger';
import {
  ledgerRunActivity,
  type RunStreamsPlan,
  recordsInFlightMs,
  retireStreams,
  type StreamsPort,
} from '@pipeline/run-streams';
import { deployedResources, type Environment } from './environment';
import { redrive } from './operations';

/** A deployed environment with per-run streams over an in-memory store: what `redrive` is given. */
function deployedEnvironment(
  store: ReturnType<typeof countingMemoryStore>,
  extra: { kinesis: KinesisClient; streamsPort?: () => StreamsPort },
  runStreams?: RunStreamsPlan,
) {
  const resources = {
    ...deployedResources('dev', undefined, '123456789012', 'eu-west-1'),
    streamsLifecycle: 'per-run' as const,
    ...(runStreams ? { runStreams } : {}),
  };
  const ledger = new RunLedger(store, resources.resultsBucket);
  return { name: 'dev', kind: 'deployed', resources, store, ledger, ...extra } as unknown as Environment;
}

describe('redrive in an environment whose streams are per run', () => {
  it('refuses, before it puts anything, when the outputs lack the plan to open the streams with', async () => {
    const store = countingMemoryStore();
    const env = deployedEnvironment(store, { kinesis: new KinesisClient({}) });
    await env.ledger.createManifest({ runId: 'r1', createdAt: '2026-11-25T02:00:00Z', slices: [] } as never);
    await expect(redrive(env, 'r1')).rejects.toThrow(/opens its streams per run.*no RunStreams plan.*--outputs/);
    expect(store.objects.size).toBe(1); // the manifest alone: no lease taken
  });
});

describe('an on-failure-only redrive with per-run streams and a replay window of 0', () => {
  const noSleep = { sleep: async () => {} };

  /** A deployed environment in memory: S3 a map, Kinesis and Lambda answering as AWS does. */
  function perRunEnvironment() {
    const memory = countingMemoryStore();
    // Collation uploads its output from a file.
    const store = {
      ...memory,
      putFile: async (b: string, k: string, path: string) => memory.put(b, k, await readFile(path)),
    };
    const base = deployedResources('dev', undefined, '123456789012', 'eu-west-1');
    const hop = { batchSize: 100, batchingWindowSeconds: 1, parallelizationFactor: 1, bisectBatchOnError: true };
    const mapping = (functionName: string, streamName: string) => ({
      ...hop,
      functionName,
      streamName,
      retryAttempts: 5,
      maxRecordAgeSeconds: 3_600,
      startingPosition: 'TRIM_HORIZON' as const,
    });
    const plan: RunStreamsPlan = {
      streams: [base.recordsStream, base.resultsStream].map((name) => ({ name, shardCount: 1, retentionHours: 24 })),
      mappings: [mapping('processor', base.recordsStream), mapping('writer', base.resultsStream)],
      replayWindowHours: 0,
    };
    const deleted: string[] = [];
    const port: StreamsPort = {
      describeStream: async (name) =>
        deleted.includes(name)
          ? undefined
          : {
              arn: `arn:aws:kinesis:eu-west-1:123456789012:stream/${name}`,
              status: 'ACTIVE',
              encrypted: true,
              retentionHours: 24,
            },
      createStream: async () => 'exists',
      increaseRetention: async () => 'started',
      startEncryption: async () => 'started',
      deleteStream: async (name) => {
        deleted.push(name);
        return 'deleting';
      },
      listMappings: async () => [{ uuid: 'uuid-1', state: 'Enabled' }],
      createMapping: async () => 'exists',
      deleteMapping: async () => 'deleting',
    };
    const put: string[] = [];
    const kinesis = {
      async send(command: PutRecordsCommand) {
        const records = command.input.Records ?? [];
        put.push(...records.map((r) => r.PartitionKey ?? ''));
        return {
          FailedRecordCount: 0,
          Records: records.map((_, i) => ({ SequenceNumber: `${i + 1}`, ShardId: 'shardId-000000000000' })),
        };
      },
    } as unknown as KinesisClient;
    const env = deployedEnvironment(store, { kinesis, streamsPort: () => port }, plan);
    return { env, store, plan, port, deleted, put };
  }

  it('keeps the streams until the records it put back are through them', async () => {
    const { env, store, plan, port, deleted, put } = perRunEnvironment();
    const { resultsBucket, failuresBucket, recordsStream } = env.resources;
    await env.ledger.createManifest({ runId: 'r1', createdAt: '2026-11-25T02:00:00Z', slices: [] } as never);
    // The run failed (stalled): a batch its processor's mapping gave up on is all it left.
    await putJson(store, resultsBucket, LAYOUT.failedKey('r1'), { failedAt: '2026-11-25T04:00:00.000Z' });
    const record = { partitionKey: 'r1/s000000', data: Buffer.from('{"v":1}').toString('base64') };
    await putJson(store, failuresBucket, `${ON_FAILURE_PREFIX}uuid-1/shardId-000000000000/2026/11/25/x`, {
      KinesisBatchInfo: { streamArn: `arn:aws:kinesis:eu-west-1:123456789012:stream/${recordsStream}`, shardId: 'x' },
      payload: JSON.stringify({ Records: [{ kinesis: record }] }),
    });

    const report = await redrive(env, 'r1', undefined, { timeoutMs: 1_000 });
    expect(report).toMatchObject({ redriven: 0, onFailureBatches: 1, onFailureRecords: 1 });
    expect(put).toEqual(['r1/s000000']);

    // Nothing says when the put-back record is through: the redrive's lease holds the streams until
    // it must be, however small the replay window.
    const sweep = (at: number) =>
      retireStreams(plan, port, ledgerRunActivity(store, resultsBucket), new Date(at), noSleep);
    expect(await sweep(Date.now() + 60_000)).toMatchObject({
      retired: false,
      reason: expect.stringContaining('records it put may still be in flight'),
    });
    expect(deleted).toEqual([]);
    expect(await sweep(Date.now() + recordsInFlightMs(plan))).toMatchObject({ retired: true });
    expect(deleted).toEqual([env.resources.recordsStream, env.resources.resultsStream]);
  });
});
