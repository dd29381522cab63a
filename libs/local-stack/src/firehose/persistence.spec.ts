import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { join, resolve } from 'node:path';
import {
  CreateDeliveryStreamCommand,
  DeleteDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  ListDeliveryStreamsCommand,
  PutRecordBatchCommand,
  PutRecordCommand,
} from '@aws-sdk/client-firehose';
import { firehoseClient, type Harness, s3Destination, startHarness } from './test-support';

const REPO_ROOT = resolve(__dirname, '../../../..');
const KILL_FIXTURE = join(__dirname, 'kill-fixture.ts');
const LONG_INTERVAL_MS = 60_000;

describe('local Firehose: persistence across processes', () => {
  let harness: Harness;
  let stateFile: string;
  let child: ChildProcess | undefined;

  beforeEach(async () => {
    harness = await startHarness({ bufferOverride: { intervalMs: LONG_INTERVAL_MS } });
    stateFile = join(harness.dir, 'state', 'firehose.json');
  });

  afterEach(async () => {
    if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    child = undefined;
    await harness.close();
  });

  const create = (name: string, prefix: string) =>
    harness.client.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: name,
        ExtendedS3DestinationConfiguration: s3Destination({ Prefix: prefix }) as never,
      }),
    );

  describe('delivery-stream definitions', () => {
    it('are seen by the next process using the same state file', async () => {
      await harness.restart({ stateFile });
      await create('results', 'kept/');

      await harness.restart({ stateFile });

      const listed = await harness.client.send(new ListDeliveryStreamsCommand({}));
      const described = await harness.client.send(new DescribeDeliveryStreamCommand({ DeliveryStreamName: 'results' }));
      expect(listed.DeliveryStreamNames).toEqual(['results']);
      expect(described.DeliveryStreamDescription?.Destinations?.[0].ExtendedS3DestinationDescription?.Prefix).toBe(
        'kept/',
      );
    });

    it('stay deleted in the next process', async () => {
      await harness.restart({ stateFile });
      await create('results', 'kept/');
      await harness.client.send(new DeleteDeliveryStreamCommand({ DeliveryStreamName: 'results' }));

      await harness.restart({ stateFile });

      const listed = await harness.client.send(new ListDeliveryStreamsCommand({}));
      expect(listed.DeliveryStreamNames).toEqual([]);
    });

    it('are not shared without a state file', async () => {
      await create('results', 'kept/');

      await harness.restart();

      const listed = await harness.client.send(new ListDeliveryStreamsCommand({}));
      expect(listed.DeliveryStreamNames).toEqual([]);
    });
  });

  describe('buffered records', () => {
    it('survive a SIGKILL between a successful put and delivery, and are delivered by the next process', async () => {
      await putThenKill(['a', 'b'], 'c');
      expect(await harness.keys('killed/')).toEqual([]);

      await harness.restart({ stateFile, bufferOverride: { intervalMs: LONG_INTERVAL_MS } });
      // The journal merges records bound for the same buffer: what matters is that their bytes are back.
      expect(harness.firehose.stats().recordsBuffered).toBeGreaterThan(0);
      await harness.firehose.flush();

      expect((await harness.bodies('killed/')).map(String)).toEqual(['abc']);
    });

    it('are delivered by the next process on their own once their interval is due', async () => {
      await putThenKill(['due'], 'now');

      await harness.restart({ stateFile, bufferOverride: { intervalMs: 0 } });

      await eventually(async () => (await harness.keys('killed/')).length === 1);
      expect((await harness.bodies('killed/')).map(String)).toEqual(['duenow']);
    });

    it('are not delivered again by the next process once delivered', async () => {
      await harness.restart({ stateFile });
      await create('results', 'once/');
      await harness.client.send(
        new PutRecordBatchCommand({ DeliveryStreamName: 'results', Records: [{ Data: Buffer.from('x') }] }),
      );
      await harness.firehose.flush();

      await harness.restart({ stateFile });
      await harness.firehose.flush();

      expect(await harness.keys('once/')).toHaveLength(1);
      expect(harness.firehose.stats().recordsBuffered).toBe(0);
    });
  });

  /** Runs a local Firehose in a child process on `stateFile`, puts records through it, and SIGKILLs it. */
  async function putThenKill(batch: string[], single: string): Promise<void> {
    child = spawn(process.execPath, ['--import', 'tsx', KILL_FIXTURE, await s3Endpoint(), stateFile], {
      cwd: REPO_ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const endpoint = await firstLine(child);
    const client = firehoseClient(endpoint);
    try {
      await client.send(
        new CreateDeliveryStreamCommand({
          DeliveryStreamName: 'results',
          ExtendedS3DestinationConfiguration: s3Destination({ Prefix: 'killed/' }) as never,
        }),
      );
      const result = await client.send(
        new PutRecordBatchCommand({
          DeliveryStreamName: 'results',
          Records: batch.map((record) => ({ Data: Buffer.from(record) })),
        }),
      );
      expect(result.FailedPutCount).toBe(0);
      await client.send(new PutRecordCommand({ DeliveryStreamName: 'results', Record: { Data: Buffer.from(single) } }));
    } finally {
      client.destroy();
    }
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  async function s3Endpoint(): Promise<string> {
    return String(
      await harness.s3.config.endpoint!().then(
        (endpoint) => `${endpoint.protocol}//${endpoint.hostname}:${endpoint.port}`,
      ),
    );
  }
});

function firstLine(child: ChildProcess): Promise<string> {
  return new Promise((resolvePromise, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const newline = out.indexOf('\n');
      if (newline >= 0) resolvePromise(out.slice(0, newline).trim());
    });
    child.stderr!.on('data', (chunk: Buffer) => {
      err += chunk.toString();
    });
    child.once('exit', (code) => reject(new Error(`kill fixture exited with ${code}: ${err}`)));
  });
}

async function eventually(condition: () => Promise<boolean>, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolvePromise) => setTimeout(resolvePromise, 20));
  }
}
