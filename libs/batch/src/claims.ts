import {
  hasValidSeal,
  originOf,
  type DeadLetterEnvelope,
  type EndOfSliceEnvelope,
  type RecordId,
  type Stage,
} from '@pipeline/records';
import type { RunManifest, SliceRead } from '@pipeline/run-ledger';

/** What the checks read from the run ledger: a manifest per run, a read marker per slice. */
export interface ClaimsLedger {
  getManifest(run: string): Promise<RunManifest | undefined>;
  getSliceRead(run: string, slice: string): Promise<SliceRead | undefined>;
}

interface RunFacts {
  manifest: RunManifest;
  slices: Set<string>;
}

/**
 * Checks what records on a stream claim, against what the reader recorded. Everything it reads is
 * cached for the invocation: one manifest GET per run, one read-marker GET per slice whose marker
 * arrives — per slice, never per record.
 */
export class Claims {
  /** null: the run has no manifest. */
  private readonly runs = new Map<string, RunFacts | null>();
  private readonly reads = new Map<string, Promise<SliceRead | undefined>>();

  constructor(private readonly ledger: ClaimsLedger) {}

  /** The run's manifest facts, synchronously once looked up (null: no manifest); undefined before. */
  known(run: string): RunFacts | null | undefined {
    return this.runs.get(run);
  }

  /** Looks the run's manifest up (once per invocation). Null when the run has none. */
  async facts(run: string): Promise<RunFacts | null> {
    const known = this.known(run);
    if (known !== undefined) return known;
    const manifest = await this.ledger.getManifest(run);
    const facts = manifest ? { manifest, slices: new Set(manifest.slices.map((s) => s.id)) } : null;
    this.runs.set(run, facts);
    return facts;
  }

  /**
   * Why a record claiming `id` was not put by the run's reader, or undefined when it was (or the run
   * predates seals). `bytes` are the envelope's bytes as the reader put them (for a pointer, the
   * spilled object's). Call `facts(id.run)` first.
   */
  forgery(id: RecordId, bytes: Uint8Array): string | undefined {
    const facts = this.known(id.run);
    if (!facts) return `run ${id.run} has no manifest: no reader put this record`;
    const key = facts.manifest.runKey;
    if (key === undefined || hasValidSeal(bytes, key)) return undefined;
    return `the record claims id ${id.run}/${id.slice}/${id.pos} but does not carry the seal of run ${id.run}'s reader`;
  }

  /**
   * Why an end-of-slice marker cannot be true, or undefined when it can: it must arrive on its
   * slice's own partition key, for a slice of the run's manifest (or a redrive's, or a chain's link) that the reader has
   * finished, with the count the reader recorded.
   */
  async markerProblem(marker: EndOfSliceEnvelope, partitionKey: string): Promise<string | undefined> {
    const own = `${marker.run}/${marker.slice}`;
    if (partitionKey !== own)
      return `end-of-slice marker for ${own} arrived on partition key "${partitionKey}", not its slice's`;
    const facts = await this.facts(marker.run);
    if (!facts) return `end-of-slice marker for run ${marker.run}, which has no manifest`;
    const cacheKey = own;
    let reading = this.reads.get(cacheKey);
    if (!reading) {
      reading = this.ledger.getSliceRead(marker.run, marker.slice);
      this.reads.set(cacheKey, reading);
    }
    const read = await reading;
    // A chain's later links are not in its manifest: the link before names each in its read marker, and the
    // reader writes a link's own read marker (with its `next`) only once it has read it.
    const chainLink = facts.manifest.chain === true && read?.next !== undefined;
    if (!facts.slices.has(marker.slice) && !read?.redrive && !chainLink)
      return `end-of-slice marker for slice ${marker.slice}, which is not in run ${marker.run}'s manifest`;
    if (!read)
      return `end-of-slice marker for slice ${marker.slice} of run ${marker.run}, which the reader has not finished (no read marker)`;
    if (read.count !== marker.count)
      return `end-of-slice marker for slice ${marker.slice} of run ${marker.run} claims ${marker.count} records, the reader recorded ${read.count}`;
    return undefined;
  }
}

type StreamRecordRef = { eventSourceARN?: string; kinesis: { partitionKey: string; sequenceNumber: string } };

/** The dead letter of a marker that cannot be true: filed under the run it claims, counted in no run. */
export function rejectedMarker(
  stage: Stage,
  record: StreamRecordRef,
  line: number,
  marker: EndOfSliceEnvelope,
  message: string,
): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    run: marker.run,
    origin: originOf(record, line),
    stage,
    reason: 'rejected-marker',
    message,
    payload: marker,
  };
}

/**
 * The dead letter of a record its run's reader did not put: it carries no id (so it is never
 * counted as one of the run's records, nor overwrites one's dead letter) but the run it claimed.
 */
export function forgedRecord(
  stage: Stage,
  record: StreamRecordRef,
  line: number,
  id: RecordId,
  message: string,
  bytes: Uint8Array,
): DeadLetterEnvelope {
  return {
    v: 1,
    kind: 'dead-letter',
    run: id.run,
    origin: originOf(record, line),
    stage,
    reason: 'forged-record',
    message,
    payload: Buffer.from(bytes).toString('base64'),
  };
}
