import { Duration, Stack } from 'aws-cdk-lib';
import * as athena from 'aws-cdk-lib/aws-athena';
import * as events from 'aws-cdk-lib/aws-events';
import * as targets from 'aws-cdk-lib/aws-events-targets';
import * as glue from 'aws-cdk-lib/aws-glue';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as kms from 'aws-cdk-lib/aws-kms';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as sns from 'aws-cdk-lib/aws-sns';
import * as subscriptions from 'aws-cdk-lib/aws-sns-subscriptions';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import {
  collationSummarySql,
  collationUnloadSql,
  DEAD_LETTERS_TABLE,
  RESULTS_TABLE,
  statesFormatTemplate,
} from '@pipeline/collation';
import { LAYOUT } from '@pipeline/records';
import { RUN_EVENT_SOURCE, RUN_EVENT_TYPES } from '@pipeline/run-ledger';
import type { InfraConfig } from '../config';
import { RESULTS_KEYS, RESULTS_PREFIXES } from '../names';
import { acknowledge, acknowledgeWildcard } from '../nag';
import type { SharedRefs } from '../shared-refs';

/** The markers whose creation the state machine acts on: a run planned, complete, or failed. */
export const RUN_MARKER_KEYS = [LAYOUT.manifestKey('*'), LAYOUT.completeKey('*'), LAYOUT.failedKey('*')];

export interface RunMarkersProps {
  config: InfraConfig;
  refs: SharedRefs;
}

/**
 * A run's end in AWS, with no function of ours holding the run: the creation of a run's markers in
 * the results bucket starts a state machine that
 * - on runs/<run>/manifest.json puts "Run Started";
 * - on runs/<run>/complete.json, or failed.json over the run's tolerated failures, collates the run
 *   with Athena (UNLOAD of the de-duplicating query to collated/run=<run>/, then the summary query),
 *   writes runs/<run>/summary.json and puts "Run Completed" or "Run Failed";
 * - on failed.json of a stalled run (its output not all in S3) puts "Run Failed" without collating.
 * The events go to the pipeline's own bus; a rule sends the configured ones to an encrypted SNS
 * topic that users subscribe to.
 */
export class RunMarkers extends Construct {
  readonly bus: events.EventBus;
  readonly topic: sns.Topic;
  readonly stateMachine: sfn.StateMachine;
  readonly workGroup: athena.CfnWorkGroup;
  readonly database: glue.CfnDatabase;

