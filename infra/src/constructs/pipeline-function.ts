import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { RecursiveLoopSetting } from '@pipeline/limits';
import type { InfraConfig } from '../config';
import { pipelineNames } from '../names';
import { acknowledge } from '../nag';
import { alarmPeriod, pipelineAlarm } from './alarms';

export interface PipelineFunctionProps {
  config: InfraConfig;
  functionName: string;
  description: string;
  /** The app's bundle (`lambda.Code.fromAsset('dist/apps/<app>')`); tests pass inline code. */
  code: lambda.Code;
  environment: Record<string, string>;
  memoryMiB: number;
  timeoutSeconds: number;
  reservedConcurrency?: number;
  /** Share a role with another function of the same app (the replay processor); default: a new role. */
  role?: iam.Role;
  /** Recursive loop detection (`RECURSIVE_LOOP` of @pipeline/limits); default: AWS's, Terminate. */
  recursiveLoop?: RecursiveLoopSetting;
}

/** The Lambda runtime of every handler: the bundles are built for `node22`. */
export const RUNTIME = lambda.Runtime.NODEJS_22_X;

/**
 * One handler: Node.js 22, `index.handler`, source maps on, X-Ray tracing, its own log group with
 * retention, a role that can write only its own logs (each stack adds what the app needs), and an
 * alarm on handler errors.
 *
 * @example new PipelineFunction(this, 'Reader', { config, functionName, description, code, environment, memoryMiB: 1024, timeoutSeconds: 900 });
 */
export class PipelineFunction extends Construct {
  readonly function: lambda.Function;
  readonly role: iam.Role;
  readonly logGroup: logs.LogGroup;
  readonly errorsAlarm: cloudwatch.Alarm;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    const { config } = props;
    const removalPolicy = config.removalPolicy === 'destroy' ? RemovalPolicy.DESTROY : RemovalPolicy.RETAIN;

    this.role =
      props.role ??
      new iam.Role(this, 'Role', {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: `${props.functionName}: ${props.description}`,
      });
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      logGroupName: `/aws/lambda/${props.functionName}`,
      retention: config.logRetentionDays as logs.RetentionDays,
      removalPolicy,
    });
    this.role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );

    this.function = new lambda.Function(this, 'Function', {
      functionName: props.functionName,
      description: props.description,
      runtime: RUNTIME,
      handler: 'index.handler',
      code: props.code,
      role: this.role,
      architecture: config.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
      memorySize: props.memoryMiB,
      timeout: Duration.seconds(props.timeoutSeconds),
      reservedConcurrentExecutions: props.reservedConcurrency,
      environment: props.environment,
      tracing: lambda.Tracing.ACTIVE,
      logGroup: this.logGroup,
      recursiveLoop:
        props.recursiveLoop === undefined
          ? undefined
          : props.recursiveLoop === 'Allow'
            ? lambda.RecursiveLoop.ALLOW
            : lambda.RecursiveLoop.TERMINATE,
    });

    acknowledge(
      this.role,
      'AwsSolutions-IAM5[Resource::*]',
      'X-Ray PutTraceSegments and PutTelemetryRecords support no resource-level permissions; they are the only actions granted on "*"',
    );
    acknowledge(
      this.function,
      'AwsSolutions-L1',
      'The handlers are bundled for the Node.js 22 runtime (esbuild target node22); moving to a newer runtime is a deliberate upgrade of build target and runtime together',
    );

    this.errorsAlarm = pipelineAlarm(this, 'ErrorsAlarm', config, {
      alarmName: pipelineNames(config.envName).alarms.errors(props.functionName),
      description: `${props.functionName} failed (an uncaught error, a timeout or running out of memory). Look at its log group ${this.logGroup.logGroupName}.`,
      metric: this.function.metricErrors({ period: alarmPeriod(config), statistic: 'Sum' }),
      threshold: 1,
    });
  }
}
