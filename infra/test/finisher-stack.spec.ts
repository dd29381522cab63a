import { Match, type Template } from 'aws-cdk-lib/assertions';
import { ENV } from '@pipeline/config';
import { deliveryBoundSeconds, FIREHOSE, SQS } from '@pipeline/limits';
import { finisherQueueTiming, resolveConfig } from '../src/config';
import { INFRA_DEFAULTS } from '../src/defaults';
import { pipelineNames } from '../src/names';
import { actionsOn, allows, ARN, grantsOf, synthPipeline, type Grant, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');
const key = (kind: string, k: string) => `${ARN.bucket(kind)}/${k}`;
const ref = (template: Template, type: string, name: string, nameProperty: string) =>
  Object.keys(template.findResources(type, { Properties: { [nameProperty]: name } }))[0];

describe('GIVEN the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  let t: Template;
  let finisher: Grant[];
  beforeAll(() => {
    pipeline = synthPipeline({}, { apps: ['finisher'] });
    t = pipeline.templates.finisher;
    finisher = grantsOf(t, 'FinisherRole');
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the finisher stack is synthesized', () => {
    it('THEN the finisher runs its bundle, bounding its wait by the delivery stream’s buffer interval', () => {
      t.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.functions.finisher,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        Timeout: INFRA_DEFAULTS.finisherTimeoutSeconds,
        TracingConfig: { Mode: 'Active' },
        Environment: {
          Variables: Match.objectLike({
            [ENV.resultsBucket]: Match.anyValue(),
            [ENV.deliveryBufferIntervalSeconds]: String(FIREHOSE.buffering.defaultIntervalSeconds),
          }),
        },
      });
    });

    it('THEN the creation of runs/<run>/delivered.json in the results bucket, and nothing else, goes to the finisher’s queue', () => {
      const queue = ref(t, 'AWS::SQS::Queue', names.finisherQueue, 'QueueName');
      t.hasResourceProperties('AWS::Events::Rule', {
        Name: names.deliveredRule,
        State: 'ENABLED',
        EventPattern: {
          source: ['aws.s3'],
          'detail-type': ['Object Created'],
          detail: {
            bucket: { name: [Match.anyValue()] },
            object: { key: [{ wildcard: 'runs/*/delivered.json' }] },
          },
        },
        Targets: [Match.objectLike({ Arn: { 'Fn::GetAtt': [queue, 'Arn'] } })],
      });
    });

    it('THEN the queue holds a run’s message until Firehose should have delivered (1.5 buffer intervals and a margin)', () => {
      const bound = deliveryBoundSeconds(FIREHOSE.buffering.defaultIntervalSeconds);
      expect(bound).toBeLessThanOrEqual(SQS.maxDelaySeconds);
      t.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: names.finisherQueue,
        DelaySeconds: bound,
        VisibilityTimeout: INFRA_DEFAULTS.finisherTimeoutSeconds * SQS.visibilityTimeoutPerFunctionTimeout,
        SqsManagedSseEnabled: true,
      });
    });

    it('THEN a run still not in S3 after a bounded number of checks goes to the dead-letter queue, and an alarm fires', () => {
      const dlq = ref(t, 'AWS::SQS::Queue', names.finisherDeadLetterQueue, 'QueueName');
      t.hasResourceProperties('AWS::SQS::Queue', {
        QueueName: names.finisherQueue,
        RedrivePolicy: {
          deadLetterTargetArn: { 'Fn::GetAtt': [dlq, 'Arn'] },
          maxReceiveCount: INFRA_DEFAULTS.finisherMaxReceiveCount,
        },
      });
      t.hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.runsStalled,
        MetricName: 'ApproximateNumberOfMessagesVisible',
        Dimensions: [{ Name: 'QueueName', Value: { 'Fn::GetAtt': [dlq, 'QueueName'] } }],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
    });

    it('THEN the finisher takes the queue’s messages with partial batch failures, so one run still delivering does not hold back others', () => {
      t.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^Finisher') },
        FunctionResponseTypes: ['ReportBatchItemFailures'],
      });
    });

    it('THEN only EventBridge, for this rule, may send to the queue, and only over TLS', () => {
      const policies = Object.values(t.findResources('AWS::SQS::QueuePolicy'));
      const statements = policies.flatMap(
        (p) => p.Properties.PolicyDocument.Statement as { Effect: string; Principal: unknown; Condition?: unknown }[],
      );
      const allowed = statements.filter((s) => s.Effect === 'Allow');
      expect(allowed).toHaveLength(1);
      const rule = ref(t, 'AWS::Events::Rule', names.deliveredRule, 'Name');
      expect(allowed[0]).toMatchObject({
        Principal: { Service: 'events.amazonaws.com' },
        Condition: { ArnEquals: { 'aws:SourceArn': { 'Fn::GetAtt': [rule, 'Arn'] } } },
      });
      expect(statements.filter((s) => s.Effect === 'Deny').length).toBeGreaterThan(0);
    });
  });

  describe('WHEN the finisher’s role is examined', () => {
    it('THEN it reads the run ledger and the delivered output, and lists the results bucket', () => {
      expect(actionsOn(finisher, key('results', 'runs/r1/delivered.json'))).toEqual(['s3:GetObject']);
      expect(actionsOn(finisher, key('results', 'results/run=r1/2026/x.gz'))).toEqual(['s3:GetObject']);
      expect(allows(finisher, 's3:ListBucket', ARN.bucket('results'))).toBe(true);
    });

    it('THEN it writes only a run’s complete.json and stalled.json, never its markers nor the output', () => {
      expect(actionsOn(finisher, key('results', 'runs/r1/complete.json'))).toEqual(['s3:GetObject', 's3:PutObject']);
      expect(actionsOn(finisher, key('results', 'runs/r1/stalled.json'))).toEqual(['s3:GetObject', 's3:PutObject']);
      for (const k of ['runs/r1/delivered.json', 'runs/r1/slices/s/read.json', 'results/run=r1/x', 'dead-letters/x'])
        expect(allows(finisher, 's3:PutObject', key('results', k))).toBe(false);
    });

    it('THEN it touches no stream, no delivery stream and no other bucket', () => {
      const actions = finisher.flatMap((g) => g.actions);
      expect(actions.filter((a) => a.startsWith('kinesis:') || a.startsWith('firehose:'))).toEqual([]);
      for (const kind of ['source', 'spill', 'failures'])
        expect(allows(finisher, 's3:GetObject', key(kind, 'anything'))).toBe(false);
      expect(actions.filter((a) => a.includes('*') || (/Delete/.test(a) && !a.startsWith('sqs:')))).toEqual([]);
    });
  });
});

describe('the finisher queue’s timing', () => {
  it('caps the delay at SQS’s longest and lets the receives cover the rest of the bound', () => {
    const config = resolveConfig({
      overrides: { firehose: { bufferIntervalSeconds: FIREHOSE.buffering.maxIntervalSeconds } },
    });
    const timing = finisherQueueTiming(config);
    expect(timing.boundSeconds).toBe(deliveryBoundSeconds(FIREHOSE.buffering.maxIntervalSeconds));
    expect(timing.delaySeconds).toBe(SQS.maxDelaySeconds);
    expect(timing.coversSeconds).toBeGreaterThanOrEqual(timing.boundSeconds);
  });

  it('refuses a configuration whose receives end before the bound, saying what to raise', () => {
    expect(() =>
      resolveConfig({
        overrides: {
          firehose: { bufferIntervalSeconds: FIREHOSE.buffering.maxIntervalSeconds },
          finisher: { timeoutSeconds: 1, maxReceiveCount: 1 },
        },
      }),
    ).toThrow(/finisher\.maxReceiveCount: .*raise it/);
  });
});
