import { spawn, type ChildProcess } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { collatedLines, deadLetterIds, E2E_DATA as DATA, E2E_PIPELINE, expectedIds, tempDataDir } from './testing';

/** Runs in a row, every core kept busy meanwhile. */
const RUNS = 5;
/** The busy processes stop by themselves after this long, even if the test never stops them. */
const BUSY_LIMIT_MS = 180_000;

/**
 * One process per core spinning until it is killed, its parent goes away or BUSY_LIMIT_MS pass:
 * the pipeline's servers and handlers then run on a saturated machine, where the embedded Kinesis
 * once let records slip past its iterators and timed-out calls were retried forever.
 */
function saturateCores(): ChildProcess[] {
  const spin = `
    const end = Date.now() + Number(process.argv[1]);
    const parent = process.ppid;
    let n = 0;
    while (Date.now() < end) { if (++n % 1e6 === 0 && process.ppid !== parent) break; }
  `;
  return Array.from({ length: availableParallelism() }, () =>
    spawn(process.execPath, ['-e', spin, String(BUSY_LIMIT_MS)], { stdio: 'ignore' }),
  );
}

async function stopAll(children: ChildProcess[]): Promise<void> {
  await Promise.all(
    children.map(
      (child) =>
        new Promise<void>((resolve) => {
          if (child.exitCode !== null || child.signalCode !== null) return resolve();
          child.once('exit', () => resolve());
          child.kill('SIGKILL');
        }),
    ),
  );
}

describe('the pipeline under load (every core busy)', () => {
  it(`conserves every record exactly in ${RUNS} runs, each on a fresh stack: read = delivered + dead-lettered, no id missing or twice`, async () => {
    const busy = saturateCores();
    try {
      for (let run = 1; run <= RUNS; run += 1) {
        // A fresh stack each time: the records that follow an empty read of a new stream are the
        // ones kinesalite's iterator used to skip.
        const data = await tempDataDir();
        const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE });
        try {
          const runId = `run-stress-${run}`;
          const report = await runJob({ runId, pipeline, data: DATA, timeoutMs: 120_000 });

          const expected = await expectedIds(pipeline.ledger, runId, DATA);
          const ids = (await collatedLines(pipeline.store, runId)).map((l) => l.id);
          const letters = await deadLetterIds(pipeline.store, runId);
          expect({ runId, complete: report.complete, conserved: report.conserved, read: report.read }).toEqual({
            runId,
            complete: true,
            conserved: true,
            read: DATA.records,
          });
          expect(report.delivered + report.deadLettered).toBe(report.read);
          expect(ids.length).toBe(new Set(ids).size);
          expect(new Set(ids)).toEqual(expected.results);
          expect(new Set(letters)).toEqual(expected.deadLetters);
        } finally {
          await pipeline.stop();
          await data.remove();
        }
      }
    } finally {
      await stopAll(busy);
    }
  }, 240_000);
});
