import { join } from 'node:path';
import { collateRun, type RunSummary } from '@pipeline/collation';
import { EXAMPLE_DEFAULTS, type ExampleDataOptions } from '@pipeline/example-job';
import { DEFAULTS } from '@pipeline/limits';
import { LAYOUT } from '@pipeline/records';
import { completeRun, type RunManifest } from '@pipeline/run-ledger';
import { loadExampleData } from './example-data';
import { LOCAL_RESOURCES, LocalPipeline, type LocalPipelineOptions } from './local-pipeline';

export const EXAMPLE_PREFIX = 'example/';

export interface RunJobOptions extends LocalPipelineOptions {
  runId?: string;
  /** The example data set to load (records and shape). */
  data?: ExampleDataOptions;
  /** Source prefix to read instead of loading the example data set. */
  sourcePrefix?: string;
  sliceBytes?: number;
  /** Called about once a second with a line of progress. */
  progress?: (line: string) => void;
  /** Give up waiting for completion after this long. */
  timeoutMs?: number;
  /** An already started pipeline to use (it is left running). */
  pipeline?: LocalPipeline;
}

export interface RunReport extends RunSummary {
  elapsedMs: number;
  recordsPerSecond: number;
  /** Where the collated output is: an S3 URI and, on the embedded stack, a folder on disk. */
  outputUri: string;
  outputDir?: string;
  dataSet?: { records: number; objects: number; bytes: number; loadMs?: number };
  slices: number;
}

/**
 * Runs a job end to end on the local pipeline: loads the data, triggers the reader, lets the
 * processor and writer consume, waits until every slice is done, collates and summarises.
 */
export async function runJob(options: RunJobOptions = {}): Promise<RunReport> {
  let started = Date.now();
  const env = { ...options.env };
  if (options.sliceBytes) env.SLICE_BYTES = String(options.sliceBytes);
  const pipeline = options.pipeline ?? (await LocalPipeline.start({ ...options, env }));
  const log = options.progress ?? (() => undefined);
  try {
    let dataSet: RunReport['dataSet'];
    const prefix = options.sourcePrefix ?? EXAMPLE_PREFIX;
    if (!options.sourcePrefix) {
      const data = { ...EXAMPLE_DEFAULTS, ...options.data };
      log(`loading the example data set: ${data.records} records`);
      const loaded = await loadExampleData(pipeline.store, LOCAL_RESOURCES.sourceBucket, prefix, data);
      dataSet = { records: data.records, objects: loaded.objects, bytes: loaded.bytes };
    }
    const runId = options.runId ?? `run-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
    await pipeline.startConsumers();
    // The run's clock starts when the reader is triggered: loading the example data is not the pipeline's work.
    const loadMs = Date.now() - started;
    started = Date.now();

    let reading = true;
    let manifest: RunManifest | undefined;
    const progress = async () => {
      manifest ??= await pipeline.ledger.getManifest(runId);
      return pipeline.ledger.progress(runId, manifest);
    };
    const ticker = setInterval(() => {
      void progress().then(
        (p) => {
          const seconds = ((Date.now() - started) / 1000).toFixed(0);
          log(
            `${runId}: ${reading ? 'reading' : 'draining'} · slices read ${p.read}/${p.planned || '?'} · done ${p.done}/${p.planned || '?'} · ${seconds} s`,
          );
        },
        () => undefined,
      );
    }, 1000);
    let paused = false;
    try {
      const read = await pipeline.read({ runId, source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix } });
      reading = false;
      paused = read.paused;
      if (read.paused) log(`${runId} is paused: resume it with \`npm run pipeline -- resume --run ${runId}\``);
      const deadline = Date.now() + (options.timeoutMs ?? DEFAULTS.runDeadlineMinutes * 60_000);
      // Poll with one listing a time: reading every marker would load the store as the run grows.
      for (;;) {
        const p = await progress();
        // A run with nothing to read (0 slices planned) is complete as soon as the reader has planned it.
        if (manifest && p.done === p.planned) break;
        if (paused || (await pipeline.ledger.getControl(runId))?.state === 'paused') break;
        if (Date.now() > deadline) break;
        await new Promise((r) => setTimeout(r, 250));
      }
      await pipeline.drain();
    } finally {
      clearInterval(ticker);
    }
    const status = await pipeline.ledger.status(runId);
    const summary = await collateRun({
      store: pipeline.store,
      bucket: LOCAL_RESOURCES.resultsBucket,
      runId,
      read: status.read,
      spilled: status.slices.reduce((sum, s) => sum + (s.read?.spilled ?? 0), 0),
      complete: status.complete,
    });
    if (status.complete)
      await completeRun(
        pipeline.store,
        LOCAL_RESOURCES.resultsBucket,
        { ...summary },
        join(pipeline.dataDir, 'events.ndjson'),
      );
    const elapsedMs = Date.now() - started;
    return {
      ...summary,
      elapsedMs,
      recordsPerSecond: Math.round(summary.read / (elapsedMs / 1000)),
      outputUri: `s3://${LOCAL_RESOURCES.resultsBucket}/${LAYOUT.collatedPrefix(runId)}`,
      outputDir: pipeline.embedded
        ? join(pipeline.dataDir, 's3', LOCAL_RESOURCES.resultsBucket, LAYOUT.collatedPrefix(runId))
        : undefined,
      dataSet: dataSet && { ...dataSet, loadMs },
      slices: status.manifest?.slices.length ?? 0,
    };
  } finally {
    if (!options.pipeline) await pipeline.stop();
  }
}
