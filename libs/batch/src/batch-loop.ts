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
  handle(envelope: StageEnvelope, at: Line): Promise<void> | void;
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

  const checked = (envelope: StageEnvelope, at: Line): Promise<void> | void => {
    if (stage.checkSeals && envelope.id) {
      const id = envelope.id;
      if (claims.known(id.run) === undefined) return claims.facts(id.run).then(() => checked(envelope, at));
      const forgery = claims.forgery(id, at.bytes);
      if (forgery) {
        counts.forged += 1;
        return deadLetter(forgedRecord(stage.name, at.record, at.line, id, forgery, at.bytes), at.partitionKey);
      }
    }
    return stage.handle(envelope, at);
  };

  const pointer = async (envelope: PointerEnvelope, at: Line) => {
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
    await checked(opened.envelope as StageEnvelope, { ...at, bytes: opened.bytes, pointer: envelope });
  };

  const dispatch = (envelope: Envelope, at: Line): Promise<void> | void => {
    if (envelope.kind === 'end-of-slice') return marker(envelope, at);
    if (envelope.kind === 'pointer') return pointer(envelope, at);
    return checked(envelope, at);
  };

  eachRecord: for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const partitionKey = record.kinesis.partitionKey;
    let lines: { envelope: Envelope; bytes: Uint8Array }[];
    try {
      const decoded = decodeStreamRecord(Buffer.from(record.kinesis.data, 'base64'));
      if (!decoded.ok) {
        // Not ours as a whole: one dead letter with every byte, not one per 0x0A in it.
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
      try {
        const pending = dispatch(envelope, at);
        if (pending) await pending;
      } catch (error) {
        if (stage.isFatal(error)) throw error;
        if (await settle(error as Error, envelope, at)) continue;
        ports.log?.('transient failure, reporting the rest of the batch', {
          sequenceNumber: record.kinesis.sequenceNumber,
          error: (error as Error).message,
        });
        failedAt = i;
        break eachRecord;
      }
    }
  }

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
