// A local run in a process of its own, for the test that kills it with SIGKILL and resumes the run.
// Usage: tsx kill-fixture.ts <data dir> <run id>
import './local-env';
import { LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { E2E_DATA, E2E_PIPELINE } from './testing';

async function main(): Promise<void> {
  const [dataDir, runId] = process.argv.slice(2);
  const pipeline = await LocalPipeline.start({ dataDir, ...E2E_PIPELINE });
  await runJob({
    runId,
    pipeline,
    data: E2E_DATA,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  await pipeline.stop();
}

void main();
