// A local run in a process of its own, for the test that kills it with SIGKILL and resumes the run.
// Usage: tsx kill-fixture.ts <data dir> <run id>
import './local-env';
import { LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { E2E_DATA, E2E_PIPELINE } from './testing';

async function main(): Promise<void> {
  const [dataDir, runId] = process.argv.slice(2);
  let writes = 0;
  const pipeline = await LocalPipeline.start({
    dataDir,
    ...E2E_PIPELINE,
    // Once the writer has delivered something, say so and slow down: the test kills us mid-run.
    wrapWriter: (handler) => async (event, context) => {
      const response = await handler(event, context);
      if (++writes === 1) process.stderr.write('KILL ME NOW\n');
      if (writes >= 1) await new Promise((resolve) => setTimeout(resolve, 500));
      return response;
    },
  });
  await runJob({
    runId,
    pipeline,
    data: E2E_DATA,
    progress: (line) => process.stderr.write(`${line}\n`),
  });
  await pipeline.stop();
}

void main();
