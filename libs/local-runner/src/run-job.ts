import { join } from 'node:path';
import { collateRun, type RunSummary } from '@pipeline/collation';
import { EXAMPLE_DEFAULTS, type ExampleDataOptions } from '@pipeline/example-job';
import { DEFAULTS } from '@pipeline/limits';
import { getJson } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import type { FinishOutcome, RunManifest, RunStalled } from '@pipeline/run-ledger';
import { describeEndpoints } from './endpoints';
import { loadExampleData } from './example-data';
import type { RunSource } from './input';
import { LOCAL_RESOURCES, LocalPipeline, type LocalPipelineOptions } from './local-pipeline';
import { runCostReport, type RunCostReport } from './run-cost';

export const EXAMPLE_PREFIX = 'example/';

export interface RunJobOptions extends LocalPipelineOptions {
  runId?: string;
  /** The example data set to load (records and shape). */
  data?: ExampleDataOptions;
  /** Where to read instead of loading the example data set (see stageInput for a user's files). */
  source?: RunSource;
  sliceBytes?: number;
  /** Called about once a second with a line of progress. */
  progress?: (line: string) => void;
  /** Give up waiting for completion after this long. */
  timeoutMs?: number;
  /** Once every slice is done, wait at most this long for the output to be in S3 (within timeoutMs). */
  deliveryWaitMs?: number;
  /** An already started pipeline to use (it is left running). */
  pipeline?: LocalPipeline;
  /** The region the cost report prices the run in (only us-east-1 is in the price table). */
  costRegion?: string;
}

export interface RunReport extends RunSummary {
  /** `complete` only once the finisher found the output in S3 and conserved. */
  state: FinishOutcome['state'] | 'paused';
  /** What was missing when the run stalled. */
  stalled?: RunStalled;
  elapsedMs: number;
  recordsPerSecond: number;
  /** Where the collated output is: an S3 URI and, on the embedded stack, a folder on disk. */
  outputUri: string;
  outputDir?: string;
  dataSet?: { records: number; objects: number; bytes: number; loadMs?: number };
  slices: number;
  /** The run's modeled AWS bill from the calls it made; absent when nothing was metered (IAM off). */
  cost?: RunCostReport;
}

/** The local pipeline a run's options ask for: its slice size goes to the handlers' environment. */
export function pipelineOptions(options: RunJobOptions): LocalPipelineOptions {
  const env = { ...options.env };
  if (options.sliceBytes) env.SLICE_BYTES = String(options.sliceBytes);
  return { ...options, env };
}

/**
 * Runs a job end to end on the local pipeline: loads the data, triggers the reader, lets the
 * processor and writer consume, waits until every slice is done and then until the finisher
 * finds the output in S3 and completes the run (as in AWS, Firehose delivers on its own time),
 * collates and summarises.
 */
