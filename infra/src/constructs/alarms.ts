import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import * as sns from 'aws-cdk-lib/aws-sns';
import type { Construct } from 'constructs';
import type { InfraConfig } from '../config';

export interface PipelineAlarmProps {
  alarmName: string;
  /** What the alarm means and what to do, shown in the notification. */
  description: string;
  metric: cloudwatch.IMetric;
  threshold: number;
  comparison?: cloudwatch.ComparisonOperator;
}

/**
 * An alarm on one datapoint per period: missing data is "all is well" (an idle pipeline sends
 * none), and the environment's topic, if any, hears both the alarm and the recovery.
 *
 * @example pipelineAlarm(this, 'Errors', config, { alarmName, description, metric: fn.metricErrors(), threshold: 1 });
 */
export function pipelineAlarm(
  scope: Construct,
  id: string,
  config: InfraConfig,
  props: PipelineAlarmProps,
): cloudwatch.Alarm {
  const alarm = new cloudwatch.Alarm(scope, id, {
    alarmName: props.alarmName,
    alarmDescription: props.description,
    metric: props.metric,
    threshold: props.threshold,
    comparisonOperator: props.comparison ?? cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  });
  if (config.alarmTopicArn) {
    const topic = sns.Topic.fromTopicArn(scope, `${id}Topic`, config.alarmTopicArn);
    alarm.addAlarmAction(new actions.SnsAction(topic));
    alarm.addOkAction(new actions.SnsAction(topic));
  }
  return alarm;
}

/** The alarm period of the configuration. */
export function alarmPeriod(config: InfraConfig): Duration {
  return Duration.seconds(config.alarms.periodSeconds);
}
