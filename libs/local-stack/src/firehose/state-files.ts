/**
 * The endpoint's files: delivery-stream definitions in the state file, and accepted-but-undelivered
 * records in a journal next to it (`<stateFile>.buffers.ndjson`).
 *
 * The journal is appended before PutRecord/PutRecordBatch answer, so a process killed (even with
 * SIGKILL) after a successful put and before delivery loses nothing: the next start re-buffers
 * the records. After each delivery the journal is rewritten with what is still undelivered; a kill
 * between an S3 write and that rewrite delivers those records again on restart, which is what
 * Firehose's own at-least-once delivery allows (consumers de-duplicate by record id).
 *
 * One process at a time may own a state file.
 */
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import type { StoredDeliveryStream } from './destination';

/** One buffered record as journaled: enough to re-buffer it without routing it again. */
export interface JournalEntry {
  /** Delivery stream name. */
  s: string;
  /** Buffer key within the stream. */
  k: string;
  /** Arrival, epoch ms. */
  a: number;
  /** The record's bytes in the object, base64. */
  d: string;
  /** Partition keys, when dynamically partitioned. */
  p?: Record<string, string>;
  /** Error output type, when routed to the error output. */
  e?: string;
}

interface StateDocument {
  version: 1;
  deliveryStreams: StoredDeliveryStream[];
}

export class StateFileError extends Error {
  constructor(file: string, reason: string) {
    super(
      `cannot read the local Firehose state file ${file}: ${reason}; fix or delete it (deleting forgets the delivery streams)`,
    );
    this.name = 'StateFileError';
  }
}

export class FirehoseStateFiles {
  readonly journalFile: string;

  constructor(readonly stateFile: string) {
    this.journalFile = `${stateFile}.buffers.ndjson`;
  }

  async loadStreams(): Promise<StoredDeliveryStream[]> {
    const text = await readIfExists(this.stateFile);
    if (text === undefined) return [];
    let document: StateDocument;
    try {
      document = JSON.parse(text) as StateDocument;
    } catch (error) {
      throw new StateFileError(this.stateFile, (error as Error).message);
    }
    if (document.version !== 1 || !Array.isArray(document.deliveryStreams))
      throw new StateFileError(this.stateFile, 'unknown format');
    return document.deliveryStreams;
  }

  async saveStreams(streams: StoredDeliveryStream[]): Promise<void> {
    const document: StateDocument = { version: 1, deliveryStreams: streams };
    await writeAtomically(this.stateFile, `${JSON.stringify(document, null, 2)}\n`);
  }

  /** Journaled records, oldest first. A torn last line (a kill mid-append) is skipped: its put was never answered. */
  async loadJournal(): Promise<JournalEntry[]> {
    const text = await readIfExists(this.journalFile);
    if (text === undefined) return [];
    const entries: JournalEntry[] = [];
    for (const line of text.split('\n')) {
      if (line.trim() === '') continue;
      try {
        entries.push(JSON.parse(line) as JournalEntry);
      } catch {
        // torn write; see above
      }
    }
    return entries;
  }

  async append(entries: readonly JournalEntry[]): Promise<void> {
    if (entries.length === 0) return;
    await mkdir(dirname(this.journalFile), { recursive: true });
    await appendFile(this.journalFile, journalText(entries));
  }

  async rewrite(entries: readonly JournalEntry[]): Promise<void> {
    await writeAtomically(this.journalFile, journalText(entries));
  }
}

function journalText(entries: readonly JournalEntry[]): string {
  return entries.map((entry) => `${JSON.stringify(entry)}\n`).join('');
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/** Write-then-rename, so a kill leaves either the old or the new file, never half of one. */
async function writeAtomically(file: string, text: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  const temporary = `${file}.${process.pid}.tmp`;
  await writeFile(temporary, text);
  await rename(temporary, file);
}
