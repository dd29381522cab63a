import type { KinesisStreamBatchResponse, KinesisStreamEvent, KinesisStreamRecord } from 'aws-lambda';
import {
  decodeStreamRecord,
  envelopeRun,
  originOf,
  UnencodableError,
  unreadableLine,
  type DataEnvelope,
  type DeadLetterEnvelope,
  type EndOfSliceEnvelope,
  type Envelope,
  type PointerEnvelope,
  type RecordId,
  type ResultEnvelope,
  type Stage,
} from '@pipeline/records';
import type { ParkedRecord } from '@pipeline/run-ledger';
import { PointerError, type Spill } from '@pipeline/spill';
import { Claims, forgedRecord, rejectedMarker, type ClaimsLedger } from './claims';

/** An envelope as a stage sees it: pointers are already resolved, markers are handled by the loop. */
export type StageEnvelope = DataEnvelope | ResultEnvelope | DeadLetterEnvelope;

/** Where an envelope was: its stream record, its line in it, and its bytes as they came. */
export interface Line {
  record: KinesisStreamRecord;
  partitionKey: string;
  line: number;
  /** The envelope's bytes; for a spilled envelope, the spilled object's. */
  bytes: Uint8Array;
  /** The pointer a spilled envelope arrived as. */
  pointer?: PointerEnvelope;
}

/**
 * What one stage does to a record; the loop does the rest (decoding, parking, pointers, seals,
 * markers, dead-lettering, failure reporting). Methods may return a value instead of a promise
 * when they have nothing to wait for: the loop awaits only promises.
 */
export interface BatchStage {
  readonly name: Extract<Stage, 'processor' | 'writer'>;
  /**
   * Whether records claiming an id must carry their run's seal: true on the records stream, where
   * only the run's reader puts records.
   */
  readonly checkSeals: boolean;
  /**
   * The part of handling a record that may run concurrently with other records' (the processor's
   * transform): started in order, at most `concurrency` at once, its value handed to `handle`, which
   * still runs one record at a time in stream order. Its failure is the record's failure.
   */
  prepare?(envelope: StageEnvelope, at: Line): unknown;
  /** Records whose `prepare` may be in flight at once (default 1). */
  readonly concurrency?: number;
  handle(envelope: StageEnvelope, at: Line, prepared?: unknown): Promise<void> | void;
  /** Sends a dead letter on (the processor) or stores it (the writer). */
  deadLetter(letter: DeadLetterEnvelope, at: { partitionKey: string }): Promise<void>;
  /** Makes everything handled so far reach the next hop: a marker passes only after this. */
  barrier(): Promise<void>;
  /** A marker that can be true: everything before it has passed the barrier. */
  sliceEnd(marker: EndOfSliceEnvelope, at: Line): Promise<void>;
  /** Keeps a paused run's records whole until it is resumed. */
  park(run: string, records: ParkedRecord[]): Promise<void>;
  /** Errors that fail the whole invocation: the next hop refused output of earlier records too. */
  isFatal(error: unknown): boolean;
  /**
   * A transient failure of one record: true once the stage has settled it for good (dead-lettered
   * it after its bounded invocations); false leaves it to be reported and retried.
   */
  giveUp?(id: RecordId, error: Error, envelope: Envelope, at: Line): Promise<boolean>;
  /** Flushes what is still buffered at the end of the batch. */
  finish(): Promise<void>;
}

