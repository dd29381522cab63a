import { Match } from 'aws-cdk-lib/assertions';
import { DEFAULTS, LAMBDA, RECURSIVE_LOOP } from '@pipeline/limits';
import { ENV } from '@pipeline/config';
import { INFRA_DEFAULTS } from '../src/defaults';
import { pipelineNames } from '../src/names';
import { ARN, synthPipeline, TEST_ENV, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');
const bucketName = (kind: string) => `dev-pipeline-${kind}-${TEST_ENV.account}-${TEST_ENV.region}`;

describe('GIVEN the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline({}, { apps: ['reader'] });
  });
  afterAll(() => pipeline.cleanup());
  const reader = () => pipeline.templates.reader;

  describe('WHEN the reader stack is synthesized', () => {
    it('THEN the reader runs its bundle on Node.js 22 with source maps, X-Ray tracing and a reserved-concurrency cap', () => {
      reader().hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.functions.reader,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Architectures: ['arm64'],
        MemorySize: INFRA_DEFAULTS.readerMemoryMiB,
        Timeout: INFRA_DEFAULTS.readerTimeoutSeconds,
        ReservedConcurrentExecutions: INFRA_DEFAULTS.readerReservedConcurrency,
        TracingConfig: { Mode: 'Active' },
        Environment: { Variables: Match.objectLike({ NODE_OPTIONS: '--enable-source-maps' }) },
      });
    });

    it('THEN the reader may invoke itself past Lambda’s recursive loop limit (RecursiveLoop Allow), bounded by readerMaxHops instead', () => {
      // invocation-recursion.html: Terminate stops a chain after 16 invocations; a run may need up to readerMaxHops.
      expect(DEFAULTS.readerMaxHops).toBeGreaterThan(LAMBDA.maxRecursiveChainInvocations);
      expect(RECURSIVE_LOOP.reader).toBe('Allow');
      reader().hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.functions.reader,
        RecursiveLoop: 'Allow',
      });
    });

    it('THEN the reader is configured through the environment variables the handlers read', () => {
      reader().hasResourceProperties('AWS::Lambda::Function', {
        Environment: {
          Variables: {
            [ENV.recordsStream]: names.recordsStream,
            [ENV.resultsStream]: names.resultsStream,
            [ENV.deliveryStream]: names.deliveryStream,
            [ENV.resultsBucket]: bucketName('results'),
            [ENV.spillBucket]: bucketName('spill'),
            [ENV.spillPrefix]: DEFAULTS.spillPrefix,
            [ENV.spillThresholdBytes]: String(DEFAULTS.spillThresholdBytes),
            [ENV.sourceBucket]: bucketName('source'),
            [ENV.sliceBytes]: String(DEFAULTS.sliceBytes),
            [ENV.readerConcurrency]: String(DEFAULTS.readerConcurrency),
            POWERTOOLS_SERVICE_NAME: names.functions.reader,
            POWERTOOLS_METRICS_NAMESPACE: 'SlicePipeline',
            NODE_OPTIONS: '--enable-source-maps',
          },
        },
      });
    });

    it('THEN the reader logs to its own log group, kept for the configured days', () => {
      reader().hasResourceProperties('AWS::Logs::LogGroup', {
        LogGroupName: `/aws/lambda/${names.functions.reader}`,
        RetentionInDays: INFRA_DEFAULTS.logRetentionDays,
      });
      reader().hasResourceProperties('AWS::Lambda::Function', {
        LoggingConfig: { LogGroup: { Ref: Match.stringLikeRegexp('^ReaderLogs') } },
      });
    });

    it('THEN the schedule fires on the configured cron in the configured time zone, at the exact time', () => {
      reader().hasResourceProperties('AWS::Scheduler::Schedule', {
        Name: names.schedule,
        GroupName: names.scheduleGroup,
        ScheduleExpression: `cron(${INFRA_DEFAULTS.scheduleCron})`,
        ScheduleExpressionTimezone: INFRA_DEFAULTS.scheduleTimezone,
        FlexibleTimeWindow: { Mode: 'OFF' },
        State: 'ENABLED',
      });
    });

    it('THEN the schedule passes its scheduled time, which names the run, to the reader', () => {
      reader().hasResourceProperties('AWS::Scheduler::Schedule', {
        Target: Match.objectLike({
          Arn: { 'Fn::GetAtt': [Match.stringLikeRegexp('^ReaderFunction'), 'Arn'] },
          Input: '{"scheduledTime":"<aws.scheduler.scheduled-time>"}',
        }),
      });
    });

    it('THEN a trigger that cannot be delivered is retried a bounded number of times within a bounded age', () => {
      reader().hasResourceProperties('AWS::Scheduler::Schedule', {
        Target: Match.objectLike({
          RetryPolicy: {
            MaximumRetryAttempts: INFRA_DEFAULTS.scheduleRetryAttempts,
            MaximumEventAgeInSeconds: INFRA_DEFAULTS.scheduleMaxEventAgeSeconds,
          },
        }),
      });
    });

    it('THEN the schedule’s role may invoke the reader and nothing else, and only from this account', () => {
      reader().hasResourceProperties('AWS::IAM::Role', {
        AssumeRolePolicyDocument: {
          Statement: [
            Match.objectLike({
              Principal: { Service: 'scheduler.amazonaws.com' },
              Condition: { StringEquals: { 'aws:SourceAccount': TEST_ENV.account } },
            }),
          ],
        },
      });
      reader().hasResourceProperties('AWS::IAM::Policy', {
        Roles: [{ Ref: Match.stringLikeRegexp('^SchedulerRole') }],
        PolicyDocument: { Statement: [Match.objectLike({ Action: 'lambda:InvokeFunction' })] },
      });
    });

    it('THEN a failed trigger or hop is retried by Lambda a bounded number of times, then kept in the failures bucket', () => {
      reader().hasResourceProperties('AWS::Lambda::EventInvokeConfig', {
        MaximumRetryAttempts: INFRA_DEFAULTS.readerAsyncRetryAttempts,
        MaximumEventAgeInSeconds: INFRA_DEFAULTS.readerAsyncMaxEventAgeSeconds,
        DestinationConfig: { OnFailure: { Destination: ARN.bucket('failures') } },
      });
    });

    it('THEN alarms fire on handler errors, on on-failure records that cannot be written and on dropped triggers', () => {
      reader().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.errors(names.functions.reader),
        MetricName: 'Errors',
        Namespace: 'AWS/Lambda',
        Dimensions: [{ Name: 'FunctionName', Value: { Ref: Match.stringLikeRegexp('^ReaderFunction') } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      reader().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.destinationFailures(names.functions.reader),
        MetricName: 'DestinationDeliveryFailures',
      });
      reader().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.scheduleDropped,
        Namespace: 'AWS/Scheduler',
        MetricName: 'InvocationDroppedCount',
        Dimensions: [{ Name: 'ScheduleGroup', Value: names.scheduleGroup }],
      });
    });

    it('THEN its outputs name the function, the schedule and its group for an ops-level stop', () => {
      reader().hasOutput('ReaderFunctionName', { Value: names.functions.reader });
      reader().hasOutput('ScheduleName', { Value: names.schedule });
      reader().hasOutput('ScheduleGroupName', { Value: names.scheduleGroup });
    });
  });
});

describe('GIVEN a schedule four times a day in Berlin time, disabled, and a larger reader cap', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline(
      {
        schedule: { cron: '0 0,6,12,18 * * ? *', timezone: 'Europe/Berlin', enabled: false, retryAttempts: 0 },
        reader: { reservedConcurrency: 5 },
        source: { prefix: 'exports/' },
      },
      { apps: ['reader'] },
    );
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the reader stack is synthesized', () => {
    it('THEN the schedule takes the configured expression, time zone, state and retries', () => {
      pipeline.templates.reader.hasResourceProperties('AWS::Scheduler::Schedule', {
        ScheduleExpression: 'cron(0 0,6,12,18 * * ? *)',
        ScheduleExpressionTimezone: 'Europe/Berlin',
        State: 'DISABLED',
        Target: Match.objectLike({ RetryPolicy: Match.objectLike({ MaximumRetryAttempts: 0 }) }),
      });
    });

    it('THEN the reader’s concurrency cap and source prefix are the configured ones', () => {
      pipeline.templates.reader.hasResourceProperties('AWS::Lambda::Function', {
        ReservedConcurrentExecutions: 5,
        Environment: { Variables: Match.objectLike({ [ENV.sourcePrefix]: 'exports/' }) },
      });
    });
  });
});
