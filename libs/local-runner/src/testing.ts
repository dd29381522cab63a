import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  exampleJob,
  exampleRow,
  exampleRowKind,
  type ExampleDataOptions,
  type ExampleRowKind,
} from '@pipeline/example-job';
import { memoryClaims, transformContext } from '@pipeline/job';
import type { ObjectStore } from '@pipeline/object-store';
import { parseDeadLetterKey } from '@pipeline/collation';
import { LAYOUT } from '@pipeline/records';
import type { RunLedger } from '@pipeline/run-ledger';
import type { ByteRangeSlice } from '@pipeline/slices';
import { LOCAL_RESOURCES, type LocalPipelineOptions } from './local-pipeline';

/** A small data set with every kind of row: good, spilled, malformed, invalid and rejected. */
export const E2E_DATA: ExampleDataOptions = {
  records: 1_200,
  recordBytes: 300,
  largeEvery: 397,
  largeNotesBytes: 40 * 1024,
  malformedEvery: 199,
  invalidEvery: 251,
  rejectedEvery: 307,
};

/** Small slices and batches, so a small data set still has many of each. */
export const E2E_PIPELINE: LocalPipelineOptions = {
  shardCount: 2,
  env: { SLICE_BYTES: String(64 * 1024), SPILL_THRESHOLD_BYTES: String(16 * 1024) },
  eventSource: { batchSize: 100, maximumBatchingWindowInSeconds: 0, maximumRetryAttempts: 10 },
  firehoseBufferIntervalMs: 200,
};

/** A fresh data folder for one test's embedded stack. */
export async function tempDataDir(): Promise<{ dir: string; remove(): Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'pipeline-e2e-'));
  return { dir, remove: () => rm(dir, { recursive: true, force: true }) };
}

/** Every line of a run's collated output, parsed. */
export async function collatedLines(
  store: ObjectStore,
  runId: string,
): Promise<{ id: string; run: string; result?: unknown; resultKey?: string }[]> {
  const lines: { id: string; run: string; result?: unknown }[] = [];
  for await (const object of store.list(LOCAL_RESOURCES.resultsBucket, LAYOUT.collatedPrefix(runId))) {
    const body = await store.stream(LOCAL_RESOURCES.resultsBucket, object.key);
    for await (const line of createInterface({ input: body, crlfDelay: Infinity }))
      if (line) lines.push(JSON.parse(line));
  }
  return lines;
}

/**
 * What the example job must produce for a data set read as one object: the id and result of every
 * row that reaches the output, and the ids of the rows dead-lettered, by reason.
 */
export function expectedOutcome(
  runId: string,
  options: ExampleDataOptions,
  sliceOfRow: (row: number) => { slice: string; pos: number },
) {
  const results = new Map<string, unknown>();
  const deadLetters = new Map<string, string>();
  const reasonOf: Partial<Record<ExampleRowKind, string>> = {
    malformed: 'malformed-row',
    invalid: 'invalid-input',
    rejected: 'transform-failed',
  };
  for (let i = 0; i < options.records; i++) {
    const { slice, pos } = sliceOfRow(i);
    const id = `${runId}/${slice}/${pos}`;
    const kind = exampleRowKind(i, options);
    const reason = reasonOf[kind];
    if (reason) deadLetters.set(id, reason);
    else
      results.set(
        id,
        exampleJob.transform(
          exampleJob.input.parse(JSON.parse(exampleRow(i, options))),
          transformContext({ run: runId, slice, pos }, exampleJob.name, memoryClaims()),
        ),
      );
  }
  return { results, deadLetters };
}

/**
 * Every record id a run of `options` must account for, from the run's manifest and the rows' byte
 * offsets (the example data set is one object): the delivered ids and the dead-lettered ids.
 */
export async function expectedIds(
  ledger: RunLedger,
  runId: string,
  options: ExampleDataOptions,
): Promise<{ results: Set<string>; deadLetters: Set<string> }> {
  const manifest = await ledger.getManifest<ByteRangeSlice>(runId);
  if (!manifest) throw new Error(`run ${runId} has no manifest`);
  const placement: { slice: string; pos: number }[] = [];
  let offset = 0;
  let k = 0;
  let pos = 0;
  for (let i = 0; i < options.records; i++) {
    while (offset >= manifest.slices[k].end) {
      k += 1;
      pos = 0;
    }
    placement.push({ slice: manifest.slices[k].id, pos: pos++ });
    offset += Buffer.byteLength(`${exampleRow(i, options)}\n`);
  }
  const expected = expectedOutcome(runId, options, (row) => placement[row]);
  return { results: new Set(expected.results.keys()), deadLetters: new Set(expected.deadLetters.keys()) };
}

/** The record ids of a run's dead letters, as their keys name them. */
export async function deadLetterIds(store: ObjectStore, runId: string): Promise<string[]> {
  const ids: string[] = [];
  for await (const object of store.list(LOCAL_RESOURCES.resultsBucket, LAYOUT.deadLettersPrefix(runId))) {
    const id = parseDeadLetterKey(runId, object.key)?.id;
    if (id) ids.push(id);
  }
  return ids;
}
