import type { DeadLetterEnvelope, RecordId } from './envelope';
import { recordIdString } from './envelope';

/**
 * Where Lambda writes on-failure records in an S3 destination (the failures bucket): what the event
 * source mappings gave up on, `aws/lambda/<mapping UUID>/<shard>/YYYY/MM/DD/<time>-<UUID>`, one object per batch.
 */
export const ON_FAILURE_PREFIX = 'aws/lambda/';

/**
 * Where a run's objects live in the results bucket. One function per kind of object, so that the
 * writer that puts an object and the command that lists it can never disagree on a key.
 */
export const LAYOUT = {
  /** Firehose delivers result lines under this prefix, partitioned by run. */
  resultsPrefix: (run: string) => `results/run=${run}/`,
  /** Firehose's own error output prefix. */
  deliveryErrorsPrefix: 'delivery-errors/',
  /** Results too large for one Firehose record are written whole here; the delivered line points at them. */
  largeResultKey: (id: RecordId) => `large-results/run=${id.run}/${id.slice}/${id.pos}.json`,
  deadLettersPrefix: (run?: string, reason?: string) =>
    `dead-letters/${run === undefined ? '' : `run=${run}/${reason === undefined ? '' : `reason=${reason}/`}`}`,
  deadLetterKey(letter: DeadLetterEnvelope): string {
    const run = letter.id?.run ?? letter.run ?? 'unattributed';
    const name = letter.id
      ? `${letter.id.slice}/${letter.id.pos}`
      : `origin/${encodeURIComponent(letter.origin?.partitionKey ?? 'unknown')}-${letter.origin?.sequenceNumber ?? 'unknown'}${letter.origin?.line ? `-${letter.origin.line}` : ''}`;
    return `${LAYOUT.deadLettersPrefix(run, letter.reason)}${name}.json`;
  },
  runPrefix: (run: string) => `runs/${run}/`,
  manifestKey: (run: string) => `runs/${run}/manifest.json`,
  sliceReadKey: (run: string, slice: string) => `runs/${run}/slices/${slice}/read.json`,
  sliceDoneKey: (run: string, slice: string) => `runs/${run}/slices/${slice}/done.json`,
  slicesPrefix: (run: string) => `runs/${run}/slices/`,
  controlKey: (run: string) => `runs/${run}/control.json`,
  /** Transient failures of one record so far: written only for records that fail, never per record. */
  failuresKey: (id: RecordId) => `runs/${id.run}/failures/${id.slice}/${id.pos}.json`,
  /** Written when the run's last slice is done: everything was handed to Firehose, not yet known to be in S3. */
  deliveredKey: (run: string) => `runs/${run}/delivered.json`,
  /** How many of a run's planned slices, in plan order, are known done: where the writer's completion check resumes. */
  doneThroughKey: (run: string) => `runs/${run}/done-through.json`,
  /** Written by the finisher when the output is not all in S3 past its bound: what is missing. */
  stalledKey: (run: string) => `runs/${run}/stalled.json`,
  /** Written by the finisher once the output is in S3 and conserved: its creation is the completion event. */
  completeKey: (run: string) => `runs/${run}/complete.json`,
  /**
   * Written once, by the finisher, when a run ends as failed (stalled past its bound, or over its
   * tolerated failures): why, with its counts. Its creation is the failure event.
   */
  failedKey: (run: string) => `runs/${run}/failed.json`,
  summaryKey: (run: string) => `runs/${run}/summary.json`,
  /** Per-run streams: one lease per run that opened the streams since they were last retired. */
  streamsLeasePrefix: 'streams/opened/',
  streamsLeaseKey: (run: string) => `streams/opened/${run}.json`,
  /** Per-run streams: when the sweep last deleted them, for `replay`'s message. */
  streamsRetiredKey: 'streams/retired.json',
  /** Per-run streams: present while a sweep retires them; a reader that finds it waits for the sweep. */
  streamsRetiringKey: 'streams/retiring.json',
  /** Where Athena keeps its query results and UNLOAD manifests (the collation workgroup's output location). */
  queryResultsPrefix: 'collation-queries/',
  collatedPrefix: (run: string) => `collated/run=${run}/`,
  collatedPartKey: (run: string, part: number) => `collated/run=${run}/part-${String(part).padStart(5, '0')}.ndjson`,
  /**
   * Claims of `context.once`: one object per side effect, written only if absent, so the effect runs
   * at most once per key (by default the record's id, so per run). Expired by a lifecycle rule.
   */
  oncePrefix: 'once/',
  onceClaimKey: (job: string, key: string) => `once/${job}/${key}`,
  /** Spilled envelopes: deterministic per record, so a retry overwrites the same object. */
  spillKey: (prefix: string, id: RecordId, of: string) => `${prefix}${id.run}/${id.slice}/${id.pos}.${of}.json`,
} as const;

/** One line of the delivered output: the record's id and the job's result for it. */
export interface ResultLine {
  id: string;
  /** The run, repeated so Firehose can partition output by run without parsing the id. */
  run: string;
  result: unknown;
  /** Present instead of `result` when the result was too large for a Firehose record. */
  resultKey?: string;
}

export function resultLine(id: RecordId, result: unknown): string {
  return `${JSON.stringify({ id: recordIdString(id), run: id.run, result })}\n`;
}

export function largeResultLine(id: RecordId, resultKey: string): string {
  return `${JSON.stringify({ id: recordIdString(id), run: id.run, resultKey })}\n`;
}