export interface BatchPorts {
  /** Resolves pointers inside the configured spill location. */
  spill: Pick<Spill, 'open'>;
  /** The run ledger, for manifests (seals) and read markers (markers). */
  ledger: ClaimsLedger;
  control: { isPaused(run: string): Promise<boolean> };
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface LoopCounts {
  /** Dead letters the loop made or passed to the stage's deadLetter. */
  deadLettered: number;
  parked: number;
  /** Markers that could be true and were passed to the stage. */
  markers: number;
  rejectedMarkers: number;
  forged: number;
  failedFrom?: string;
}

/**
 * The partial-batch loop the processor and the writer share (as Powertools' BasePartialBatchProcessor
 * is shared by its record types): each stream record is decoded whole, a paused run's records are
 * parked, pointers resolved, seals and markers checked, and each envelope handed to the stage.
 *
 * Nothing in one record can stop a batch: a record that does not decode, a pointer that does not
 * resolve, a forged record, a marker that cannot be true, an envelope that cannot be encoded — each
 * is dead-lettered and the loop goes on. A transient failure stops the batch there: that record and
 * every one after it are reported as failed, so none of them — above all a marker — passes before
 * the record that failed.
 */
export async function runBatch(
  event: KinesisStreamEvent,
  stage: BatchStage,
  ports: BatchPorts,
): Promise<KinesisStreamBatchResponse & { counts: LoopCounts }> {
  const counts: LoopCounts = { deadLettered: 0, parked: 0, markers: 0, rejectedMarkers: 0, forged: 0 };
  const claims = new Claims(ports.ledger);
  const parked = new Map<string, ParkedRecord[]>();
  const paused = new Map<string, boolean>();
  const records = event.Records;
  let failedAt = records.length;

  const deadLetter = async (letter: DeadLetterEnvelope, partitionKey: string) => {
    await stage.deadLetter(letter, { partitionKey });
    counts.deadLettered += 1;
  };
  const isPaused = async (run: string) => {
    let state = paused.get(run);
    if (state === undefined) {
      state = await ports.control.isPaused(run);
      paused.set(run, state);
    }
    return state;
  };

  const marker = async (envelope: EndOfSliceEnvelope, at: Line) => {
    const problem = await claims.markerProblem(envelope, at.partitionKey);
    if (problem) {
      counts.rejectedMarkers += 1;
      ports.log?.('end-of-slice marker rejected', { problem, sequenceNumber: at.record.kinesis.sequenceNumber });
      await deadLetter(rejectedMarker(stage.name, at.record, at.line, envelope, problem), at.partitionKey);
      return;
    }
    await stage.barrier();
    await stage.sliceEnd(envelope, at);
    counts.markers += 1;
  };

  // One seal per stream record, checked once per record and run (see @pipeline/records seals).
  let sealedRecord: { data: Uint8Array; run: string; valid: boolean } | undefined;
  const forgery = (id: RecordId, at: Line, data: Uint8Array): string | undefined => {
    if (sealedRecord?.data !== data || sealedRecord.run !== id.run)
      sealedRecord = { data, run: id.run, valid: claims.forgery(id, data) === undefined };
    // A record sealed envelope by envelope (before seals were per record) is checked line by line.
    return sealedRecord.valid ? undefined : claims.forgery(id, at.bytes);
  };

  /** Checks what the envelope claims; returns the letter of a forged one, else undefined. */
  const forged = (envelope: StageEnvelope, at: Line, data: Uint8Array): DeadLetterEnvelope | undefined => {
    if (!stage.checkSeals || !envelope.id) return undefined;
    const problem = forgery(envelope.id, at, data);
    if (!problem) return undefined;
    counts.forged += 1;
    return forgedRecord(stage.name, at.record, at.line, envelope.id, problem, at.bytes);
  };

  const needsFacts = (envelope: Envelope): string | undefined => {
    if (!stage.checkSeals || envelope.kind === 'end-of-slice') return undefined;
    const run = envelope.id?.run;
    return run !== undefined && claims.known(run) === undefined ? run : undefined;
  };

  const pointer = async (envelope: PointerEnvelope, at: Line, data: Uint8Array) => {
    // The pointer line is what the record's seal covers; its digest binds the spilled bytes.
    let opened: { envelope: Envelope; bytes: Uint8Array };
    try {
      opened = await ports.spill.open(envelope);
    } catch (error) {
      if (!(error instanceof PointerError)) throw error;
      const letter: DeadLetterEnvelope = {
        v: 1,
        kind: 'dead-letter',
        ...(envelope.id ? { id: envelope.id } : { origin: originOf(at.record, at.line) }),
        stage: stage.name,
        reason: error.reason,
        message: error.message,
        payload: envelope,
      };
      await deadLetter(letter, at.partitionKey);
      return;
    }
    // The spilled object holds the kind its pointer names (data, result or dead letter).
    const spilled = opened.envelope as StageEnvelope;
    const inner: Line = { ...at, bytes: opened.bytes, pointer: envelope };
    if (needsFacts(spilled)) await claims.facts(spilled.id?.run as string);
    const letter = forged(spilled, inner, data);
    if (letter) return deadLetter(letter, at.partitionKey);
    const prepared = stage.prepare?.(spilled, inner);
    await stage.handle(spilled, inner, prepared === undefined ? undefined : await prepared);
  };

  /**
   * Records handled in order, their `prepare` started ahead (up to the stage's concurrency): a
   * window over the batch. `i` is the stream record an entry belongs to, for failure reporting.
   */
  interface Entry {
    i: number;
    envelope: StageEnvelope;
    at: Line;
    prepared: unknown;
    failed?: { error: unknown };
  }
  const window: Entry[] = [];
  type Step = boolean | Promise<boolean>;
  const concurrency = Math.max(1, stage.concurrency ?? 1);
  let stopped = false;

  /**
   * Runs one step of a record; false when it failed transiently (the batch stops at its record).
   * Synchronous when the step is: the hot path makes no promise per record.
   */
  const attempt = (i: number, envelope: Envelope, at: Line, step: () => unknown): Step => {
    try {
      const pending = step();
      if (pending instanceof Promise)
        return pending.then(
          () => true,
          (error) => fail(i, envelope, at, error),
        );
      return true;
    } catch (error) {
      return fail(i, envelope, at, error);
    }
  };

  const fail = async (i: number, envelope: Envelope, at: Line, error: unknown): Promise<boolean> => {
    if (stage.isFatal(error)) throw error;
    if (await settle(error as Error, envelope, at)) return true;
    ports.log?.('transient failure, reporting the rest of the batch', {
      sequenceNumber: records[i].kinesis.sequenceNumber,
      error: (error as Error).message,
    });
    failedAt = i;
    stopped = true;
    return false;
  };

  /** Hands the oldest entries to the stage until at most `keep` are left; false once the batch stopped. */
  const drain = (keep: number): Step => {
    while (window.length > keep) {
      const entry = window.shift() as Entry;
      const ok = attempt(entry.i, entry.envelope, entry.at, () => {
        if (entry.failed) throw entry.failed.error;
        const { prepared } = entry;
        if (prepared instanceof Promise) return prepared.then((value) => stage.handle(entry.envelope, entry.at, value));
        return stage.handle(entry.envelope, entry.at, prepared);
      });
      if (ok instanceof Promise) return ok.then((passed) => (passed ? drain(keep) : stop()));
      if (!ok) return stop();
    }
    return true;
  };
  /** Records after the failed one are reported, not handled. */
  const stop = () => {
    window.length = 0;
    return false;
  };

  /** Starts a record's prepare and queues it, or handles it at once when the stage prepares nothing. */
  const enqueue = (i: number, envelope: StageEnvelope, at: Line): Step => {
    if (!stage.prepare) return attempt(i, envelope, at, () => stage.handle(envelope, at));
    const room = drain(concurrency - 1);
    if (room instanceof Promise) return room.then((ok) => ok && start(i, envelope, at));
    return room && start(i, envelope, at);
  };

  const start = (i: number, envelope: StageEnvelope, at: Line): Step => {
    let prepared: unknown;
    try {
      prepared = stage.prepare?.(envelope, at);
    } catch (error) {
      if (window.length === 0)
        return attempt(i, envelope, at, () => {
          throw error;
        });
      window.push({ i, envelope, at, prepared: undefined, failed: { error } });
      return true;
    }
    // Nothing before it in flight and nothing to wait for (a synchronous transform): handled at once.
    if (window.length === 0 && !(prepared instanceof Promise))
      return attempt(i, envelope, at, () => stage.handle(envelope, at, prepared));
    // Settled in order by drain; never an unhandled rejection meanwhile.
    if (prepared instanceof Promise) prepared.catch(() => undefined);
    window.push({ i, envelope, at, prepared });
    return true;
  };

  eachRecord: for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const partitionKey = record.kinesis.partitionKey;
    let lines: { envelope: Envelope; bytes: Uint8Array }[];
    let data: Uint8Array;
    try {
      data = Buffer.from(record.kinesis.data, 'base64');
      const decoded = decodeStreamRecord(data);
      if (!decoded.ok) {
        // Not ours as a whole: one dead letter with every byte, not one per 0x0A in it.
        if (!(await drain(0))) break;
        await deadLetter(unreadableLine(stage.name, record, 0, decoded.error, decoded.bytes), partitionKey);
        continue;
      }
      lines = decoded.lines;
      // A record holds one slice's envelopes: park it whole, as it came.
      const run = envelopeRun(lines[0].envelope);
      if (run && (await isPaused(run))) {
        const list = parked.get(run) ?? [];
        list.push({ partitionKey, sequenceNumber: record.kinesis.sequenceNumber, data: record.kinesis.data });
        parked.set(run, list);
        counts.parked += lines.length;
        continue;
      }
    } catch (error) {
      if (stage.isFatal(error)) throw error;
      if (!(await drain(0))) break;
      failedAt = i;
      ports.log?.('transient failure, reporting the rest of the batch', {
        sequenceNumber: record.kinesis.sequenceNumber,
        error: (error as Error).message,
      });
      break;
    }

    for (let j = 0; j < lines.length; j++) {
      const { envelope, bytes } = lines[j];
      const at: Line = { record, partitionKey, line: j, bytes };
      if (envelope.kind === 'end-of-slice' || envelope.kind === 'pointer') {
        // A marker follows every record before it; a pointer is opened in turn.
        if (!(await drain(0))) break eachRecord;
        const step = () => (envelope.kind === 'end-of-slice' ? marker(envelope, at) : pointer(envelope, at, data));
        if (!(await attempt(i, envelope, at, step))) break eachRecord;
        continue;
      }
      const run = needsFacts(envelope);
      if (run !== undefined && !(await attempt(i, envelope, at, () => claims.facts(run)))) {
        await drain(0);
        break eachRecord;
      }
      const letter = forged(envelope, at, data);
      if (letter) {
        if (!(await drain(0))) break eachRecord;
        if (!(await attempt(i, envelope, at, () => deadLetter(letter, partitionKey)))) break eachRecord;
        continue;
      }
      const queued = enqueue(i, envelope, at);
      if (!(queued instanceof Promise ? await queued : queued)) break eachRecord;
    }
  }
  if (!stopped) await drain(0);

