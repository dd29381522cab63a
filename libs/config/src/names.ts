/** The buckets of one environment. */
export const BUCKET_KINDS = ['source', 'spill', 'results', 'failures', 'access-logs'] as const;
export type BucketKind = (typeof BUCKET_KINDS)[number];

/**
 * Physical names of every resource of one environment, derived from its name alone.
 *
 * The app stacks (infra/) find the shared stack's streams, buckets and delivery stream by these names, not
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
    },
    recordsStream: `${prefix}-records`,
    resultsStream: `${prefix}-results`,
    deliveryStream: `${prefix}-delivery`,
    functions: {
      reader: `${prefix}-reader`,
      processor: `${prefix}-processor`,
      writer: `${prefix}-writer`,
      finisher: `${prefix}-finisher`,
    },
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
