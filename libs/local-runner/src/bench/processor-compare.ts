import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { bundleForNode } from './bundle';
import type { IoBoundResult } from './io-bound';
import { CONTENDERS, type ContenderPasses, POWERTOOLS_MISSING } from './processor-contenders';

export { POWERTOOLS_MISSING } from './processor-contenders';

/**
 * The processor's own CPU per envelope against Powertools' batch utility, a plain loop and the floor
 * (the mandatory work alone), on the same events (see processor-contenders.ts).
 *
 * Each contender runs in processes of its own, from one bundle built as the Lambda build bundles a
 * function (esbuild, every dependency inside, no source transform at run time): so no contender
 * inherits another's garbage, heap size or JIT feedback, and none runs through a run-time TypeScript
 * loader the deployed code never sees. The processes take turns (processBatch, Powertools, plain loop,
 * floor, then again), so load drifts hit them alike; a contender's figure is the median of all its
 * passes after the warm-up (WARM_UP_PASSES), its first pass reported apart.
 */

export interface CompareResult {
  envelopes: number;
  envelopeBytes: number;
  records: number;
  events: number;
  /** The reader's CPU per envelope producing those events, in-memory ports. */
  readerMicros: number;
  /** Processes each contender ran in. */
  processes: number;
  contenders: {
    name: string;
    does: string;
    /** Median CPU µs per envelope over every pass of every process. */
    micros: number;
    /** Every measured pass, process after process. */
    rounds: number[];
    /** Each process's median pass. */
    perProcess: number[];
    /** Median over the processes of their first pass, the code still cold (not in `micros`). */
    firstPass: number;
    results: number;
  }[];
  skipped: string[];
  /** The I/O-bound case: records/s per shard, sequential and at the default concurrency. */
  ioBound?: IoBoundResult;
}

const run = promisify(execFile);

export async function compareProcessors(options: {
  envelopes: number;
  rounds: number;
  /** Processes per contender (default 3; the bench asks for 7). */
  processes?: number;
}): Promise<CompareResult> {
  const processes = options.processes ?? 3;
  const dir = await mkdtemp(join(tmpdir(), 'pipeline-compare-'));
  try {
    const bundle = await bundleForNode({
      entry: join(__dirname, 'processor-child.ts'),
      outfile: join(dir, 'processor-child.js'),
      packages: 'bundle',
    });
    const measured = new Map<string, ContenderPasses[]>();
    const skipped = new Set<string>();
    for (let p = 0; p < processes; p++) {
      for (const name of CONTENDERS) {
        if (skipped.has(name)) continue;
        const { stdout } = await run(
          process.execPath,
          [bundle, name, String(options.envelopes), String(options.rounds)],
          // The processor's module reads its Powertools settings at load: tracing off, as locally.
          { env: { ...process.env, POWERTOOLS_TRACE_ENABLED: 'false' }, maxBuffer: 16 * 1024 * 1024 },
        );
        const passes = JSON.parse(stdout) as ContenderPasses | null;
        if (!passes) {
          skipped.add(name);
          continue;
        }
        measured.set(name, [...(measured.get(name) ?? []), passes]);
      }
    }
    const first = [...measured.values()][0]?.[0];
    if (!first) throw new Error('no contender could be measured');
    return {
      envelopes: first.envelopes,
      envelopeBytes: first.envelopeBytes,
      records: first.records,
      events: first.events,
      readerMicros: median([...measured.values()].flat().map((m) => m.readerMicros)),
      processes,
      contenders: [...measured].map(([name, runs]) => ({
        name,
        does: runs[0].does,
        micros: median(runs.flatMap((r) => r.passes)),
        rounds: runs.flatMap((r) => r.passes),
        perProcess: runs.map((r) => median(r.passes)),
        firstPass: median(runs.map((r) => r.firstPass)),
        results: runs[runs.length - 1].results,
      })),
      skipped: skipped.size ? [POWERTOOLS_MISSING] : [],
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
