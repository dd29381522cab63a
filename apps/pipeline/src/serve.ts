import { writeFile } from 'node:fs/promises';
import { DEFAULTS } from '@pipeline/limits';
import type { ExampleDataOptions } from '@pipeline/example-job';
import {
  describeEndpoints,
  EXAMPLE_PREFIX,
  LOCAL_RESOURCES,
  LocalPipeline,
  type LocalPipelineOptions,
  loadExampleData,
} from '@pipeline/local-runner';
import { localStackOutputs } from './environment';

export interface ServeOptions {
  /** Writes the local stack's outputs there, as `cdk deploy --outputs-file` does. */
  outputsFile?: string;
  log?: (line: string) => void;
  /** Loads the example data set under `example/` of the source bucket, the reader's default source. */
  exampleData?: ExampleDataOptions;
  /** Resolves when serving should stop (default: SIGINT or SIGTERM). */
  until?: Promise<unknown>;
}

/**
 * The local pipeline as Lambda runs it: the embedded stack, the processor's and writer's event
 * source mappings, the reader behind the local Lambda Invoke service, and the finisher looking at
 * every run whose output was handed to Firehose (what its queue does in AWS). It keeps running
 * until stopped; the operator verbs reach it through the endpoints it writes in the data folder's
 * `in-use.json`, or through AWS_ENDPOINT_URL_* and the outputs file, as they reach AWS.
 */
export async function serve(options: LocalPipelineOptions, serving: ServeOptions = {}): Promise<void> {
  const log = serving.log ?? (() => undefined);
  const pipeline = await LocalPipeline.start(
    serving.exampleData ? { ...options, env: { SOURCE_PREFIX: EXAMPLE_PREFIX, ...options.env } } : options,
  );
  let stopping = false;
  let finishing: Promise<void> = Promise.resolve();
  const timer = setInterval(() => {
    finishing = finishing.then(() =>
      stopping ? undefined : finishDelivered(pipeline).catch((e) => log(`finisher: ${(e as Error).message}`)),
    );
  }, DEFAULTS.finisherPollMs);
  try {
    if (serving.exampleData) {
      log(`loading the example data set: ${serving.exampleData.records} records`);
      await loadExampleData(pipeline.store, LOCAL_RESOURCES.sourceBucket, EXAMPLE_PREFIX, serving.exampleData);
    }
    await pipeline.startConsumers();
    if (serving.outputsFile) await writeFile(serving.outputsFile, `${JSON.stringify(localStackOutputs(), null, 2)}\n`);
    log(`serving the local pipeline from ${pipeline.dataDir}: ${describeEndpoints(pipeline.endpoints)}`);
    log(
      [
        'reach it from another terminal with the same --data-dir, or as a deployed environment:',
        `  AWS_ENDPOINT_URL_KINESIS=${process.env.AWS_ENDPOINT_URL_KINESIS} AWS_ENDPOINT_URL_S3=${process.env.AWS_ENDPOINT_URL_S3} AWS_ENDPOINT_URL_LAMBDA=${process.env.AWS_ENDPOINT_URL_LAMBDA}`,
        `  npm run pipeline -- runs --env local --outputs ${serving.outputsFile ?? '<outputs file>'}`,
        'stop with Ctrl-C',
      ].join('\n'),
    );
    await (serving.until ?? signalled());
  } finally {
    stopping = true;
    clearInterval(timer);
    await finishing;
    await pipeline.stop();
    log('stopped');
  }
}

/** What the finisher's queue does in AWS: each run handed to Firehose and not yet complete is looked at again. */
async function finishDelivered(pipeline: LocalPipeline): Promise<void> {
  const delivered = /^runs\/([^/]+)\/delivered\.json$/;
  const runs: string[] = [];
  for await (const object of pipeline.store.list(LOCAL_RESOURCES.resultsBucket, 'runs/')) {
    const match = delivered.exec(object.key);
    if (match) runs.push(match[1]);
  }
  for (const runId of runs) {
    const status = await pipeline.ledger.status(runId);
    if (!status.complete) await pipeline.finish(runId);
  }
}

function signalled(): Promise<void> {
  return new Promise((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
}
