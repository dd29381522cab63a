import { loadExampleData } from '../example-data';
import { LOCAL_RESOURCES, LocalPipeline } from '../local-pipeline';
import { EXAMPLE_PREFIX, runJob } from '../run-job';
import { tempDataDir } from '../testing';
import { benchData } from './data';
import { rawPutCeiling } from './raw-ceiling';
import { measureStages, type StageCpu } from './stage-cpu';

/** The phases of one size, in order; the bench's parent samples the process tree in each. */
export const PHASES = ['raw-before', 'e2e', 'raw-after', 'stages'] as const;
export type Phase = (typeof PHASES)[number];

export interface SizeMeasures {
  records: number;
  shards: number;
  raw: Record<'before' | 'after', { envelopesPerSecond: number; records: number; seconds: number }>;
  e2e: {
    seconds: number;
    envelopesPerSecond: number;
    read: number;
    delivered: number;
    deadLettered: number;
    complete: boolean;
    conserved: boolean;
  };
  stages: StageCpu;
}

/**
 * One size, in this process (the runner): the raw ceiling, the run end to end, the raw ceiling
 * again, then each stage alone. `phase` tells the parent where a phase starts and ends, and waits
 * for it, so that its samples of the process tree belong to that phase only.
 */
export async function measureSize(options: {
  records: number;
  shards: number;
  timeoutMs: number;
  streamsInMemory: boolean;
  phase: (name: Phase, edge: 'start' | 'end') => Promise<void>;
  progress: (line: string) => void;
}): Promise<SizeMeasures> {
  const { records, shards, phase } = options;
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({
    dataDir: data.dir,
    shardCount: shards,
    streamsInMemory: options.streamsInMemory,
  });
  try {
    // The data set is loaded before any clock starts: loading it is not the pipeline's work.
    await loadExampleData(pipeline.store, LOCAL_RESOURCES.sourceBucket, EXAMPLE_PREFIX, benchData(records));

    await phase('raw-before', 'start');
    const before = await rawPutCeiling(pipeline.kinesis, { envelopes: records, shards, tag: 'before' });
    await phase('raw-before', 'end');

    await phase('e2e', 'start');
    const report = await runJob({
      runId: 'bench',
      pipeline,
      data: benchData(records),
      timeoutMs: options.timeoutMs,
      progress: options.progress,
    });
    await phase('e2e', 'end');

    await phase('raw-after', 'start');
    const after = await rawPutCeiling(pipeline.kinesis, { envelopes: records, shards, tag: 'after' });
    await phase('raw-after', 'end');

    await phase('stages', 'start');
    const stages = await measureStages(pipeline, shards);
    await phase('stages', 'end');

    return {
      records,
      shards,
      raw: { before, after },
      e2e: {
        seconds: report.elapsedMs / 1000,
        envelopesPerSecond: report.read / (report.elapsedMs / 1000),
        read: report.read,
        delivered: report.delivered,
        deadLettered: report.deadLettered,
        complete: report.complete,
        conserved: report.conserved,
      },
      stages,
    };
  } finally {
    await pipeline.stop();
    await data.remove();
  }
}
