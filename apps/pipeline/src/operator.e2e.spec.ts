import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { s3Client } from '@pipeline/aws';
import { type DataDirClaim, LOCAL_RESOURCES } from '@pipeline/local-runner';
import { tempDataDir } from '@pipeline/local-runner/testing';
import { LOCAL_S3_CREDENTIALS } from '@pipeline/local-stack';
import { s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT, ON_FAILURE_PREFIX } from '@pipeline/records';
import { parkedPrefix } from '@pipeline/run-ledger';
import { FIXTURE_RUNS } from './testing/serve-fixture';

const RECORDS = 600;
const PREFIX = 'example/';
const CLI = join(__dirname, 'cli.ts');
const FIXTURE = join(__dirname, 'testing', 'serve-fixture.ts');
const run = promisify(execFile);

/**
 * The embedded stack treated as a deployed environment: the pipeline runs in one process as Lambda
 * would (handlers, mappings, reader, finisher: `serve`), and the operator tool runs in others,
 * knowing only the environment's endpoints (AWS_ENDPOINT_URL_*) and its stack outputs (--outputs).
 */
describe('the operator tool against a running pipeline, from another process', () => {
  jest.setTimeout(600_000);
  let data: { dir: string; remove(): Promise<void> };
  let server: ChildProcess;
  let serverLog = '';
  let outputs: string;
  let endpoints: NonNullable<DataDirClaim['endpoints']>;
  let store: ObjectStore;

  /** One verb in a process of its own, as an operator would type it against a deployed environment. */
  async function pipeline(...args: string[]): Promise<{ code: number; json: Record<string, unknown>; stderr: string }> {
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AWS_ENDPOINT_URL_KINESIS: endpoints.kinesis,
      AWS_ENDPOINT_URL_S3: endpoints.s3,
      AWS_ENDPOINT_URL_LAMBDA: endpoints.lambda,
      AWS_ACCESS_KEY_ID: LOCAL_S3_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: LOCAL_S3_CREDENTIALS.secretAccessKey,
      AWS_REGION: 'us-east-1',
      AWS_REQUEST_CHECKSUM_CALCULATION: 'WHEN_REQUIRED',
    };
    delete env.PIPELINE_DATA_DIR;
    try {
      const { stdout, stderr } = await run(
        process.execPath,
        ['--import', 'tsx', CLI, ...args, '--env', 'local', '--outputs', outputs, '--json'],
        { env, maxBuffer: 64 * 1024 * 1024 },
      );
      return { code: 0, json: JSON.parse(stdout), stderr };
    } catch (error) {
      const failed = error as { code: number; stdout: string; stderr: string };
      return { code: failed.code, json: failed.stdout ? JSON.parse(failed.stdout) : {}, stderr: failed.stderr };
    }
  }

  /** Waits for a condition of the environment (the test looks; the verbs act), bounded. */
  async function until(check: () => Promise<boolean>, what: string, timeoutMs = 180_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!(await check())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; the pipeline said:\n${serverLog}`);
      if (server.exitCode !== null) throw new Error(`the served pipeline exited (${server.exitCode}):\n${serverLog}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  const exists = async (bucket: string, key: string) => (await store.get(bucket, key)) !== undefined;
  async function count(bucket: string, prefix: string): Promise<number> {
    let n = 0;
    for await (const _object of store.list(bucket, prefix)) n += 1;
    return n;
  }

  beforeAll(async () => {
    data = await tempDataDir();
    outputs = join(data.dir, 'outputs.json');
    server = spawn(process.execPath, ['--import', 'tsx', FIXTURE, data.dir, outputs, PREFIX, String(RECORDS)], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    server.stderr?.setEncoding('utf8').on('data', (text: string) => {
      serverLog += text;
    });
    // The outputs file is written once the consumers run: the environment is up.
    await until(async () => existsSync(outputs), 'the served pipeline to start');
    const claim = JSON.parse(await readFile(join(data.dir, 'in-use.json'), 'utf8')) as DataDirClaim;
    endpoints = claim.endpoints ?? {};
    const s3 = s3Client(
      { AWS_ENDPOINT_URL_S3: endpoints.s3 },
      { endpoint: endpoints.s3, credentials: LOCAL_S3_CREDENTIALS },
    );
    store = s3ObjectStore(s3);
  });

  afterAll(async () => {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server.once('exit', resolve));
      server.kill('SIGTERM');
      await exited;
    }
    await data?.remove();
  });

  const bucket = LOCAL_RESOURCES.resultsBucket;
  const source = `s3://${LOCAL_RESOURCES.sourceBucket}/${PREFIX}`;

  it('triggers a run, pauses it in flight, resumes it, and the run completes with every record accounted for once', async () => {
    const runId = FIXTURE_RUNS.gated;
    expect(await pipeline('trigger', '--run', runId, '--source', source)).toMatchObject({
      code: 0,
      json: { runId, triggered: true },
    });
    // The processor holds the run's records until the gate opens: the pause lands while the run is in flight.
    await until(() => exists(bucket, LAYOUT.manifestKey(runId)), 'the reader to plan the run');
    expect(await pipeline('pause', '--run', runId)).toMatchObject({ code: 0, json: { runId, state: 'paused' } });
    expect((await pipeline('status', '--run', runId)).json).toMatchObject({ runId, state: 'paused', complete: false });
    await writeFile(join(data.dir, 'gate'), '');
    // Paused, the stages park what reaches them.
    await until(async () => (await count(bucket, parkedPrefix(runId, 'processor'))) > 0, 'records to be parked');

    const resumed = await pipeline('resume', '--run', runId);
    expect(resumed).toMatchObject({ code: 0, json: { runId, state: 'running' } });
    expect(resumed.json.unparked).toBeGreaterThan(0);

    await until(() => exists(bucket, LAYOUT.completeKey(runId)), 'the finisher to complete the run');
    expect((await pipeline('status', '--run', runId)).json).toMatchObject({ state: 'complete', read: RECORDS });
    // Without any command: the run's end collates it, writes its summary and announces it.
    await until(() => exists(bucket, LAYOUT.summaryKey(runId)), 'the run to be collated at its end');
    expect(await count(bucket, LAYOUT.collatedPrefix(runId))).toBeGreaterThan(0);
    const events = (await readFile(join(data.dir, 'events.ndjson'), 'utf8'))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { detailType: string; detail: { runId: string } })
      .filter((event) => event.detail.runId === runId)
      .map((event) => event.detailType);
    expect(events).toEqual(expect.arrayContaining(['Run Started', 'Run Completed']));
    const collated = await pipeline('collate', '--run', runId);
    expect(collated).toMatchObject({ code: 0, json: { read: RECORDS, conserved: true, complete: true } });
    const summary = collated.json as { delivered: number; deadLettered: number };
    expect(summary.delivered + summary.deadLettered).toBe(RECORDS);
    expect((await pipeline('dead-letters', '--run', runId)).json).toMatchObject({ total: summary.deadLettered });
    const runs = (await pipeline('runs')).json as { runs: { runId: string; state: string }[] };
    expect(runs.runs).toContainEqual(expect.objectContaining({ runId, state: 'complete', read: RECORDS }));
  });

  it('redrives the batches the event source mappings gave up on and the dead letters: each record reaches the output once', async () => {
    const runId = FIXTURE_RUNS.faulty;
    await writeFile(join(data.dir, 'fault'), '');
    expect((await pipeline('trigger', '--run', runId, '--source', source)).code).toBe(0);
    // The first slice's batches fail until the mapping gives up on them: they are in the failures bucket.
    await until(
      async () => (await count(LOCAL_RESOURCES.failuresBucket, ON_FAILURE_PREFIX)) > 0,
      'the processor mapping to give up on a batch',
    );
    const status = (await pipeline('status', '--run', runId)).json as {
      eventSourceFailures: number;
      complete: boolean;
    };
    expect(status.complete).toBe(false);
    expect(status.eventSourceFailures).toBeGreaterThan(0);

    await rm(join(data.dir, 'fault'));
    const redriven = await pipeline('redrive', '--run', runId);
    expect(redriven.code).toBe(0);
    expect(redriven.json.onFailureBatches).toBeGreaterThan(0);
    expect(redriven.json.onFailureRecords).toBeGreaterThan(0);
    await until(() => exists(bucket, LAYOUT.completeKey(runId)), 'the redriven run to complete');

    const collated = await pipeline('collate', '--run', runId);
    expect(collated).toMatchObject({ code: 0, json: { read: RECORDS, conserved: true, complete: true } });
    const summary = collated.json as { delivered: number; deadLettered: number };
    expect(summary.delivered + summary.deadLettered).toBe(RECORDS);
    expect((await pipeline('status', '--run', runId)).json).toMatchObject({
      state: 'complete',
      eventSourceFailures: 0,
    });

    // Run again, a redrive puts the dead letters back once more and changes nothing in the output.
    const again = await pipeline('redrive', '--run', runId);
    expect(again).toMatchObject({ code: 0, json: { onFailureBatches: 0 } });
    expect((await pipeline('collate', '--run', runId)).json).toMatchObject({
      delivered: summary.delivered,
      deadLettered: summary.deadLettered,
      conserved: true,
    });
  });

  it('refuses to replay on a running pipeline rather than start a consumer of its own', async () => {
    const replayed = await pipeline('replay', '--run', FIXTURE_RUNS.gated);
    expect(replayed.code).toBe(2);
    expect(replayed.stderr).toContain('replay in local runs on its replay function, which the tool does not start');
  });
});