export async function runJob(options: RunJobOptions = {}): Promise<RunReport> {
  let started = Date.now();
  const pipeline = options.pipeline ?? (await LocalPipeline.start(pipelineOptions(options)));
  const log = options.progress ?? (() => undefined);
  let stopServices: { stop(): Promise<void>; report?(): string } | undefined;
  if (pipeline.endpoints.external.length) log(`services: ${describeEndpoints(pipeline.endpoints)}`);
  try {
    let dataSet: RunReport['dataSet'];
    const source = options.source ?? { bucket: LOCAL_RESOURCES.sourceBucket, prefix: EXAMPLE_PREFIX };
    const prefix = source.prefix;
    // A job that reads its own source (ids, pages, custom) needs no data loaded into S3.
    const readsObjects = !options.job || 'format' in options.job.source;
    if (!options.source && readsObjects) {
      const data = { ...EXAMPLE_DEFAULTS, ...options.data };
      log(`loading the example data set: ${data.records} records`);
      const loaded = await loadExampleData(pipeline.store, LOCAL_RESOURCES.sourceBucket, prefix, data);
      dataSet = { records: data.records, objects: loaded.objects, bytes: loaded.bytes };
    }
    const runId = options.runId ?? `run-${new Date().toISOString().slice(0, 19).replace(/[-:]/g, '')}Z`;
    // The job's local stand-ins for the services it calls: up before the reader plans, down once the run is.
    const services = await options.job?.local?.start();
    if (services) stopServices = services;
    await pipeline.startConsumers();
    // The run's clock starts when the reader is triggered: loading the example data is not the pipeline's work.
    const loadMs = Date.now() - started;
    started = Date.now();
    pipeline.resetMeters();

    let reading = true;
    let manifest: RunManifest | undefined;
    const progress = async () => {
      manifest ??= await pipeline.ledger.getManifest(runId);
      return pipeline.ledger.progress(runId, manifest);
    };
    let deniedShown = 0;
    const ticker = setInterval(() => {
      // A call AWS would refuse is refused here too: say which, so the role in infra/ can be fixed.
      const denied = pipeline.deniedCalls();
      for (const call of denied.slice(deniedShown))
        log(
          `IAM refused ${call.action} on ${call.resource} to ${call.accessKeyId}: check its role in infra/src/stacks`,
        );
      deniedShown = denied.length;
      void progress().then(
        (p) => {
          const seconds = ((Date.now() - started) / 1000).toFixed(0);
          log(
            // A chain's length is known only once its last link is read.
            `${runId}: ${reading ? 'reading' : 'draining'} · slices read ${p.read}/${(!p.chainOpen && p.planned) || '?'} · done ${p.done}/${(!p.chainOpen && p.planned) || '?'} · ${seconds} s`,
          );
        },
        () => undefined,
      );
    }, 1000);
    let paused = false;
    let outcome: FinishOutcome = { runId, state: 'running' };
    try {
      const read = await pipeline.read({ runId, source });
      reading = false;
      paused = read.paused;
      if (read.paused) log(`${runId} is paused: resume it with \`npm run pipeline -- resume --run ${runId}\``);
      const deadline = Date.now() + (options.timeoutMs ?? DEFAULTS.runDeadlineMinutes * 60_000);
      // Poll with one listing a time: reading every marker would load the store as the run grows.
      let done = false;
      for (;;) {
        const p = await progress();
        // A run with nothing to read (0 slices planned) is done as soon as the reader has planned it; a
        // chain's progress plans one link more than it has read while it is open, so it is never done early.
        done = manifest !== undefined && p.done === p.planned;
        if (done) break;
        if (paused || (await pipeline.ledger.getControl(runId))?.state === 'paused') {
          paused = true;
          break;
        }
        // A reader hop that failed or that Lambda's recursion detection stopped leaves slices unread for good.
        const reader = pipeline.lambda?.stats();
        const stopped = reader && reader.queued === 0 && [...reader.recursionStops, ...reader.asyncErrors];
        if (stopped && stopped.length > 0) {
          log(`${runId}: the reader stopped before reading every slice: ${stopped[0].message}`);
          break;
        }
        if (Date.now() > deadline) break;
        await sleep(250);
      }
      await pipeline.drainConsumers();
      if (done) {
        // Complete means the output is in S3: ask the finisher, as its queue would, until it says so.
        const waitUntil = Math.min(deadline, Date.now() + (options.deliveryWaitMs ?? Number.POSITIVE_INFINITY));
        for (;;) {
          outcome = await pipeline.finish(runId);
          if (['complete', 'failed', 'stalled'].includes(outcome.state) || Date.now() > waitUntil) break;
          await sleep(DEFAULTS.finisherPollMs);
        }
        if (outcome.state !== 'complete') log(`${runId} is ${outcome.state}: its output is not all in S3`);
      }
    } finally {
      clearInterval(ticker);
    }
    const status = await pipeline.ledger.status(runId);
    // A run that ended was collated at its end (the finisher's afterEnd): read that summary, else collate now.
    const ended = outcome.state === 'complete' || outcome.state === 'failed';
    const collated = ended
      ? await getJson<RunSummary>(pipeline.store, LOCAL_RESOURCES.resultsBucket, LAYOUT.summaryKey(runId))
      : undefined;
    const summary =
      (collated?.ended && collated) ||
      (await collateRun({
        store: pipeline.store,
        bucket: LOCAL_RESOURCES.resultsBucket,
        runId,
        read: status.read,
        spilled: status.slices.reduce((sum, s) => sum + (s.read?.spilled ?? 0), 0),
        complete: outcome.state === 'complete',
      }));
    const elapsedMs = Date.now() - started;
    const metered = pipeline.metered(elapsedMs);
    return {
      ...summary,
      state: paused && outcome.state === 'running' ? 'paused' : outcome.state,
      stalled: outcome.state === 'stalled' ? outcome.stalled : undefined,
      elapsedMs,
      recordsPerSecond: Math.round(summary.read / (elapsedMs / 1000)),
      outputUri: `s3://${LOCAL_RESOURCES.resultsBucket}/${LAYOUT.collatedPrefix(runId)}`,
      outputDir: pipeline.endpoints.embedded.includes('s3')
        ? join(pipeline.dataDir, 's3', LOCAL_RESOURCES.resultsBucket, LAYOUT.collatedPrefix(runId))
        : undefined,
      dataSet: dataSet && { ...dataSet, loadMs },
      slices: status.slices.length,
      cost: metered && runCostReport(metered, options.costRegion),
    };
  } finally {
    if (stopServices) {
      const report = stopServices.report?.();
      if (report) log(report);
      await stopServices.stop();
    }
    if (!options.pipeline) await pipeline.stop();
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
