import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileCheckpointStore, memoryCheckpointStore } from './checkpoints';
import { DrainTimeoutError, EventSourceMappingStoppedError } from './errors';
import { delay, recorder, records, useHarness } from './testing/harness';
import { gate, waitFor } from './testing/kinesis';

const h = useHarness();

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'esm-checkpoints-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('createEventSourceMapping: checkpoints', () => {
  it('resumes after the last checkpoint: a new mapping on the same store does not redeliver completed records', async () => {
    const { name } = await h.stream(2);
    const checkpoints = memoryCheckpointStore();
    await h.kinesis.put(name, records(6));
    const first = recorder();
    const before = h.mapping({ streamName: name, handler: first.handler, checkpoints });
    before.start();
    await before.drain();
    await before.stop();

    await h.kinesis.put(name, records(3, undefined, 6));
    const second = recorder();
    const after = h.mapping({ streamName: name, handler: second.handler, checkpoints });
    after.start();
    await after.drain();

    expect(first.deliveries.flat().sort()).toEqual(
      records(6)
        .map((r) => r.data)
        .sort(),
    );
    expect(second.deliveries.flat().sort()).toEqual(['record-6', 'record-7', 'record-8']);
  });

  it('keeps checkpoints in a file that a new process resumes from', async () => {
    const { name } = await h.stream(1);
    const path = join(dir, 'processor.json');
    const puts = await h.kinesis.put(name, records(3));
    const before = h.mapping({ streamName: name, handler: recorder().handler, checkpoints: fileCheckpointStore(path) });
    before.start();
    await before.drain();
    await before.stop();

    await h.kinesis.put(name, records(1, undefined, 3));
    const second = recorder();
    const after = h.mapping({ streamName: name, handler: second.handler, checkpoints: fileCheckpointStore(path) });
    after.start();
    await after.drain();

    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ [puts[0].shardId]: expect.any(String) });
    expect(second.deliveries.flat()).toEqual(['record-3']);
  });

  it('redelivers the batch that was in flight when the process died (at-least-once)', async () => {
    const { name } = await h.stream(1);
    const path = join(dir, 'processor.json');
    await h.kinesis.put(name, records(4));
    const stuck = gate();
    const first = recorder((_data, call) => (call === 2 ? stuck.promise : undefined));
    const dying = h.mapping({
      streamName: name,
      handler: first.handler,
      batchSize: 2,
      checkpoints: fileCheckpointStore(path),
    });
    dying.start();
    await waitFor(
      () => first.deliveries.length === 2 && dying.stats().checkpoints === 1,
      'the first batch to be checkpointed',
    );

    // A new process reads the checkpoint file while the old one is still stuck in batch 2.
    const second = recorder();
    const restarted = h.mapping({
      streamName: name,
      handler: second.handler,
      batchSize: 2,
      checkpoints: fileCheckpointStore(path),
    });
    restarted.start();
    await restarted.drain();
    stuck.open();

    expect(first.deliveries).toEqual([
      ['record-0', 'record-1'],
      ['record-2', 'record-3'],
    ]);
    expect(second.deliveries).toEqual([['record-2', 'record-3']]);
  });
});

