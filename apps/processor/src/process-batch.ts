import type { KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { backoffDelay } from '@pipeline/batching';
import { PermanentError, type Job } from '@pipeline/job';
import { DEFAULTS } from '@pipeline/limits';
import type { ObjectStore } from '@pipeline/object-store';
import {
  decodeRecord,
  envelopeRun,
  unreadableLine,
  formatIssues,
  type DataEnvelope,
  type DeadLetterEnvelope,
  type DeadLetterReason,
  type Envelope,
  type RecordId,
} from '@pipeline/records';
import { countFailure, parkRecords, type ControlCache, type ParkedRecord } from '@pipeline/run-ledger';
import { PointerError, Spill } from '@pipeline/spill';
import { PutRecordsError, StreamProducer, type PutRecordsPort } from '@pipeline/stream-producer';

export interface ProcessorDeps {
  job: Job;
  putRecords: PutRecordsPort;
  resultsStream: string;
  spill: { store: ObjectStore; bucket: string; prefix: string; thresholdBytes: number };
  control: ControlCache;
  /** The results bucket: records of paused runs are parked there, and failing records counted. */
  parking: { store: ObjectStore; bucket: string };
  /** Invocations a record may fail in before it is dead-lettered as retries-exhausted. */
  recordInvocations?: number;
  recordAttempts?: number;
  sleep?: (ms: number) => Promise<void>;
  log?: (message: string, fields?: Record<string, unknown>) => void;
}

export interface BatchCounts {
  results: number;
  deadLettered: number;
  forwarded: number;
  markers: number;
  parked: number;
  failedFrom?: string;
}

/** A failure that may pass: the record is reported to the event source mapping and retried. */
class TransientRecordError extends Error {
  override readonly name = 'TransientRecordError';
}

const sleepFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Handles one Kinesis batch from the records stream: every record becomes a result or a dead letter
 * on the results stream, in order per slice; end-of-slice markers follow their slice's records.
 *
 * Deterministic failures are dead-lettered and never block the shard. A transient failure stops the
 * batch there: that record and every one after it are reported as failed, so none of them — above
 * all an end-of-slice marker — passes before the record that failed.
 */
export async function processBatch(
  event: KinesisStreamEvent,
  deps: ProcessorDeps,
): Promise<KinesisStreamBatchResponse & { counts: BatchCounts }> {
  const spill = new Spill({ ...deps.spill });
  const out = new StreamProducer({
    streamName: deps.resultsStream,
    port: deps.putRecords,
    aggregateBytes: DEFAULTS.aggregateBytes,
  });
  const counts: BatchCounts = { results: 0, deadLettered: 0, forwarded: 0, markers: 0, parked: 0 };
  const parked = new Map<string, ParkedRecord[]>();
  const records = event.Records;
  let failedAt = records.length;

  eachRecord: for (let i = 0; i < records.length; i++) {
    const record = records[i];
    const partitionKey = record.kinesis.partitionKey;
    const lines = decodeRecord(Buffer.from(record.kinesis.data, 'base64'));
    for (let j = 0; j < lines.length; j++) {
      const line = lines[j];
      let current: { id?: RecordId; envelope?: Envelope } = {};
      try {
        if (!line.ok) {
          await out.add({
            data: await spill.stage(unreadableLine('processor', record, j, line.error, line.bytes)),
            partitionKey,
          });
          counts.deadLettered += 1;
          continue;
        }
        const { envelope, bytes } = line;
        current = { id: 'id' in envelope ? envelope.id : undefined, envelope };
        const run = envelopeRun(envelope);
        if (run && (await deps.control.isPaused(run))) {
          // A record holds one slice's envelopes: park it whole, as it came.
          parked.set(run, [
            ...(parked.get(run) ?? []),
            { partitionKey, sequenceNumber: record.kinesis.sequenceNumber, data: record.kinesis.data },
          ]);
          counts.parked += lines.length - j;
          continue eachRecord;
        }
        switch (envelope.kind) {
          case 'end-of-slice':
            // Barrier: the marker goes out only after everything before it is acknowledged.
            await out.flush();
            await out.add({ data: bytes, partitionKey });
            await out.flush();
            counts.markers += 1;
            break;
          case 'dead-letter':
            await out.add({ data: bytes, partitionKey });
            counts.forwarded += 1;
            break;
          case 'pointer':
          case 'data': {
            if (envelope.kind === 'pointer' && envelope.of !== 'data') {
              // A spilled dead letter passes on as it is; a spilled result does not belong here.
              const letter = envelope.of === 'dead-letter';
              await out.add({ data: letter ? bytes : await spill.stage(misplaced(envelope)), partitionKey });
              counts[letter ? 'forwarded' : 'deadLettered'] += 1;
              break;
            }
            let data: Envelope;
            try {
              data = await spill.resolve(envelope);
            } catch (error) {
              if (!(error instanceof PointerError)) throw error;
              await out.add({
                data: await spill.stage(deadLetter(envelope.id!, error.reason, error.message, envelope)),
                partitionKey,
              });
              counts.deadLettered += 1;
              break;
            }
            const outcome = await processData(data as DataEnvelope, deps);
            await out.add({ data: await spill.stage(outcome), partitionKey });
            counts[outcome.kind === 'result' ? 'results' : 'deadLettered'] += 1;
            break;
          }
          case 'result':
            await out.add({ data: await spill.stage(misplaced(envelope)), partitionKey });
            counts.deadLettered += 1;
            break;
        }
      } catch (error) {
        // The results stream refused a batch after its bounded attempts: that batch held output of
        // earlier records too, so the whole invocation must be retried, not just this record.
        if (error instanceof PutRecordsError) throw error;
        // Anything else not caught as deterministic above may pass (a throttled call, a timeout):
        // retry this record, a bounded number of invocations, then dead-letter it so the shard moves on.
        const message = (error as Error).message;
        if (current.id && (await givenUp(current.id, message, deps))) {
          try {
            await out.add({
              data: await spill.stage(retriesExhausted(current.id, message, current.envelope, deps)),
              partitionKey,
            });
            counts.deadLettered += 1;
            continue;
          } catch (failure) {
            if (failure instanceof PutRecordsError) throw failure;
            // Could not even dead-letter it: report it like any transient failure.
          }
        }
        deps.log?.('transient failure, reporting the rest of the batch', {
          sequenceNumber: record.kinesis.sequenceNumber,
          error: message,
        });
        failedAt = i;
        break eachRecord;
      }
    }
  }

  await out.flush();
  for (const [run, list] of parked) await parkRecords(deps.parking.store, deps.parking.bucket, 'processor', run, list);

  const failed = records.slice(failedAt).map((r) => ({ itemIdentifier: r.kinesis.sequenceNumber }));
  if (failed.length) counts.failedFrom = failed[0].itemIdentifier;
  return { batchItemFailures: failed, counts };
}

async function givenUp(id: RecordId, message: string, deps: ProcessorDeps): Promise<boolean> {
  try {
    const invocations = await countFailure(deps.parking.store, deps.parking.bucket, id, message);
    return invocations >= (deps.recordInvocations ?? DEFAULTS.recordInvocations);
  } catch {
    return false; // the count itself failed: leave the record to the event source mapping's retries
  }
}

function retriesExhausted(
  id: RecordId,
  message: string,
  envelope: Envelope | undefined,
  deps: ProcessorDeps,
): DeadLetterEnvelope {
  const invocations = deps.recordInvocations ?? DEFAULTS.recordInvocations;
  const payload = envelope && envelope.kind === 'data' ? envelope.body : envelope;
  return deadLetter(
    id,
    'retries-exhausted',
    `failed in ${invocations} invocations, last: ${message}`,
    payload,
    invocations,
  );
}

/** Validates, transforms and validates again; returns the result or the dead letter that explains why not. */
async function processData(envelope: DataEnvelope, deps: ProcessorDeps) {
  const { job, id } = { job: deps.job, id: envelope.id };
  const input = job.input.safeParse(envelope.body);
  if (!input.success)
    return deadLetter(
      id,
      'invalid-input',
      `input fails the ${job.name} input schema: ${formatIssues(input.error)}`,
      envelope.body,
    );

  const attempts = deps.recordAttempts ?? DEFAULTS.recordAttempts;
  let output: unknown;
  for (let attempt = 0; ; attempt++) {
    try {
      output = await job.transform(input.data, { id });
      break;
    } catch (error) {
      if (error instanceof PermanentError)
        return deadLetter(id, 'transform-failed', error.message, envelope.body, attempt + 1);
      if (attempt + 1 >= attempts)
        throw new TransientRecordError(`transform failed ${attempts} times: ${(error as Error).message}`);
      await (deps.sleep ?? sleepFor)(
        backoffDelay(attempt, { baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs }),
      );
    }
  }

  const result = job.result.safeParse(output);
  if (!result.success) {
    return deadLetter(
      id,
      'invalid-result',
      `result fails the ${job.name} result schema: ${formatIssues(result.error)}`,
      { input: envelope.body, result: output },
    );
  }
  return { v: 1 as const, kind: 'result' as const, id, body: result.data };
}

function deadLetter(
  id: RecordId,
  reason: DeadLetterReason,
  message: string,
  payload: unknown,
  attempts?: number,
): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    id,
    stage: 'processor',
    reason,
    message,
    payload,
    ...(attempts ? { attempts } : {}),
  };
}

function misplaced(envelope: Envelope & { id?: RecordId }): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    id: envelope.id,
    stage: 'processor',
    reason: 'invalid-envelope',
    message: `a ${envelope.kind} envelope does not belong on the records stream`,
    payload: envelope,
  };
}
