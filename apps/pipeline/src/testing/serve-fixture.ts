// The local pipeline as a deployed environment, in a process of its own, for the operator tool's
// end-to-end test: `serve` with the example data set loaded and two switches the test flips
// through files in the data folder (no timing involved):
// - while `<dir>/gate` is missing, the processor holds every batch with records of run `gated`;
// - while `<dir>/fault` exists, the processor fails every batch with records of the first slice of
//   run `faulty`, so its event source mapping gives up on them (on-failure records in S3).
// Usage: tsx serve-fixture.ts <data dir> <outputs file> <data prefix> <records>
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { loadExampleData, LocalPipeline, LOCAL_RESOURCES } from '@pipeline/local-runner';
import { E2E_DATA, E2E_PIPELINE } from '@pipeline/local-runner/testing';
import type { KinesisEventHandler } from '@pipeline/local-stack';
import { serve } from '../serve';

export const FIXTURE_RUNS = { gated: 'run-gated', faulty: 'run-faulty' } as const;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const [dataDir, outputsFile, prefix, records] = process.argv.slice(2);
  const gate = join(dataDir, 'gate');
  const fault = join(dataDir, 'fault');
  const wrapProcessor =
    (handler: KinesisEventHandler): KinesisEventHandler =>
    async (event, context) => {
      const keys = event.Records.map((r) => r.kinesis.partitionKey);
      while (keys.some((k) => k.startsWith(`${FIXTURE_RUNS.gated}/`)) && !existsSync(gate)) await sleep(50);
      if (existsSync(fault) && keys.includes(`${FIXTURE_RUNS.faulty}/s000000`)) throw new Error('injected fault');
      return handler(event, context);
    };
  // The data set first, with the stack to itself; then the stack is served.
  const loader = await LocalPipeline.start({ ...E2E_PIPELINE, dataDir });
  await loadExampleData(loader.store, LOCAL_RESOURCES.sourceBucket, prefix, { ...E2E_DATA, records: Number(records) });
  await loader.stop();
  await serve(
    {
      ...E2E_PIPELINE,
      dataDir,
      // No bisecting: a faulty batch is retried whole, then goes whole to the on-failure destination.
      eventSource: { ...E2E_PIPELINE.eventSource, bisectBatchOnFunctionError: false },
      wrapProcessor,
    },
    { outputsFile, log: (line) => process.stderr.write(`${line}\n`) },
  );
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (error) => {
      process.stderr.write(`${(error as Error).stack}\n`);
      process.exit(1);
    },
  );
}