  constructor(scope: Construct, id: string, props: RunMarkersProps) {
    super(scope, id);
    const { refs, config } = props;
    const { names } = refs;
    const stack = Stack.of(this);
    const bucket = refs.bucketName('results');

    this.bus = new events.EventBus(this, 'Bus', { eventBusName: names.eventBus });
    // The state machine names the bus by its ARN built from the name, so its grant reads plainly.
    const busByName = events.EventBus.fromEventBusName(this, 'BusByName', names.eventBus);

    // Notifications: an SNS topic encrypted with a key EventBridge may use (the AWS managed SNS key cannot be).
    const key = new kms.Key(this, 'NotificationsKey', {
      description: 'Encrypts the run notifications topic',
      enableKeyRotation: true,
    });
    key.grant(new iam.ServicePrincipal('events.amazonaws.com'), 'kms:Decrypt', 'kms:GenerateDataKey*');
    this.topic = new sns.Topic(this, 'Notifications', {
      topicName: names.notificationsTopic,
      masterKey: key,
      enforceSSL: true,
    });
    for (const email of config.runEvents.emails) this.topic.addSubscription(new subscriptions.EmailSubscription(email));
    if (config.runEvents.notify.length > 0) {
      new events.Rule(this, 'NotifyRule', {
        ruleName: names.notificationsRule,
        description: `The run's events users are notified of: ${config.runEvents.notify.join(', ')}`,
        eventBus: this.bus,
        eventPattern: { source: [RUN_EVENT_SOURCE], detailType: [...config.runEvents.notify] },
        targets: [new targets.SnsTopic(this.topic)],
      });
    }

    // The tables Athena reads: the run is a projected partition, so nothing is added per run.
    this.database = new glue.CfnDatabase(this, 'Database', {
      catalogId: stack.account,
      databaseInput: { name: names.glueDatabase, description: 'The pipeline results, for collation' },
    });
    for (const table of [RESULTS_TABLE, DEAD_LETTERS_TABLE]) {
      const prefix = table === RESULTS_TABLE ? RESULTS_PREFIXES.results : RESULTS_PREFIXES.deadLetters;
      const cfn = new glue.CfnTable(this, `${table.name}Table`, {
        catalogId: stack.account,
        databaseName: names.glueDatabase,
        tableInput: {
          name: table.name,
          tableType: 'EXTERNAL_TABLE',
          parameters: { classification: 'text', ...table.projection(bucket) },
          partitionKeys: [{ name: table.partitionKey, type: 'string' }],
          storageDescriptor: {
            columns: [...table.columns],
            location: `s3://${bucket}/${prefix}`,
            inputFormat: table.inputFormat,
            outputFormat: table.outputFormat,
            serdeInfo: { serializationLibrary: table.serde },
          },
        },
      });
      cfn.node.addDependency(this.database);
    }

    this.workGroup = new athena.CfnWorkGroup(this, 'WorkGroup', {
      name: names.athenaWorkGroup,
      description: 'Collates runs: the de-duplicating UNLOAD and the summary query',
      recursiveDeleteOption: true,
      workGroupConfiguration: {
        enforceWorkGroupConfiguration: true,
        publishCloudWatchMetricsEnabled: true,
        resultConfiguration: {
          outputLocation: `s3://${bucket}/${LAYOUT.queryResultsPrefix}`,
          encryptionConfiguration: { encryptionOption: 'SSE_S3' },
        },
      },
    });

    const target = { database: names.glueDatabase };
    const unload = statesFormatTemplate(collationUnloadSql, target);
    const summary = statesFormatTemplate(collationSummarySql, target);
    const args = (of: { args: string[] }) =>
      of.args.map((arg) => sfn.JsonPath.stringAt(arg === 'bucket' ? '$.bucket' : `$.end.${arg}`));
    const athenaQuery = (name: string, query: { template: string; args: string[] }, resultPath: string) =>
      new sfn.CustomState(this, name, {
        stateJson: {
          Type: 'Task',
          Resource: `arn:${stack.partition}:states:::athena:startQueryExecution.sync`,
          Parameters: {
            'QueryString.$': sfn.JsonPath.format(query.template, ...args(query)),
            WorkGroup: names.athenaWorkGroup,
            QueryExecutionContext: { Database: names.glueDatabase },
          },
          ResultSelector: { 'id.$': '$.QueryExecution.QueryExecutionId' },
          ResultPath: resultPath,
        },
      });
    const putEvent = (name: string, detailType: string, detail: sfn.TaskInput) =>
      new tasks.EventBridgePutEvents(this, name, {
        entries: [{ eventBus: busByName, source: RUN_EVENT_SOURCE, detailType, detail }],
        resultPath: sfn.JsonPath.DISCARD,
      });

    const parse = new sfn.Pass(this, 'WhichMarker', {
      parameters: {
        'bucket.$': '$.detail.bucket.name',
        'key.$': '$.detail.object.key',
        'time.$': '$.time',
        'run.$': "States.ArrayGetItem(States.StringSplit($.detail.object.key, '/'), 1)",
        'marker.$': "States.ArrayGetItem(States.StringSplit($.detail.object.key, '/'), 2)",
      },
    });
    const started = putEvent(
      'PutRunStarted',
      RUN_EVENT_TYPES.started,
      sfn.TaskInput.fromObject({
        runId: sfn.JsonPath.stringAt('$.run'),
        startedAt: sfn.JsonPath.stringAt('$.time'),
        manifest: sfn.JsonPath.format(`s3://{}/{}`, sfn.JsonPath.stringAt('$.bucket'), sfn.JsonPath.stringAt('$.key')),
      }),
    );
    const markerKeys = [RESULTS_KEYS.complete, RESULTS_KEYS.failed].map((k) => refs.keysArn('results', k));
    const readMarker = new tasks.CallAwsService(this, 'ReadMarker', {
      service: 's3',
      action: 'getObject',
      parameters: { Bucket: sfn.JsonPath.stringAt('$.bucket'), Key: sfn.JsonPath.stringAt('$.key') },
      iamResources: markerKeys,
      iamAction: 's3:GetObject',
      resultSelector: { 'body.$': 'States.StringToJson($.Body)' },
      resultPath: '$.marker',
    });
    const stalled = putEvent('PutRunStalled', RUN_EVENT_TYPES.failed, sfn.TaskInput.fromJsonPathAt('$.marker.body'));
    const counts = (from: string) => ({
      'read.$': `${from}.read`,
      'deadLettered.$': `${from}.deadLettered`,
      'spilled.$': `${from}.spilled`,
      'conserved.$': `${from}.conserved`,
      'createdAt.$': `${from}.createdAt`,
    });
    const endedComplete = new sfn.Pass(this, 'EndedComplete', {
      parameters: {
        ended: 'complete',
        detailType: RUN_EVENT_TYPES.completed,
        'endedAt.$': '$.marker.body.detail.completedAt',
        'run.$': '$.run',
        ...counts('$.marker.body.detail'),
      },
      resultPath: '$.end',
    });
    const endedFailed = new sfn.Pass(this, 'EndedFailed', {
      parameters: {
        ended: 'failed',
        detailType: RUN_EVENT_TYPES.failed,
        'reason.$': '$.marker.body.reason',
        'endedAt.$': '$.marker.body.failedAt',
        'run.$': '$.run',
        ...counts('$.marker.body'),
      },
      resultPath: '$.end',
    });
    const collate = athenaQuery('CollateWithAthena', unload, sfn.JsonPath.DISCARD);
    const summarize = athenaQuery('SummarizeWithAthena', summary, '$.summaryQuery');
    const results = new tasks.CallAwsService(this, 'ReadSummaryQuery', {
      service: 'athena',
      action: 'getQueryResults',
      parameters: { QueryExecutionId: sfn.JsonPath.stringAt('$.summaryQuery.id') },
      iamResources: [workGroupArn(stack, names.athenaWorkGroup)],
      iamAction: 'athena:GetQueryResults',
      resultSelector: { 'row.$': '$.ResultSet.Rows[1].Data' },
      resultPath: '$.found',
    });
    const summaryFields = {
      'runId.$': '$.run',
      'ended.$': '$.end.ended',
      'read.$': '$.end.read',
      'delivered.$': 'States.StringToJson($.found.row[0].VarCharValue)',
      'duplicatesDropped.$': 'States.StringToJson($.found.row[1].VarCharValue)',
      'deadLettered.$': 'States.StringToJson($.found.row[2].VarCharValue)',
      'deadLetteredByReason.$': 'States.StringToJson($.found.row[3].VarCharValue)',
      'elapsedSeconds.$': 'States.StringToJson($.found.row[4].VarCharValue)',
      'spilled.$': '$.end.spilled',
      'conserved.$': '$.end.conserved',
      output: {
        'bucket.$': '$.bucket',
        'prefix.$': `States.Format('${LAYOUT.collatedPrefix('{}')}', $.run)`,
      },
    };
    const summaryComplete = new sfn.Pass(this, 'SummaryOfComplete', {
      parameters: { ...summaryFields, complete: true },
      resultPath: '$.summary',
    });
    const summaryFailed = new sfn.Pass(this, 'SummaryOfFailed', {
      parameters: { ...summaryFields, complete: false, 'failureReason.$': '$.end.reason', 'reason.$': '$.end.reason' },
      resultPath: '$.summary',
    });
    const writeSummary = new tasks.CallAwsService(this, 'WriteSummary', {
      service: 's3',
      action: 'putObject',
      parameters: {
        Bucket: sfn.JsonPath.stringAt('$.bucket'),
        Key: sfn.JsonPath.format(LAYOUT.summaryKey('{}'), sfn.JsonPath.stringAt('$.run')),
        Body: sfn.JsonPath.jsonToString(sfn.JsonPath.objectAt('$.summary')),
        ContentType: 'application/json',
      },
      iamResources: [refs.keysArn('results', RESULTS_KEYS.summary)],
      iamAction: 's3:PutObject',
      resultPath: sfn.JsonPath.DISCARD,
    });
    const ended = new tasks.EventBridgePutEvents(this, 'PutRunEnded', {
      entries: [
        {
          eventBus: busByName,
          source: RUN_EVENT_SOURCE,
          detailType: sfn.JsonPath.stringAt('$.end.detailType'),
          detail: sfn.TaskInput.fromJsonPathAt('$.summary'),
        },
      ],
      resultPath: sfn.JsonPath.DISCARD,
    });

    const collation = collate
      .next(summarize)
      .next(results)
      .next(
        new sfn.Choice(this, 'HowDidItEnd')
          .when(sfn.Condition.stringEquals('$.end.ended', 'failed'), summaryFailed.next(writeSummary))
          .otherwise(summaryComplete.next(writeSummary)),
      );
    writeSummary.next(ended);
    const definition = parse.next(
      new sfn.Choice(this, 'ManifestOrEnd')
        .when(sfn.Condition.stringEquals('$.marker', 'manifest.json'), started)
        .otherwise(
          readMarker.next(
            new sfn.Choice(this, 'CompleteOrFailed')
              .when(sfn.Condition.stringEquals('$.marker', 'complete.json'), endedComplete.next(collation))
              .when(sfn.Condition.stringEquals('$.marker.body.reason', 'stalled'), stalled)
              .otherwise(endedFailed.next(collation)),
          ),
        ),
    );

    const logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/vendedlogs/states/${names.runEndedStateMachine}`,
      retention: logs.RetentionDays.ONE_MONTH,
    });
    this.stateMachine = new sfn.StateMachine(this, 'StateMachine', {
      stateMachineName: names.runEndedStateMachine,
      definitionBody: sfn.DefinitionBody.fromChainable(definition),
      tracingEnabled: true,
      logs: { destination: logGroup, level: sfn.LogLevel.ALL, includeExecutionData: false },
      timeout: Duration.hours(6),
    });
    this.stateMachine.node.addDependency(this.bus);
    this.grantCollation(refs);

    new events.Rule(this, 'MarkersRule', {
      ruleName: names.runMarkersRule,
      description: `A run was planned, completed or failed (${RUN_MARKER_KEYS.join(', ')} created): announce it, and collate an ended run`,
      eventPattern: {
        source: ['aws.s3'],
        detailType: ['Object Created'],
        detail: {
          bucket: { name: [bucket] },
          object: { key: RUN_MARKER_KEYS.flatMap((k) => events.Match.wildcard(k)) },
        },
      },
      targets: [new targets.SfnStateMachine(this.stateMachine)],
    });
  }

  /**
   * What Athena does as the state machine (queries run with its caller's permissions): read the
   * tables and the run's delivered lines and dead letters, write the collated prefix and its own
   * query results; nothing else in the bucket.
   */
  private grantCollation(refs: SharedRefs): void {
    const stack = Stack.of(this);
    const { names } = refs;
    const role = this.stateMachine.role;
    const results = refs.bucketArn('results');
    const read = [
      refs.objectsArn('results', RESULTS_PREFIXES.results),
      refs.objectsArn('results', RESULTS_PREFIXES.deadLetters),
      `${results}/${RESULTS_KEYS.queryResults}`,
    ];
    const write = [`${results}/${RESULTS_KEYS.collated}`, `${results}/${RESULTS_KEYS.queryResults}`];
    const workGroup = workGroupArn(stack, names.athenaWorkGroup);
    const glueArn = (resource: string) => stack.formatArn({ service: 'glue', resource, arnFormat: undefined });
    const statements = [
      new iam.PolicyStatement({
        sid: 'RunQueriesInTheCollationWorkGroup',
        actions: ['athena:StartQueryExecution', 'athena:GetQueryExecution', 'athena:StopQueryExecution'],
        resources: [workGroup],
      }),
      new iam.PolicyStatement({
        sid: 'ReadTheTables',
        actions: ['glue:GetDatabase', 'glue:GetTable'],
        resources: [
          glueArn('catalog'),
          glueArn(`database/${names.glueDatabase}`),
          glueArn(`table/${names.glueDatabase}/${RESULTS_TABLE.name}`),
          glueArn(`table/${names.glueDatabase}/${DEAD_LETTERS_TABLE.name}`),
        ],
      }),
      new iam.PolicyStatement({
        sid: 'ListTheResultsBucket',
        actions: ['s3:ListBucket', 's3:GetBucketLocation'],
        resources: [results],
      }),
      new iam.PolicyStatement({ sid: 'ReadOutputAndDeadLetters', actions: ['s3:GetObject'], resources: read }),
      new iam.PolicyStatement({
        sid: 'WriteCollatedOutputAndQueryResults',
        actions: ['s3:PutObject', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'],
        resources: write,
      }),
    ];
    for (const statement of statements) role.addToPrincipalPolicy(statement);
    const why: Record<string, string> = {
      [read[0]]: 'Firehose names the delivered objects itself under results/run=<run>/; read-only',
      [read[1]]: 'Dead letters of any run: their keys give id and reason; read-only',
      [read[2]]: "Athena's own query results, which GetQueryResults reads back",
      [write[0]]: 'The collated output of any run: collated/run=<run>/ only (Athena names the files)',
      [`${results}/${RESULTS_KEYS.summary}`]: 'The summary of any run: runs/<run>/summary.json only',
      [markerArn(refs, RESULTS_KEYS.complete)]: 'The completion marker of any run; read-only',
      [markerArn(refs, RESULTS_KEYS.failed)]: 'The failure marker of any run; read-only',
    };
    for (const [resource, reason] of Object.entries(why)) acknowledgeWildcard(role, resource, reason);
    acknowledge(
      role,
      'AwsSolutions-IAM5[Resource::*]',
      'Step Functions’ own grants for X-Ray tracing and CloudWatch Logs log delivery, which support no resource-level permissions; nothing of the pipeline is granted on "*"',
    );
  }
}

const workGroupArn = (stack: Stack, name: string) =>
  stack.formatArn({ service: 'athena', resource: 'workgroup', resourceName: name });
const markerArn = (refs: SharedRefs, key: string) => refs.keysArn('results', key);
