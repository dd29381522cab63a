import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import type { Readable } from 'node:stream';
import { DEFAULTS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import { DEAD_LETTER_REASONS, LAYOUT } from '@pipeline/records';

/** A run's counts; `conserved` says whether read = delivered + dead-lettered holds. */
export interface RunSummary {
  runId: string;
  complete: boolean;
  read: number;
  delivered: number;
  deadLettered: number;
  deadLetteredByReason: Record<string, number>;
  spilled: number;
  duplicatesDropped: number;
  /** Dead letters of records whose envelope was unreadable, so they belong to no run's count. */
  unattributed: number;
  conserved: boolean;
  output: { bucket: string; prefix: string; parts: number };
  /** From the run's manifest to its end marker (complete.json or failed.json), when both are known. */
  elapsedSeconds?: number;
  /** How the run ended: complete, or failed (and why). */
  ended?: 'complete' | 'failed';
  failureReason?: 'stalled' | 'over-failure-threshold';
}

export interface CollateOptions {
  store: ObjectStore;
  bucket: string;
  runId: string;
  /** Positions read, from the run's slice markers. */
  read: number;
  spilled: number;
  complete: boolean;
  /** Where partition files go while collating; a temp dir by default. */
  workDir?: string;
  partitions?: number;
  /** Written into summary.json as they are. */
  annotations?: Pick<RunSummary, 'elapsedSeconds' | 'ended' | 'failureReason'>;
}

const hashPartition = (id: string, partitions: number) =>
  createHash('md5').update(id).digest().readUInt32BE(0) % partitions;

/**
 * Produces a run's final output, de-duplicated by record id, in bounded memory: lines are first
 * spread over partitions by a hash of their id (on local disk), then each partition is
 * de-duplicated on its own, so only one partition's ids are ever held at once.
 *
 * Dead letters are counted by id from their keys (no object is read), and a record that was
 * dead-lettered and later redriven into the output counts once, as delivered.
 */
export async function collateRun(options: CollateOptions): Promise<RunSummary> {
  const { store, bucket, runId } = options;
  const partitions = options.partitions ?? Math.max(1, Math.ceil(options.read / DEFAULTS.collationPartitionRecords));
  const dir = options.workDir ?? (await mkdtemp(join(tmpdir(), `collate-${runId}-`)));
  try {
    const files = Array.from({ length: partitions }, (_, i) => join(dir, `p${i}`));
    const writers = files.map((file) => createWriteStream(file));
    const write = (w: WriteStream, text: string) =>
      w.write(text) ? Promise.resolve() : new Promise<void>((r) => w.once('drain', () => r()));

    for await (const object of store.list(bucket, LAYOUT.resultsPrefix(runId))) {
      let body: Readable = await store.stream(bucket, object.key);
      if (object.key.endsWith('.gz')) body = body.pipe(createGunzip());
      for await (const line of createInterface({ input: body, crlfDelay: Infinity })) {
        if (!line) continue;
        const id = idOfLine(line);
        await write(writers[hashPartition(id, partitions)], `R${line}\n`);
      }
    }
    let unattributed = 0;
    for await (const object of store.list(bucket, LAYOUT.deadLettersPrefix(runId))) {
      const letter = parseDeadLetterKey(runId, object.key);
      if (!letter) continue;
      await write(writers[hashPartition(letter.id, partitions)], `D${letter.reason}\t${letter.id}\n`);
    }
    for await (const object of store.list(bucket, LAYOUT.deadLettersPrefix('unattributed')))
      if (object.key.endsWith('.json')) unattributed += 1;
    await Promise.all(
      writers.map(
        (w) =>
          new Promise<void>((resolve, reject) => w.end((error?: Error | null) => (error ? reject(error) : resolve()))),
      ),
    );

    let delivered = 0;
    let duplicatesDropped = 0;
    const byReason: Record<string, number> = {};
    for (let p = 0; p < partitions; p++) {
      const seen = new Set<string>();
      const letters = new Map<string, string>();
      const outFile = join(dir, `out${p}`);
      const out = createWriteStream(outFile);
      for await (const entry of createInterface({ input: createReadStream(files[p]), crlfDelay: Infinity })) {
        if (entry.startsWith('R')) {
          const line = entry.slice(1);
          const id = idOfLine(line);
          if (seen.has(id)) {
            duplicatesDropped += 1;
            continue;
          }
          seen.add(ownString(id));
          await write(out, `${line}\n`);
        } else if (entry.startsWith('D')) {
          const [reason, id] = entry.slice(1).split('\t');
          if (!letters.has(id)) letters.set(ownString(id), ownString(reason));
        }
      }
      await new Promise<void>((resolve, reject) =>
        out.end((error?: Error | null) => (error ? reject(error) : resolve())),
      );
      delivered += seen.size;
      for (const [id, reason] of letters) {
        if (seen.has(id)) continue; // redriven into the output: it counts as delivered
        byReason[reason] = (byReason[reason] ?? 0) + 1;
      }
      await store.putFile(bucket, LAYOUT.collatedPartKey(runId, p), outFile, 'application/x-ndjson');
      await rm(outFile, { force: true });
      await rm(files[p], { force: true });
    }
    const deadLettered = Object.values(byReason).reduce((a, b) => a + b, 0);
    const summary: RunSummary = {
      runId,
      complete: options.complete,
      read: options.read,
      delivered,
      deadLettered,
      deadLetteredByReason: byReason,
      spilled: options.spilled,
      duplicatesDropped,
      unattributed,
      conserved: options.read === delivered + deadLettered,
      output: { bucket, prefix: LAYOUT.collatedPrefix(runId), parts: partitions },
      ...options.annotations,
    };
    await store.put(bucket, LAYOUT.summaryKey(runId), JSON.stringify(summary, null, 2));
    return summary;
  } finally {
    if (!options.workDir) await rm(dir, { recursive: true, force: true });
  }
}

/**
 * A copy of a string that holds nothing else. A slice of a longer string can keep the whole of it
 * alive (V8's sliced strings): an id sliced from its output line would keep the ~1 KB line in
 * memory for as long as the partition's set holds the id — 100 MB per 100,000 records instead of 10.
 */
function ownString(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

/** The id of an output line, read without parsing the whole line: lines start with {"id":"…". */
export function idOfLine(line: string): string {
  const prefix = '{"id":"';
  if (line.startsWith(prefix)) {
    const end = line.indexOf('"', prefix.length);
    if (end > 0) return line.slice(prefix.length, end);
  }
  return (JSON.parse(line) as { id: string }).id;
}

/** Reads id and reason back out of a dead letter's key (see LAYOUT.deadLetterKey). */
export function parseDeadLetterKey(runId: string, key: string): { id: string; reason: string } | undefined {
  const rest = key.slice(LAYOUT.deadLettersPrefix(runId).length);
  const match = /^reason=([a-z-]+)\/([^/]+)\/(\d+)\.json$/.exec(rest);
  if (!match || !(DEAD_LETTER_REASONS as readonly string[]).includes(match[1])) return undefined;
  return { reason: match[1], id: `${runId}/${match[2]}/${match[3]}` };
}
