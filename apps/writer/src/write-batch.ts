import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { runBatch, type BatchStage } from '@pipeline/batch';
import { BatchPacker } from '@pipeline/batching';
import { Deliverer, DeliveryError, type DeliveryPort } from '@pipeline/delivery';
import { FIREHOSE } from '@pipeline/limits';
import { putJson, type ObjectStore } from '@pipeline/object-store';
import {
  largeResultLine,
  LAYOUT,
  resultLine,
  UnencodableError,
  type DeadLetterEnvelope,
  type ResultEnvelope,
} from '@pipeline/records';
import { markRunDelivered, parkRecords, type ControlCache, type RunLedger } from '@pipeline/run-ledger';
import { Spill } from '@pipeline/spill';

export interface WriterDeps {
  deliver: DeliveryPort;
  deliveryStream: string;
  /** The results bucket: dead letters, large results, slice markers and parked records. */
  store: ObjectStore;
  resultsBucket: string;
  ledger: RunLedger;
  spill: { store: ObjectStore; bucket: string; prefix: string; thresholdBytes: number };
  control: ControlCache;
  now?: () => Date;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface WriteCounts {
  delivered: number;
  deadLettered: number;
  slicesDone: number;
  parked: number;
  /** End-of-slice markers that could not be true, stored as rejected-marker dead letters. */
  rejectedMarkers: number;
  failedFrom?: string;
}

/** How result lines are packed into Firehose records: the one place for the packer's options. */
export const LINE_PACKING = {
  // Firehose de-aggregates at most this many lines of one record; beyond it the record is not split.
  maxCount: FIREHOSE.maxDeaggregatedRecords,
  maxBytes: FIREHOSE.maxRecordBytes,
  maxItemBytes: FIREHOSE.maxRecordBytes,
} as const;

const encoder = new TextEncoder();

/**
 * Handles one Kinesis batch from the results stream: results are delivered through Firehose,
 * dead letters are stored under their run and reason, and an end-of-slice marker — once everything
 * before it is delivered — records its slice as done.
 *
 * Result lines are packed several to a Firehose record (up to its 1,000 KiB limit and 500 lines): Firehose bills
 * ingestion per record in 5 KB steps, so packing small results cuts that cost many times over.
 */
export async function writeBatch(
  event: KinesisStreamEvent,
  deps: WriterDeps,
): Promise<KinesisStreamBatchResponse & { counts: WriteCounts }> {
  const spill = new Spill({ ...deps.spill });
  const deliverer = new Deliverer({ deliveryStreamName: deps.deliveryStream, port: deps.deliver });
  const lines = new BatchPacker<Uint8Array>((line) => line.byteLength, LINE_PACKING);
  const sendLines = async (packed: Uint8Array[] | undefined) => {
    if (packed) await deliverer.add(Buffer.concat(packed));
  };
  const counts = { delivered: 0, slicesDone: 0, stored: 0 };
  const now = deps.now ?? (() => new Date());
  const slicesDoneIn = new Set<string>();

  const storeDeadLetter = (letter: DeadLetterEnvelope) => {
    let body: string;
    try {
      body = JSON.stringify({ ...letter, recordedAt: now().toISOString() });
    } catch (error) {
      // Deterministic: the loop stores it again as `unencodable`, with the line as text.
      throw new UnencodableError(`cannot be encoded as JSON: ${(error as Error).message}`);
    }
    return deps.store.put(deps.resultsBucket, LAYOUT.deadLetterKey(letter), body);
  };

  const stage: BatchStage = {
    name: 'writer',
    // Results come from the processor alone; the records stream's seals were checked there.
    checkSeals: false,
    async handle(envelope) {
      switch (envelope.kind) {
        case 'result':
          await sendLines(lines.add(await lineFor(envelope, deps)));
          counts.delivered += 1;
          return;
        case 'dead-letter':
          await storeDeadLetter(envelope);
          counts.stored += 1;
          return;
        default:
          await stage.deadLetter(
            {
              v: 1,
              kind: 'dead-letter',
              id: envelope.id,
              stage: 'writer',
              reason: 'invalid-envelope',
              message: `a ${envelope.kind} envelope does not belong on the results stream`,
              payload: envelope,
            },
            { partitionKey: '' },
          );
          counts.stored += 1;
      }
    },
    deadLetter: (letter) => storeDeadLetter(letter),
    // Barrier: the slice is done only once everything before its marker is delivered.
    async barrier() {
      await sendLines(lines.drain());
      await deliverer.flush();
    },
    async sliceEnd(marker) {
      // The first marker that can be true wins: a later one (a replay, a redelivery) rewrites nothing.
      if (await deps.ledger.getSliceDone(marker.run, marker.slice)) return;
      await deps.ledger.markSliceDone({
        run: marker.run,
        slice: marker.slice,
        count: marker.count,
        at: now().toISOString(),
      });
      counts.slicesDone += 1;
      slicesDoneIn.add(marker.run);
    },
    park: (run, records) => parkRecords(deps.store, deps.resultsBucket, 'writer', run, records),
    // Firehose refused a batch after its bounded attempts: it held results of earlier records too,
    // so the whole invocation must be retried, not just this record.
    isFatal: (error) => error instanceof DeliveryError,
    async finish() {
      await sendLines(lines.drain());
      await deliverer.flush();
    },
  };

  const { batchItemFailures, counts: loop } = await runBatch(event, stage, {
    spill,
    ledger: deps.ledger,
    control: deps.control,
    log: deps.log,
  });
  for (const run of slicesDoneIn) await completeIfDone(run, deps, now);

  return {
    batchItemFailures,
    counts: {
      delivered: counts.delivered,
      deadLettered: counts.stored + loop.deadLettered,
      slicesDone: counts.slicesDone,
      parked: loop.parked,
      rejectedMarkers: loop.rejectedMarkers,
      ...(loop.failedFrom ? { failedFrom: loop.failedFrom } : {}),
    },
  };
}

/**
 * When a run's last slice is done, records that its output was handed to Firehose:
 * runs/<run>/delivered.json. The run is not complete yet — Firehose delivers up to 1.5 buffer
 * intervals later — the finisher completes it once the output is in S3. Checked once per batch
 * that finished a slice, reading on from where the last check stopped (never a listing of the run).
 */
async function completeIfDone(run: string, deps: WriterDeps, now: () => Date): Promise<void> {
  if (!(await deps.ledger.allSlicesDone(run))) return;
  await markRunDelivered(deps.store, deps.resultsBucket, run, now());
}

/** The output line for a result; a result too large for a Firehose record is stored whole and referenced. */
async function lineFor(envelope: ResultEnvelope, deps: WriterDeps): Promise<Uint8Array> {
  let text: string;
  try {
    text = resultLine(envelope.id, envelope.body);
  } catch (error) {
    throw new UnencodableError(`cannot be encoded as JSON: ${(error as Error).message}`);
  }
  const line = encoder.encode(text);
  if (line.byteLength <= FIREHOSE.maxRecordBytes) return line;
  const key = LAYOUT.largeResultKey(envelope.id);
  await putJson(deps.store, deps.resultsBucket, key, envelope.body);
  return encoder.encode(largeResultLine(envelope.id, key));
}
