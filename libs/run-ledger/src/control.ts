import { DEFAULTS } from '@pipeline/limits';
import { putJson, type ObjectStore } from '@pipeline/object-store';
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
