import { DELIVERY_FORMAT } from '@pipeline/delivery';
import { LAYOUT } from '@pipeline/records';
import { parkedPrefix } from '@pipeline/run-ledger';

export { BUCKET_KINDS, type BucketKind } from '@pipeline/config';

// The names live with the runtime config, so the operator tool finds a deployed environment's
// resources by the same function that names them here.
export { pipelineNames, type PipelineNames } from '@pipeline/config';

/** The first path segment of a key, with its slash: `runs/a/b.json` → `runs/`. */
function topLevel(key: string): string {
  return key.slice(0, key.indexOf('/') + 1);
}

const sample = { run: 'run', slice: 'slice', pos: 0 };

/**
 * Key prefixes in the results bucket, taken from the layout the apps write with, so a permission
 * can never drift from the keys it guards.
 */
export const RESULTS_PREFIXES = {
  /** Run ledger: manifests, slice markers, the kill switch, completion and summary. */
  runs: topLevel(LAYOUT.runPrefix(sample.run)),
  /** Where the processor parks records of a paused run (inside a run's prefix). */
  processorParking: parkedPrefix('*', 'processor'),
  deadLetters: LAYOUT.deadLettersPrefix(),
  largeResults: topLevel(LAYOUT.largeResultKey(sample)),
  /** Firehose's delivery, partitioned by run. */
  results: topLevel(LAYOUT.resultsPrefix(sample.run)),
  deliveryErrors: LAYOUT.deliveryErrorsPrefix,
  /** Claims of `context.once`, expired by the results bucket's lifecycle rule. */
  onceClaims: LAYOUT.oncePrefix,
} as const;

/** Stand-ins for a run, a slice and a position, each turned into an IAM wildcard by `anyKey`. */
const ANY = { run: '\u0001run', slice: '\u0001slice', pos: 987654321 };

/** A layout key with its run, slice and position each replaced by IAM's `*` wildcard. */
function anyKey(key: string): string {
  return key.replaceAll(ANY.run, '*').replaceAll(ANY.slice, '*').replaceAll(String(ANY.pos), '*');
}

/**
 * The keys of the results bucket, one pattern per kind of object, from the layout the apps write
 * with: each role is granted exactly the kinds its handler reads or writes, never a whole prefix it
 * shares with another role.
 */
export const RESULTS_KEYS = {
  manifest: anyKey(LAYOUT.manifestKey(ANY.run)),
  sliceRead: anyKey(LAYOUT.sliceReadKey(ANY.run, ANY.slice)),
  sliceDone: anyKey(LAYOUT.sliceDoneKey(ANY.run, ANY.slice)),
  /** Both markers of every slice: the ledger reads them all to tell a run's status. */
  sliceMarkers: `${anyKey(LAYOUT.slicesPrefix(ANY.run))}*`,
  control: anyKey(LAYOUT.controlKey(ANY.run)),
  failures: anyKey(LAYOUT.failuresKey({ ...ANY })),
  /** Written by the writer when a run's last slice is done: handed to Firehose. */
  delivered: anyKey(LAYOUT.deliveredKey(ANY.run)),
  /** The writer's completion check resumes here: how many planned slices are known done. */
  doneThrough: anyKey(LAYOUT.doneThroughKey(ANY.run)),
  /** Written by the finisher: the run is complete (its output is in S3), or stalled. */
  complete: anyKey(LAYOUT.completeKey(ANY.run)),
  stalled: anyKey(LAYOUT.stalledKey(ANY.run)),
  /** Written by the finisher when a run ends as failed; with complete, what starts collation. */
  failed: anyKey(LAYOUT.failedKey(ANY.run)),
  summary: anyKey(LAYOUT.summaryKey(ANY.run)),
  collated: `${anyKey(LAYOUT.collatedPrefix(ANY.run))}*`,
  queryResults: `${LAYOUT.queryResultsPrefix}*`,
  processorParking: `${parkedPrefix('*', 'processor')}*`,
  writerParking: `${parkedPrefix('*', 'writer')}*`,
  deadLetters: `${LAYOUT.deadLettersPrefix()}*`,
  /** Per-run streams: a lease per run that opened them (the reader), read and removed by the sweep. */
  streamsLeases: `${LAYOUT.streamsLeasePrefix}*`,
  streamsRetired: LAYOUT.streamsRetiredKey,
  streamsRetiring: LAYOUT.streamsRetiringKey,
  largeResults: `${topLevel(LAYOUT.largeResultKey(ANY))}*`,
} as const;

/** Thrown when a job's name cannot name an IAM resource of its own. */
export class JobNameError extends Error {
  override readonly name = 'JobNameError';
}

/**
 * The claims of one job's `context.once` (`once/<job>/<key>`): put only if absent, by the processor,
 * before a side effect. A name with `/` would reach into another job's claims, and `*`, `?` or `$`
 * are wildcards and variables in an IAM resource, so such a name is refused.
 *
 * @example onceClaimsKey('weekly-email'); // 'once/weekly-email/*'
 */
export function onceClaimsKey(job: string): string {
  if (job === '' || /[/*?$]/.test(job))
    throw new JobNameError(
      `job name ${JSON.stringify(job)} cannot scope its context.once claims in IAM: name the job without /, *, ? or $`,
    );
  return LAYOUT.onceClaimKey(job, '*');
}

/** Where Lambda writes on-failure records in an S3 destination (`aws/lambda/<mapping>/…`, `aws/lambda/async/<function>/…`). */
export { ON_FAILURE_PREFIX } from '@pipeline/records';

/**
 * Firehose's dynamic partitioning: the run is the first part of each delivered line's id
 * (`{"id":"<run>/<slice>/<pos>",…}`), and the prefix is the layout's results prefix for that run.
 */
export const DELIVERY_PARTITIONING = DELIVERY_FORMAT;
