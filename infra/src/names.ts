import { DELIVERY_FORMAT } from '@pipeline/delivery';
import { LAYOUT } from '@pipeline/records';
import { parkedPrefix } from '@pipeline/run-ledger';
import type { AppName } from './config';

/** The buckets of one environment. */
export const BUCKET_KINDS = ['source', 'spill', 'results', 'failures', 'access-logs'] as const;
export type BucketKind = (typeof BUCKET_KINDS)[number];

/**
 * Physical names of every resource of one environment, derived from its name alone.
 *
 * The app stacks find the shared stack's streams, buckets and delivery stream by these names, not
 * through CloudFormation exports: an app stack deploys on its own, and the shared stack never gets
 * stuck on an export that some app stack still imports.
 *
 * @example pipelineNames('dev').recordsStream; // 'dev-pipeline-records'
 */
export function pipelineNames(envName: string) {
  const prefix = `${envName}-pipeline`;
  return {
    prefix,
    stacks: {
      shared: `${prefix}-shared`,
      reader: `${prefix}-reader`,
      processor: `${prefix}-processor`,
      writer: `${prefix}-writer`,
      finisher: `${prefix}-finisher`,
    } satisfies Record<AppName | 'shared', string>,
    recordsStream: `${prefix}-records`,
    resultsStream: `${prefix}-results`,
    deliveryStream: `${prefix}-delivery`,
    functions: {
      reader: `${prefix}-reader`,
      processor: `${prefix}-processor`,
      writer: `${prefix}-writer`,
      finisher: `${prefix}-finisher`,
    } satisfies Record<AppName, string>,
    /** Runs whose output was handed to Firehose, waiting to be found in S3; and those that never were. */
    finisherQueue: `${prefix}-finisher`,
    finisherDeadLetterQueue: `${prefix}-finisher-dlq`,
    /** The EventBridge rule that sends runs/<run>/delivered.json's creation to the finisher's queue. */
    deliveredRule: `${prefix}-run-delivered`,
    /** The run's events (Run Started, Run Completed, Run Failed) go to this bus; users' rules match them there. */
    eventBus: `${prefix}-runs`,
    /** Turns a run's markers (manifest, complete, failed) into its collation and events. */
    runEndedStateMachine: `${prefix}-run-markers`,
    runMarkersRule: `${prefix}-run-markers`,
    /** The notifications topic users subscribe to, and the rule that feeds it from the bus. */
    notificationsTopic: `${prefix}-run-notifications`,
    notificationsRule: `${prefix}-run-notifications`,
    /** Glue database of the results and dead letters tables (Glue names take no hyphen). */
    glueDatabase: prefix.replaceAll('-', '_'),
    athenaWorkGroup: `${prefix}-collation`,
    /** The processor function that serves replays, beside the live one (a stream maps to a function once). */
    replayFunction: `${prefix}-processor-replay`,
    scheduleGroup: prefix,
    schedule: `${prefix}-reader`,
    dashboard: prefix,
    deliveryLogGroup: `/aws/kinesisfirehose/${prefix}-delivery`,
    /** Globally unique: the account and region (tokens in an environment-agnostic stack) end the name. */
    bucket: (kind: BucketKind, account: string, region: string) => `${prefix}-${kind}-${account}-${region}`,
    /** Alarm names: the stacks create them, the dashboard shows their state. */
    alarms: {
      errors: (functionName: string) => `${functionName}-errors`,
      iteratorAge: (functionName: string) => `${functionName}-iterator-age`,
      onFailure: (functionName: string) => `${functionName}-on-failure`,
      dropped: (functionName: string) => `${functionName}-dropped`,
      destinationFailures: (functionName: string) => `${functionName}-destination-failures`,
      scheduleDropped: `${prefix}-schedule-dropped`,
      deliveryFailures: `${prefix}-delivery-failures`,
      deliveryFreshness: `${prefix}-delivery-freshness`,
      runsStalled: `${prefix}-runs-stalled`,
    },
  };
}
export type PipelineNames = ReturnType<typeof pipelineNames>;

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
  largeResults: `${topLevel(LAYOUT.largeResultKey(ANY))}*`,
} as const;

/** Where Lambda writes on-failure records in an S3 destination (`aws/lambda/<mapping>/…`, `aws/lambda/async/<function>/…`). */
export const ON_FAILURE_PREFIX = 'aws/lambda/';

/**
 * Firehose's dynamic partitioning: the run is the first part of each delivered line's id
 * (`{"id":"<run>/<slice>/<pos>",…}`), and the prefix is the layout's results prefix for that run.
 */
export const DELIVERY_PARTITIONING = DELIVERY_FORMAT;
