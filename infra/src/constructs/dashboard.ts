import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';
import type { InfraConfig } from '../config';
import type { PipelineNames } from '../names';
import { alarmPeriod } from './alarms';

/**
 * Metrics the handlers publish through Powertools (namespace `metricsNamespace`, dimension
 * `service` = the function's name); a renamed metric only empties its line on the dashboard.
 */
export const HANDLER_METRICS = {
  reader: ['RecordsRead', 'RecordsSpilled', 'RowsMalformed'],
  processor: ['Results', 'DeadLettered', 'RecordsRetried', 'RecordsParked'],
  writer: ['ResultsDelivered', 'DeadLettersStored', 'SlicesDone', 'RecordsParked'],
} as const;

export interface PipelineDashboardProps {
  config: InfraConfig;
  names: PipelineNames;
}

const FULL_WIDTH = 24;
const THIRD = 8;

/**
 * One CloudWatch dashboard that reads top to bottom like the pipeline: schedule and reader, records
 * stream, processor, results stream, writer, Firehose; then the state of every alarm. Built from
 * names alone, so it does not depend on which app stacks are deployed.
 *
 * @example new PipelineDashboard(this, 'Dashboard', { config, names });
 */
export class PipelineDashboard extends Construct {
  readonly dashboard: cloudwatch.Dashboard;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const { config, names } = props;
    const period = alarmPeriod(config);
    const metric = (namespace: string, metricName: string, dimensionsMap: Record<string, string>, statistic = 'Sum') =>
      new cloudwatch.Metric({ namespace, metricName, dimensionsMap, period, statistic, label: metricName });
    const fn = (functionName: string, metricName: string, statistic = 'Sum') =>
      metric('AWS/Lambda', metricName, { FunctionName: functionName }, statistic);
    const stream = (streamName: string, metricName: string, statistic = 'Sum') =>
      metric('AWS/Kinesis', metricName, { StreamName: streamName }, statistic);
    const delivery = (metricName: string, statistic = 'Sum') =>
      metric('AWS/Firehose', metricName, { DeliveryStreamName: names.deliveryStream }, statistic);
    const graph = (title: string, left: cloudwatch.IMetric[], width = THIRD) =>
      new cloudwatch.GraphWidget({ title, left, width });
    const heading = (text: string) =>
      new cloudwatch.TextWidget({ markdown: `### ${text}`, width: FULL_WIDTH, height: 1 });

    const functionRow = (app: keyof typeof HANDLER_METRICS, functionName: string, consumer: boolean) => [
      graph(
        `${app}: invocations, errors, throttles`,
        ['Invocations', 'Errors', 'Throttles'].map((m) => fn(functionName, m)),
      ),
      graph(
        consumer ? `${app}: iterator age (ms), duration (ms)` : `${app}: duration (ms), concurrency`,
        consumer
          ? [fn(functionName, 'IteratorAge', 'Maximum'), fn(functionName, 'Duration', 'Maximum')]
          : [fn(functionName, 'Duration', 'Maximum'), fn(functionName, 'ConcurrentExecutions', 'Maximum')],
      ),
      graph(
        `${app}: records`,
        HANDLER_METRICS[app].map((m) => metric(config.metricsNamespace, m, { service: functionName })),
      ),
    ];
    const streamRow = (streamName: string) => [
      graph(`${streamName}: incoming records`, [stream(streamName, 'IncomingRecords')]),
      graph(`${streamName}: throttled writes and reads`, [
        stream(streamName, 'WriteProvisionedThroughputExceeded'),
        stream(streamName, 'ReadProvisionedThroughputExceeded'),
      ]),
      graph(`${streamName}: oldest record (ms)`, [stream(streamName, 'GetRecords.IteratorAgeMilliseconds', 'Maximum')]),
    ];

    const alarmNames = [
      names.alarms.scheduleDropped,
      names.alarms.errors(names.functions.reader),
      names.alarms.destinationFailures(names.functions.reader),
      ...(['processor', 'writer'] as const).flatMap((app) => {
        const f = names.functions[app];
        return [
          names.alarms.errors(f),
          names.alarms.iteratorAge(f),
          names.alarms.onFailure(f),
          names.alarms.dropped(f),
          names.alarms.destinationFailures(f),
        ];
      }),
      names.alarms.deliveryFailures,
      names.alarms.deliveryFreshness,
    ];

    this.dashboard = new cloudwatch.Dashboard(this, 'Resource', {
      dashboardName: names.dashboard,
      widgets: [
        [
          new cloudwatch.TextWidget({
            markdown:
              `## ${names.prefix}\n` +
              'schedule → **reader** → records stream → **processor** → results stream → **writer** → Firehose → S3 `results/run=<run>/`',
            width: FULL_WIDTH,
            height: 2,
          }),
        ],
        [heading(`1 · schedule (${names.schedule}) and reader (${names.functions.reader})`)],
        [
          graph(
            'schedule: triggers',
            ['InvocationAttemptCount', 'TargetErrorCount', 'InvocationDroppedCount'].map((m) =>
              metric('AWS/Scheduler', m, { ScheduleGroup: names.scheduleGroup }),
            ),
            FULL_WIDTH,
          ),
        ],
        functionRow('reader', names.functions.reader, false),
        [heading(`2 · records stream (${names.recordsStream})`)],
        streamRow(names.recordsStream),
        [heading(`3 · processor (${names.functions.processor})`)],
        functionRow('processor', names.functions.processor, true),
        [heading(`4 · results stream (${names.resultsStream})`)],
        streamRow(names.resultsStream),
        [heading(`5 · writer (${names.functions.writer})`)],
        functionRow('writer', names.functions.writer, true),
        [heading(`6 · Firehose (${names.deliveryStream}) → results bucket`)],
        [
          graph('firehose: records in and delivered', [delivery('IncomingRecords'), delivery('DeliveryToS3.Records')]),
          graph('firehose: delivery success (1 = all)', [delivery('DeliveryToS3.Success', 'Minimum')]),
          graph('firehose: data freshness (s)', [delivery('DeliveryToS3.DataFreshness', 'Maximum')]),
        ],
        [heading('alarms')],
        [
          new cloudwatch.AlarmStatusWidget({
            title: 'alarms, stage by stage',
            width: FULL_WIDTH,
            alarms: alarmNames.map((name, i) => cloudwatch.Alarm.fromAlarmName(this, `Alarm${i}`, name)),
          }),
        ],
      ],
    });
  }
}
