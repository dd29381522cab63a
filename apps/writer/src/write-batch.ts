import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { BatchPacker } from '@pipeline/batching';
import { Deliverer, DeliveryError, type DeliveryPort } from '@pipeline/delivery';
import { FIREHOSE } from '@pipeline/limits';
import { putJson, type ObjectStore } from '@pipeline/object-store';
import {
  decodeRecord,
  envelopeRun,
  unreadableLine,
  largeResultLine,
  LAYOUT,
  resultLine,
  type DeadLetterEnvelope,
  type Envelope,
  type ResultEnvelope,
} from '@pipeline/records';
import {
  markRunDelivered,
  parkRecords,
  type ControlCache,
  type ParkedRecord,
  type RunLedger,
} from '@pipeline/run-ledger';
import { PointerError, Spill } from '@pipeline/spill';

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
  failedFrom?: string;
}

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
  const lines = new BatchPacker<Uint8Array>((line) => line.byteLength, {
    // Firehose de-aggregates at most this many lines of one record; beyond it the record is not split.
    maxCount: FIREHOSE.maxDeaggregatedRecords,
    maxBytes: FIREHOSE.maxRecordBytes,
    maxItemBytes: FIREHOSE.maxRecordBytes,
  });
  const sendLines = async (packed: Uint8Array[] | undefined) => {
    if (packed) await deliverer.add(Buffer.concat(packed));
  };
  const counts: WriteCounts = { delivered: 0, deadLettered: 0, slicesDone: 0, parked: 0 };
  const parked = new Map<string, ParkedRecord[]>();
  const now = deps.now ?? (() => new Date());
  const records = event.Records;
  const slicesDoneIn = new Set<string>();
  let failedAt = records.length;

  const storeDeadLetter = async (letter: DeadLetterEnvelope) => {
    await putJson(deps.store, deps.resultsBucket, LAYOUT.deadLetterKey(letter), {
      ...letter,
      recordedAt: now().toISOString(),
    });
    counts.deadLettered += 1;
  };

  eachRecord: for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const unpacked = decodeRecord(Buffer.from(record.kinesis.data, 'base64'));
    for (let j = 0; j < unpacked.length; j++) {
      const line = unpacked[j];
      try {
        if (!line.ok) {
          await storeDeadLetter(unreadableLine('writer', record, j, line.error, line.bytes));
          continue;
        }
        let envelope: Envelope = line.envelope;
        const run = envelopeRun(envelope);
        if (run && (await deps.control.isPaused(run))) {
          // A record holds one slice's envelopes: park it whole, as it came.
          const list = parked.get(run) ?? [];
          list.push({
            partitionKey: record.kinesis.partitionKey,
            sequenceNumber: record.kinesis.sequenceNumber,
            data: record.kinesis.data,
          });
          parked.set(run, list);
          counts.parked += unpacked.length - j;
          continue eachRecord;
        }
        if (envelope.kind === 'pointer') {
          const pointer = envelope;
          try {
            envelope = await spill.resolve(pointer);
          } catch (error) {
            if (!(error instanceof PointerError)) throw error;
            await storeDeadLetter({
              v: 1,
              kind: 'dead-letter',
              id: pointer.id,
              stage: 'writer',
              reason: error.reason,
              message: error.message,
              payload: pointer,
            });
            continue;
          }
        }
        switch (envelope.kind) {
          case 'result':
            await sendLines(lines.add(await lineFor(envelope, deps)));
            counts.delivered += 1;
            break;
          case 'dead-letter':
            await storeDeadLetter(envelope);
            break;
          case 'end-of-slice':
            // Barrier: the slice is done only once everything before its marker is delivered.
            await sendLines(lines.drain());
            await deliverer.flush();
            await deps.ledger.markSliceDone({
              run: envelope.run,
              slice: envelope.slice,
              count: envelope.count,
              at: now().toISOString(),
            });
            counts.slicesDone += 1;
            slicesDoneIn.add(envelope.run);
            break;
          default:
            await storeDeadLetter({
              v: 1,
              kind: 'dead-letter',
              id: envelope.id,
              stage: 'writer',
              reason: 'invalid-envelope',
              message: `a ${envelope.kind} envelope does not belong on the results stream`,
              payload: envelope,
            });
        }
      } catch (error) {
        // Firehose refused a batch after its bounded attempts: it held results of earlier records
        // too, so the whole invocation must be retried, not just this record.
        if (error instanceof DeliveryError) throw error;
        deps.log?.('transient failure, reporting the rest of the batch', {
          sequenceNumber: record.kinesis.sequenceNumber,
          error: (error as Error).message,
        });
        failedAt = i;
        break eachRecord;
      }
    }
  }

  await sendLines(lines.drain());
  await deliverer.flush();
  for (const run of slicesDoneIn) await completeIfDone(run, deps, now);
  for (const [run, list] of parked) await parkRecords(deps.store, deps.resultsBucket, 'writer', run, list);

  const failed = records.slice(failedAt).map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber }));
  if (failed.length) counts.failedFrom = failed[0].itemIdentifier;
  return { batchItemFailures: failed, counts };
}

/**
 * When a run's last slice is done, records that its output was handed to Firehose:
 * runs/<run>/delivered.json. The run is not complete yet — Firehose delivers up to 1.5 buffer
 * intervals later — the finisher completes it once the output is in S3. Checked once per batch
 * that finished a slice, with one listing.
 */
async function completeIfDone(run: string, deps: WriterDeps, now: () => Date): Promise<void> {
  if (!(await deps.ledger.allSlicesDone(run))) return;
  await markRunDelivered(deps.store, deps.resultsBucket, run, now());
}

/** The output line for a result; a result too large for a Firehose record is stored whole and referenced. */
async function lineFor(envelope: ResultEnvelope, deps: WriterDeps): Promise<Uint8Array> {
  const line = encoder.encode(resultLine(envelope.id, envelope.body));
  if (line.byteLength <= FIREHOSE.maxRecordBytes) return line;
  const key = LAYOUT.largeResultKey(envelope.id);
  await putJson(deps.store, deps.resultsBucket, key, envelope.body);
  return encoder.encode(largeResultLine(envelope.id, key));
}
