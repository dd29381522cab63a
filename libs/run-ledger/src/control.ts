import { DEFAULTS } from '@pipeline/limits';
import { getJson, putJson, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT, type RecordId } from '@pipeline/records';
import type { RunLedger } from './ledger';

/**
 * A stage's view of the kill switch: whether a run is paused, read at most once per
 * `controlCacheMs` per run, so checking it costs one GET per run every few seconds, not per record.
 */
export class ControlCache {
  private readonly seen = new Map<string, { paused: boolean; at: number }>();

  constructor(
    private readonly ledger: Pick<RunLedger, 'getControl'>,
    private readonly ttlMs: number = DEFAULTS.controlCacheMs,
    private readonly clock: () => number = Date.now,
  ) {}

  async isPaused(run: string): Promise<boolean> {
    const cached = this.seen.get(run);
    if (cached && this.clock() - cached.at < this.ttlMs) return cached.paused;
    const paused = (await this.ledger.getControl(run))?.state === 'paused';
    this.seen.set(run, { paused, at: this.clock() });
    return paused;
  }
}

/**
 * Counts the invocations in which a record failed transiently, so that a poison pill is given up on
 * after a bounded number of them. Only failing records cost a write.
 */
export async function countFailure(store: ObjectStore, bucket: string, id: RecordId, message: string): Promise<number> {
  const key = LAYOUT.failuresKey(id);
  const previous = await getJson<{ invocations: number }>(store, bucket, key);
  const invocations = (previous?.invocations ?? 0) + 1;
  await putJson(store, bucket, key, { invocations, lastError: message, at: new Date().toISOString() });
  return invocations;
}

/** A stream record as it was delivered, kept whole so it can be put back on its stream unchanged. */
export interface ParkedRecord {
  partitionKey: string;
  sequenceNumber: string;
  /** base64, as in the Kinesis event. */
  data: string;
}

export type ParkingStage = 'processor' | 'writer';

export const parkedPrefix = (run: string, stage?: ParkingStage) => `runs/${run}/parked/${stage ? `${stage}/` : ''}`;

/**
 * Records of a paused run that reached a stage are parked in one object per batch, so other runs on
 * the same shard go on; resuming puts them back on the stream they came from, in order.
 */
export async function parkRecords(
  store: ObjectStore,
  bucket: string,
  stage: ParkingStage,
  run: string,
  records: ParkedRecord[],
): Promise<void> {
  if (!records.length) return;
  const first = records[0].sequenceNumber.padStart(56, '0');
  await putJson(store, bucket, `${parkedPrefix(run, stage)}${first}.json`, { run, stage, records });
}