describe('createEventSourceMapping: stop', () => {
  it('lets the in-flight invocation finish and checkpoints it, then invokes nothing more', async () => {
    const { name } = await h.stream(1);
    const puts = await h.kinesis.put(name, records(4));
    const checkpoints = memoryCheckpointStore();
    const release = gate();
    const rec = recorder((_data, call) => (call === 1 ? release.promise : undefined));
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 2, checkpoints });
    mapping.start();
    await waitFor(() => mapping.stats().inFlight === 1, 'the first invocation');

    let stopped = false;
    const stopping = mapping.stop().then(() => (stopped = true));
    await delay(50);
    const stoppedBeforeRelease = stopped;
    release.open();
    await stopping;

    expect(stoppedBeforeRelease).toBe(false);
    expect(rec.deliveries).toEqual([['record-0', 'record-1']]);
    expect(await checkpoints.load()).toEqual({ [puts[0].shardId]: puts[1].sequenceNumber });
  });

  it('drops a batch waiting for its retry without checkpointing it, so the next mapping delivers it again', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(2));
    const checkpoints = memoryCheckpointStore();
    const failing = recorder(() => {
      throw new Error('down');
    });
    // A retry wait that never ends on its own: stop() must cut it short.
    const mapping = h.mapping({
      streamName: name,
      handler: failing.handler,
      checkpoints,
      sleep: () => new Promise(() => undefined),
    });
    mapping.start();
    await waitFor(() => failing.deliveries.length === 1, 'the failed invocation');
    await mapping.stop();
    const afterStop = await checkpoints.load();

    const next = recorder();
    const restarted = h.mapping({ streamName: name, handler: next.handler, checkpoints });
    restarted.start();
    await restarted.drain();

    expect(afterStop).toEqual({});
    expect(failing.deliveries).toHaveLength(1);
    expect(next.deliveries).toEqual([['record-0', 'record-1']]);
  });

  it('stops promptly, cutting its waits short, and leaves no timer running', async () => {
    const { name } = await h.stream(2);
    await h.kinesis.put(name, records(4));
    const timers = () => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
    const before = timers();
    const rec = recorder((_data, call) => {
      if (call === 1) throw new Error('retry me');
    });
    // Real backoff timers this time, long polls, and a batching window still open at stop.
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      sleep: undefined,
      pollIntervalMs: 5_000,
      maximumBatchingWindowInSeconds: 300,
      batchSize: 2,
    });
    mapping.start();
    await waitFor(() => rec.deliveries.length >= 1, 'an invocation');
    const stopping = Date.now();
    await mapping.stop();

    expect(Date.now() - stopping).toBeLessThan(1_000);
    expect(timers()).toBeLessThanOrEqual(before);
  });

  it('resolves at once for a mapping that never started', async () => {
    const { name } = await h.stream(1);
    const mapping = h.mapping({ streamName: name, handler: recorder().handler });

    await expect(mapping.stop()).resolves.toBeUndefined();
  });
});

describe('createEventSourceMapping: drain', () => {
  it('resolves only after every shard is read to its tip and every retry has run', async () => {
    const { name } = await h.stream(3);
    await h.kinesis.put(name, records(60));
    const rec = recorder(async (_data, call) => {
      await delay(2);
      if (call <= 2) throw new Error('transient');
    });
    const mapping = h.mapping({ streamName: name, handler: rec.handler, batchSize: 5, sleep: () => delay(30) });

    mapping.start();
    await mapping.drain();

    expect(new Set(rec.deliveries.flat()).size).toBe(60);
    expect(mapping.stats()).toMatchObject({ recordsSucceeded: 60, inFlight: 0, retries: 2 });
  });

  it('sees records put just before it was called', async () => {
    const { name } = await h.stream(2);
    const rec = recorder();
    const mapping = h.mapping({ streamName: name, handler: rec.handler });
    mapping.start();
    await mapping.drain();

    await h.kinesis.put(name, records(5));
    await mapping.drain();

    expect(rec.deliveries.flat().sort()).toEqual(
      records(5)
        .map((r) => r.data)
        .sort(),
    );
  });

  it('rejects with DrainTimeoutError while a batch keeps failing', async () => {
    const { name } = await h.stream(1);
    await h.kinesis.put(name, records(1));
    const rec = recorder(() => {
      throw new Error('always');
    });
    const mapping = h.mapping({
      streamName: name,
      handler: rec.handler,
      maximumRetryAttempts: -1,
      sleep: () => delay(5),
    });
    mapping.start();

    await expect(mapping.drain({ timeoutMs: 200 })).rejects.toThrow(DrainTimeoutError);
    await expect(mapping.drain({ timeoutMs: 50 })).rejects.toThrow(
      /shardId-000000000000: 1 records buffered or in flight/,
    );
  });

  it('rejects when the mapping is stopped', async () => {
    const { name } = await h.stream(1);
    const mapping = h.mapping({ streamName: name, handler: recorder().handler });
    mapping.start();
    await mapping.stop();

    await expect(mapping.drain()).rejects.toThrow(EventSourceMappingStoppedError);
  });
});