  /** Settles a record that failed: deterministic failures are dead-lettered, transient ones given up on or not. */
  async function settle(error: Error, envelope: Envelope, at: Line): Promise<boolean> {
    const id = 'id' in envelope ? envelope.id : undefined;
    try {
      if (error instanceof UnencodableError) {
        await deadLetter(
          {
            v: 1,
            kind: 'dead-letter',
            ...(id ? { id } : { origin: originOf(at.record, at.line) }),
            stage: stage.name,
            reason: 'unencodable',
            message: `the record or its ${stage.name === 'processor' ? 'result' : 'output line'} ${error.message}`,
            // The envelope as it came, as text: the value itself cannot be encoded again.
            payload: Buffer.from(at.bytes).toString('utf8'),
          },
          at.partitionKey,
        );
        return true;
      }
      return id !== undefined && stage.giveUp !== undefined && (await stage.giveUp(id, error, envelope, at));
    } catch (failure) {
      if (stage.isFatal(failure)) throw failure;
      return false; // could not even dead-letter it: report it like any transient failure
    }
  }

  await stage.finish();
  for (const [run, list] of parked) await stage.park(run, list);

  const failed = records.slice(failedAt).map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber }));
  if (failed.length) counts.failedFrom = failed[0].itemIdentifier;
  return { batchItemFailures: failed, counts };
}
