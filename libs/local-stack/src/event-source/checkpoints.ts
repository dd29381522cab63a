import { randomUUID } from 'node:crypto';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { CheckpointFileError } from './errors';

/**
 * Where an event source mapping remembers, per shard, the sequence number of the last record it is
 * done with (processed or handed to the on-failure destination). A mapping resumes after it, as
 * Lambda resumes an event source mapping that is re-enabled (with-kinesis.html, "Enabled").
 */
export interface CheckpointStore {
  /** Checkpoints by shard id; shards never checkpointed are absent. */
  load(): Promise<Record<string, string>>;
  /** Records that everything up to and including `sequenceNumber` on `shardId` is done. */
  save(shardId: string, sequenceNumber: string): Promise<void>;
}

/**
 * Checkpoints kept in memory: a mapping created later with the same store resumes, a new process
 * does not.
 *
 * @example
 * ```ts
 * const checkpoints = memoryCheckpointStore();
 * createEventSourceMapping({ ...options, checkpoints });
 * ```
 */
export function memoryCheckpointStore(initial: Record<string, string> = {}): CheckpointStore {
  const checkpoints = { ...initial };
  return {
    load: async () => ({ ...checkpoints }),
    save: async (shardId, sequenceNumber) => {
      checkpoints[shardId] = sequenceNumber;
    },
  };
}

/**
 * Checkpoints kept in a JSON file, so a new process resumes where the last one stopped. Each save
 * writes a temporary file, flushes it and renames it over the old one: a crash leaves either the old
 * or the new checkpoints, never a torn file. Saves are serialized; one store per mapping.
 *
 * @example
 * ```ts
 * const checkpoints = fileCheckpointStore('.local/checkpoints/processor.json');
 * createEventSourceMapping({ ...options, checkpoints });
 * ```
 */
export function fileCheckpointStore(path: string): CheckpointStore {
  let checkpoints: Record<string, string> | undefined;
  let writing: Promise<void> = Promise.resolve();

  async function read(): Promise<Record<string, string>> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw err;
    }
    const parsed: unknown = JSON.parse(text);
    const valid =
      typeof parsed === 'object' &&
      parsed !== null &&
      !Array.isArray(parsed) &&
      Object.values(parsed).every((v) => typeof v === 'string');
    if (!valid)
      throw new CheckpointFileError(
        `checkpoint file ${path} does not hold a {shardId: sequenceNumber} map; fix or delete it`,
      );
    return parsed as Record<string, string>;
  }

  async function write(snapshot: Record<string, string>): Promise<void> {
    await mkdir(dirname(path), { recursive: true });
    const tmp = `${path}.${process.pid}.${randomUUID()}.tmp`;
    const file = await open(tmp, 'w');
    try {
      await file.writeFile(`${JSON.stringify(snapshot, null, 2)}\n`, 'utf8');
      await file.sync();
    } finally {
      await file.close();
    }
    try {
      await rename(tmp, path);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  return {
    async load() {
      checkpoints = await read();
      return { ...checkpoints };
    },
    save(shardId, sequenceNumber) {
      const next = writing.then(async () => {
        checkpoints ??= await read();
        checkpoints[shardId] = sequenceNumber;
        await write({ ...checkpoints });
      });
      // A failed write must not poison the saves queued after it.
      writing = next.catch(() => undefined);
      return next;
    },
  };
}
