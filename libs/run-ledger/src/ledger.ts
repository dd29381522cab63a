import { randomUUID } from 'node:crypto';
import { getJson, putJson, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { sliceId } from '@pipeline/slices';
import { knownSlices, linksRead } from './chain';
import { type DeliveryState, deliveryState, type RunStalled } from './finish';

/** What a run reads: the planned slices, frozen when the run is first triggered. */
export interface RunManifest<Slice extends { id: string } = { id: string }> {
  runId: string;
  job: string;
  createdAt: string;
  /** Where an S3 objects source was read from; absent for the other kinds of source. */
  source?: { bucket: string; prefix: string };
  /** The kind of the job's source (`objects`, `ids`, `pages`, `cursor`, `custom`); absent in runs planned before kinds. */
  sourceKind?: string;
  /** Every slice of the run; for a chain, only its first link (see `chain`). */
  slices: Slice[];
  /**
   * True for a chain (cursor pages): the slice count is unknown when the run is planned, and each
   * link's read marker names the next (see `knownSlices`). Absent: `slices` is the whole plan.
   */
  chain?: boolean;
  /**
   * The run's secret: the reader seals every record it puts with it, so a record claiming one of the
   * run's ids that the reader did not put is told apart (see `sealEnvelopeBytes`). Absent in runs
   * planned before seals; their records are not checked.
   */
  runKey?: string;
  /** The job's tolerated failures when the run was planned (see Job.toleratedFailures). */
  toleratedFailures?: { count?: number; percentage?: number };
}

/**
 * Written by the reader once every record of a slice is on the stream, just before it puts the
 * slice's end-of-slice marker: the authority a marker is checked against.
 */
export interface SliceRead {
  run: string;
  slice: string;
  /** Positions read: data records plus rows the reader dead-lettered (malformed or unencodable). */
  count: number;
  /** Rows the reader dead-lettered: malformed, or parsed but unencodable. */
  malformed: number;
  spilled: number;
  at: string;
  /** Set by the operator's redrive, whose slice is its own and not in the manifest. */
  redrive?: boolean;
  /**
   * Chain runs only: the next link (its slice, with its starting cursor), written with this marker
   * so it is durable before this slice counts as read; null when this slice ends the chain.
   */
  next?: { id: string } | null;
  /**
   * A random id of the write that recorded the marker (see `claimSliceRead`): a reader whose
   * conditional PUT's answer was lost tells its own marker from another reader's.
   */
  claim?: string;
}

/** Written by the writer when a slice's end-of-slice marker arrives: everything before it was handled. */
export interface SliceDone {
  run: string;
  slice: string;
  count: number;
  at: string;
}

/** runs/<run>/done-through.json: the first `slices` planned slices, in plan order, have done markers. */
export interface DoneThrough {
  run: string;
  slices: number;
}

const MANIFESTS_KEPT = 4;

export type RunState = 'running' | 'paused';
export interface RunControl {
  state: RunState;
  at: string;
  reason?: string;
}

export interface SliceProgress {
  id: string;
  read?: SliceRead;
  done?: SliceDone;
}

export interface RunStatus {
  runId: string;
  manifest?: RunManifest;
  control?: RunControl;
  slices: SliceProgress[];
  /** A chain run whose last link is not known yet: more slices will follow, the run cannot be complete. */
  chainOpen?: boolean;
  slicesRead: number;
  slicesDone: number;
  /** Positions read so far, from the reader's read markers (never from what a marker on a stream claims). */
  read: number;
  /** Complete means the output is in S3 and conserved (the finisher wrote complete.json), not just every slice done. */
  complete: boolean;
  delivery: DeliveryState;
  stalled?: RunStalled;
}

/**
 * A run's bookkeeping in the results bucket: a manifest per run and a marker per slice, never a
 * row per record.
 *
 * @example
 * const ledger = new RunLedger(store, 'results-bucket');
 * const { manifest, created } = await ledger.createManifest(planned);
 */
export class RunLedger {
  private readonly manifests = new Map<string, Promise<RunManifest | undefined>>();

  constructor(
    readonly store: ObjectStore,
    readonly bucket: string,
  ) {}

  /**
   * The run's manifest. It is frozen once written (createManifest never rewrites it), so a found
   * manifest is kept: a warm processor or writer reads a run's manifest once, not once per batch
   * (at 12,000 slices it is a few MB).
   */
  async getManifest<S extends { id: string }>(run: string): Promise<RunManifest<S> | undefined> {
    return (await this.frozenManifest(run)) as RunManifest<S> | undefined;
  }

  /**
   * Creates the manifest unless the run already has one; a repeated trigger gets the first plan back.
   * The PUT is conditional (If-None-Match): of two readers planning one run at once, the first plan
   * is kept and the other reader reads it back, so every record of the run is sealed with one key.
   * A 412 is read back and compared: the SDK retries a PUT whose answer was lost, and the retry meets
   * this call's own manifest (a planned manifest is unique by its random run key).
   */
  async createManifest<S extends { id: string }>(
    manifest: RunManifest<S>,
  ): Promise<{ manifest: RunManifest<S>; created: boolean }> {
    const existing = await this.getManifest<S>(manifest.runId);
    if (existing) return { manifest: existing, created: false };
    const key = LAYOUT.manifestKey(manifest.runId);
    const body = JSON.stringify(manifest);
    if (await this.store.putIfAbsent(this.bucket, key, body)) return { manifest, created: true };
    const kept = await this.store.get(this.bucket, key);
    if (kept === undefined) throw new Error(`run ${manifest.runId}: S3 refused the manifest as existing, but has none`);
    const text = Buffer.from(kept).toString('utf8');
    return { manifest: JSON.parse(text) as RunManifest<S>, created: text === body };
  }

  /** Writes a read marker whatever is there: the operator's redrive, and tests. The reader claims (claimSliceRead). */
  markSliceRead(read: SliceRead): Promise<void> {
    return putJson(this.store, this.bucket, LAYOUT.sliceReadKey(read.run, read.slice), read);
  }

  /**
   * Marks a slice read unless it already is (a conditional PUT, If-None-Match): true when this
   * call's marker is the one kept. Two readers of one run at once (a schedule firing while a
   * hand-triggered reader runs) may both read the open slice: the first marker wins and is never
   * replaced, and the other reader learns that it read the slice twice. A 412 is read back: the SDK
   * retries a PUT whose answer was lost, and the retry meets the marker the first try wrote, which
   * carries this call's random claim id.
   */
  async claimSliceRead(read: SliceRead): Promise<boolean> {
    const claim = randomUUID();
    const key = LAYOUT.sliceReadKey(read.run, read.slice);
    if (await this.store.putIfAbsent(this.bucket, key, JSON.stringify({ ...read, claim } satisfies SliceRead)))
      return true;
    return (await this.getSliceRead(read.run, read.slice))?.claim === claim;
  }

  getSliceRead(run: string, slice: string): Promise<SliceRead | undefined> {
    return getJson<SliceRead>(this.store, this.bucket, LAYOUT.sliceReadKey(run, slice));
  }

  getSliceDone(run: string, slice: string): Promise<SliceDone | undefined> {
    return getJson<SliceDone>(this.store, this.bucket, LAYOUT.sliceDoneKey(run, slice));
  }

  markSliceDone(done: SliceDone): Promise<void> {
    return putJson(this.store, this.bucket, LAYOUT.sliceDoneKey(done.run, done.slice), done);
  }

  getControl(run: string): Promise<RunControl | undefined> {
    return getJson<RunControl>(this.store, this.bucket, LAYOUT.controlKey(run));
  }

  setControl(run: string, control: RunControl): Promise<void> {
    return putJson(this.store, this.bucket, LAYOUT.controlKey(run), control);
  }

  /** The slices whose read markers exist. */
  async slicesRead(run: string): Promise<Map<string, SliceRead>> {
    return (await this.markers(run)).read;
  }

  /**
   * The slices whose read and done markers exist, from one listing (no marker is read): what a
   * reader resuming a run needs, at ⌈2S / 1,000⌉ LISTs instead of 2S GETs.
   */
  async markerIds(run: string): Promise<{ read: Set<string>; done: Set<string> }> {
    const ids = { read: new Set<string>(), done: new Set<string>() };
    for await (const object of this.store.list(this.bucket, LAYOUT.slicesPrefix(run))) {
      const match = /\/slices\/([^/]+)\/(read|done)\.json$/.exec(object.key);
      if (match) ids[match[2] as 'read' | 'done'].add(match[1]);
    }
    return ids;
  }

  /** The slices whose done markers exist, from one listing (no marker is read). */
  async slicesDone(run: string): Promise<Set<string>> {
    const done = new Set<string>();
    for await (const object of this.store.list(this.bucket, LAYOUT.slicesPrefix(run))) {
      const match = /\/slices\/([^/]+)\/done\.json$/.exec(object.key);
      if (match) done.add(match[1]);
    }
    return done;
  }

  /**
   * Whether every planned slice has its done marker. The writer asks after each batch that finished
   * a slice, so the check must not list the run: it resumes where the last check stopped
   * (runs/<run>/done-through.json, a count of planned slices in plan order known done) and reads
   * done markers forward until the first missing one. Done markers are never removed, so a stale or
   * lost resume point costs reads, never a wrong answer; and the check that follows the last slice's
   * done marker sees every marker (S3 reads after writes are strongly consistent). Over a run, with
   * M checks: at most 2M + S reads and M writes when checks do not overlap (S planned slices);
   * overlapping checks (concurrent writers) may read the same stretch again.
   */
  async allSlicesDone(run: string): Promise<boolean> {
    const plan = await this.frozenManifest(run);
    if (!plan || plan.slices.length === 0) return false;
    const key = LAYOUT.doneThroughKey(run);
    const from = (await getJson<DoneThrough>(this.store, this.bucket, key))?.slices ?? 0;
    if (plan.chain) return this.allLinksDone(run, from);
    let through = Math.min(from, plan.slices.length);
    while (through < plan.slices.length && (await this.getSliceDone(run, plan.slices[through].id))) through += 1;
    if (through > from) await putJson(this.store, this.bucket, key, { run, slices: through } satisfies DoneThrough);
    return through === plan.slices.length;
  }

  /**
   * A chain's allSlicesDone: links `sliceId(0…)` in order, from the resume point, then the last done
   * link's read marker says whether it ended the chain (one GET more a check than a planned run).
   */
  private async allLinksDone(run: string, from: number): Promise<boolean> {
    let through = from;
    while (await this.getSliceDone(run, sliceId(through))) through += 1;
    if (through > from)
      await putJson(this.store, this.bucket, LAYOUT.doneThroughKey(run), {
        run,
        slices: through,
      } satisfies DoneThrough);
    if (through === 0) return false;
    return (await this.getSliceRead(run, sliceId(through - 1)))?.next === null;
  }

  /**
   * A chain run's link to read next, from one listing's read-marker ids and the last read link's
   * marker (links are read in order, one at a time): null when the chain is closed.
   */
  async openLink<S extends { id: string }>(
    run: string,
    manifest: RunManifest<S>,
    readIds: ReadonlySet<string>,
  ): Promise<{ read: number; next: S | null }> {
    const read = linksRead(readIds);
    if (read === 0) return { read, next: manifest.slices[0] ?? null };
    const last = await this.getSliceRead(run, sliceId(read - 1));
    if (last?.next === undefined)
      throw new Error(
        `run ${run} is a chain, but the read marker of its link ${sliceId(read - 1)} names no next link: was it written by a reader of another version?`,
      );
    return { read, next: last.next as unknown as S | null };
  }

  /**
   * A run's manifest, kept once found: it is frozen when the run is planned (a warm function reads it
   * once per run). Concurrent batches share one read; a run not planned yet is looked up again.
   */
  private frozenManifest(run: string): Promise<RunManifest | undefined> {
    const known = this.manifests.get(run);
    if (known) return known;
    const read = getJson<RunManifest>(this.store, this.bucket, LAYOUT.manifestKey(run)).then((manifest) => {
      if (!manifest) this.manifests.delete(run);
      return manifest;
    });
    read.catch(() => this.manifests.delete(run));
    // A warm writer sees few runs; keep the latest handful.
    if (this.manifests.size >= MANIFESTS_KEPT) this.manifests.delete(this.manifests.keys().next().value as string);
    this.manifests.set(run, read);
    return read;
  }

  /**
   * How many planned slices are read and done, from the manifest and one listing of the markers:
   * cheap enough to poll while a run goes on (status reads every marker).
   */
  async progress(
    run: string,
    manifest?: RunManifest,
  ): Promise<{ planned: number; read: number; done: number; chainOpen?: boolean }> {
    const plan = manifest ?? (await this.getManifest(run));
    if (!plan) return { planned: 0, read: 0, done: 0 };
    if (plan.chain) return this.chainProgress(run, plan);
    const planned = new Set(plan.slices.map((s) => s.id));
    const counts = { planned: planned.size, read: 0, done: 0 };
    for await (const object of this.store.list(this.bucket, LAYOUT.slicesPrefix(run))) {
      const match = /\/slices\/([^/]+)\/(read|done)\.json$/.exec(object.key);
      if (match && planned.has(match[1])) counts[match[2] as 'read' | 'done'] += 1;
    }
    return counts;
  }

  /** progress() of a chain: the links known so far (one more than read while it is open), plus one GET. */
  private async chainProgress(run: string, plan: RunManifest) {
    const ids = await this.markerIds(run);
    const read = linksRead(ids.read);
    let done = 0;
    while (done < read && ids.done.has(sliceId(done))) done += 1;
    const open = (await this.openLink(run, plan, ids.read)).next !== null;
    return { planned: open ? read + 1 : read, read, done, ...(open ? { chainOpen: true } : {}) };
  }

  async status(run: string): Promise<RunStatus> {
    const [manifest, control, markers, delivery] = await Promise.all([
      this.getManifest(run),
      this.getControl(run),
      this.markers(run),
      deliveryState(this.store, this.bucket, run),
    ]);
    const known = manifest ? knownSlices(manifest, (id) => markers.read.get(id)) : { slices: [], open: false };
    const slices = known.slices.map((s) => ({
      id: s.id,
      read: markers.read.get(s.id),
      done: markers.done.get(s.id),
    }));
    const slicesRead = slices.filter((s) => s.read).length;
    const slicesDone = slices.filter((s) => s.done).length;
    return {
      runId: run,
      manifest,
      control,
      slices,
      ...(known.open ? { chainOpen: true } : {}),
      slicesRead,
      slicesDone,
      read: slices.reduce((sum, s) => sum + (s.read?.count ?? 0), 0),
      complete: delivery.state === 'complete',
      delivery: delivery.state,
      stalled: delivery.stalled,
    };
  }

  private async markers(run: string): Promise<{ read: Map<string, SliceRead>; done: Map<string, SliceDone> }> {
    const read = new Map<string, SliceRead>();
    const done = new Map<string, SliceDone>();
    const prefix = LAYOUT.slicesPrefix(run);
    const keys: string[] = [];
    for await (const object of this.store.list(this.bucket, prefix)) keys.push(object.key);
    // Markers are small and listed once per status call: read them a few at a time.
    for (let i = 0; i < keys.length; i += 16) {
      await Promise.all(
        keys.slice(i, i + 16).map(async (key) => {
          const value = await getJson<SliceRead & SliceDone>(this.store, this.bucket, key);
          if (!value) return;
          if (key.endsWith('/read.json')) read.set(value.slice, value);
          else if (key.endsWith('/done.json')) done.set(value.slice, value);
        }),
      );
    }
    return { read, done };
  }
}
