import { Match, type Template } from 'aws-cdk-lib/assertions';
import { DEFAULTS } from '@pipeline/limits';
import { ENV } from '@pipeline/config';
import { INFRA_DEFAULTS } from '../src/defaults';
import { pipelineNames } from '../src/names';
import { ARN, synthPipeline, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');

const consumers = [
  {
    app: 'processor',
    stream: names.recordsStream,
    fn: names.functions.processor,
    template: (p: SynthesizedPipeline) => p.templates.processor,
  },
  {
    app: 'writer',
    stream: names.resultsStream,
    fn: names.functions.writer,
    template: (p: SynthesizedPipeline) => p.templates.writer,
  },
] as const;

describe('GIVEN the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline({}, { apps: ['processor', 'writer'] });
  });
  afterAll(() => pipeline.cleanup());

  describe.each(consumers)('WHEN the $app stack is synthesized', ({ app, stream, fn, template }) => {
    const t = (): Template => template(pipeline);

    it(`THEN the ${app} runs its bundle on Node.js 22 with source maps and X-Ray tracing`, () => {
      t().hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: fn,
        Runtime: 'nodejs22.x',
        Handler: 'index.handler',
        MemorySize: INFRA_DEFAULTS.consumerMemoryMiB,
        Timeout: INFRA_DEFAULTS.consumerTimeoutSeconds,
        TracingConfig: { Mode: 'Active' },
        Environment: {
          Variables: Match.objectLike({
            NODE_OPTIONS: '--enable-source-maps',
            POWERTOOLS_SERVICE_NAME: fn,
            POWERTOOLS_METRICS_NAMESPACE: 'SlicePipeline',
            [ENV.resultsStream]: names.resultsStream,
            [ENV.deliveryStream]: names.deliveryStream,
            [ENV.spillPrefix]: DEFAULTS.spillPrefix,
          }),
        },
      });
    });

    it(`THEN the ${app} has no reserved concurrency unless configured: shards × parallelization factor bound it`, () => {
      t().hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: fn,
        ReservedConcurrentExecutions: Match.absent(),
      });
    });

    it(`THEN the ${app} reads ${stream} with the default batch settings, bisect on error, bounded retries and record age, and ReportBatchItemFailures`, () => {
      t().hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        EventSourceArn: ARN.stream(stream),
        BatchSize: DEFAULTS.batchSize,
        MaximumBatchingWindowInSeconds: DEFAULTS.batchingWindowSeconds,
        ParallelizationFactor: DEFAULTS.parallelizationFactor,
        BisectBatchOnFunctionError: true,
        MaximumRetryAttempts: DEFAULTS.maxRetryAttempts,
        MaximumRecordAgeInSeconds: DEFAULTS.maxRecordAgeSeconds,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        StartingPosition: 'TRIM_HORIZON',
        Enabled: true,
      });
    });

    it(`THEN batches the ${app} gives up on go, whole, to the failures bucket`, () => {
      t().hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        DestinationConfig: { OnFailure: { Destination: ARN.bucket('failures') } },
        MetricsConfig: { Metrics: ['EventCount'] },
      });
    });

    it(`THEN an alarm fires when the ${app} falls behind: iterator age over half the maximum record age`, () => {
      t().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.iteratorAge(fn),
        Namespace: 'AWS/Lambda',
        MetricName: 'IteratorAge',
        Statistic: 'Maximum',
        Threshold: (DEFAULTS.maxRecordAgeSeconds / 2) * 1000,
        TreatMissingData: 'notBreaching',
      });
    });

    it(`THEN alarms fire on records the ${app}'s mapping sends to the on-failure destination or drops`, () => {
      const mapping = { Name: 'EventSourceMappingUUID', Value: { Ref: Match.stringLikeRegexp('KinesisEventSource') } };
      t().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.onFailure(fn),
        MetricName: 'OnFailureDestinationDeliveredEventCount',
        Dimensions: [mapping],
        Threshold: 1,
        ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      });
      t().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.dropped(fn),
        MetricName: 'DroppedEventCount',
        Dimensions: [mapping],
      });
      t().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.destinationFailures(fn),
        MetricName: 'DestinationDeliveryFailures',
      });
    });

    it(`THEN an alarm fires on ${app} handler errors`, () => {
      t().hasResourceProperties('AWS::CloudWatch::Alarm', {
        AlarmName: names.alarms.errors(fn),
        MetricName: 'Errors',
        Threshold: 1,
      });
    });

    it(`THEN the ${app}'s outputs name its function and mapping, so the CLI can stop it`, () => {
      const stack = app === 'processor' ? 'Processor' : 'Writer';
      t().hasOutput(`${stack}FunctionName`, { Value: fn });
      t().hasOutput(`${stack}MappingUuid`, { Value: { Ref: Match.stringLikeRegexp('KinesisEventSource') } });
    });
  });

  describe('WHEN the processor stack is synthesized', () => {
    it('THEN the processor and writer keep Lambda’s recursive loop detection (they never invoke a function)', () => {
      for (const [template, functionName] of [
        [pipeline.templates.processor, names.functions.processor],
        [pipeline.templates.writer, names.functions.writer],
      ] as const) {
        const fns = Object.values(template.findResources('AWS::Lambda::Function')).filter(
          (r) => r.Properties.FunctionName === functionName,
        );
        expect(fns).toHaveLength(1);
        expect([undefined, 'Terminate']).toContain(fns[0].Properties.RecursiveLoop);
      }
    });

    it('THEN there is no replay mapping: the processor is the records stream’s only consumer', () => {
      pipeline.templates.processor.resourceCountIs('AWS::Lambda::EventSourceMapping', 1);
      pipeline.templates.processor.resourceCountIs('AWS::Lambda::Function', 1);
    });
  });

  describe('WHEN every alarm the app stacks create is listed', () => {
    it('THEN the dashboard shows each of them', () => {
      const [dashboard] = Object.values(pipeline.templates.shared.findResources('AWS::CloudWatch::Dashboard'));
      const body = JSON.stringify(dashboard.Properties.DashboardBody);
      const alarmNames = [pipeline.templates.processor, pipeline.templates.writer].flatMap((t) =>
        Object.values(t.findResources('AWS::CloudWatch::Alarm')).map((a) => a.Properties.AlarmName as string),
      );

      expect(alarmNames.length).toBe(10);
      for (const name of alarmNames) expect(body).toContain(`:alarm:${name}`);
    });
  });
});

describe('GIVEN other batch settings for each consumer and a processor concurrency cap', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline(
      {
        processor: {
          reservedConcurrency: 20,
          eventSource: {
            batchSize: 100,
            batchingWindowSeconds: 5,
            parallelizationFactor: 4,
            retryAttempts: 2,
            maxRecordAgeSeconds: 600,
            bisectBatchOnError: false,
          },
        },
        writer: { eventSource: { batchSize: 2_000, startingPosition: 'LATEST' } },
        alarms: { iteratorAgeSeconds: 120 },
      },
      { apps: ['processor', 'writer'] },
    );
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the consumer stacks are synthesized', () => {
    it('THEN the processor’s mapping takes its settings', () => {
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        BatchSize: 100,
        MaximumBatchingWindowInSeconds: 5,
        ParallelizationFactor: 4,
        MaximumRetryAttempts: 2,
        MaximumRecordAgeInSeconds: 600,
        BisectBatchOnFunctionError: false,
      });
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::Function', { ReservedConcurrentExecutions: 20 });
    });

    it('THEN the writer’s mapping takes its own settings, independent of the processor’s', () => {
      pipeline.templates.writer.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        BatchSize: 2_000,
        StartingPosition: 'LATEST',
        ParallelizationFactor: DEFAULTS.parallelizationFactor,
      });
    });

    it('THEN the iterator-age alarms fire at the configured age', () => {
      pipeline.templates.writer.hasResourceProperties('AWS::CloudWatch::Alarm', {
        MetricName: 'IteratorAge',
        Threshold: 120_000,
      });
    });
  });
});

describe('GIVEN a replay of one run from the trim horizon', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline(
      { replay: { from: 'trim-horizon', run: '2026-01-31T02-00-00Z' } },
      { apps: ['processor'] },
    );
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the processor stack is synthesized', () => {
    it('THEN a replay function with the processor’s code and role reads the records stream from the trim horizon', () => {
      const processorRole = Object.keys(pipeline.templates.processor.findResources('AWS::IAM::Role')).find((id) =>
        id.startsWith('ProcessorRole'),
      );
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.replayFunction,
        Role: { 'Fn::GetAtt': [processorRole, 'Arn'] },
        Environment: { Variables: Match.objectLike({ POWERTOOLS_SERVICE_NAME: names.replayFunction }) },
      });
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ReplayProcessor') },
        EventSourceArn: ARN.stream(names.recordsStream),
        StartingPosition: 'TRIM_HORIZON',
        Enabled: true,
        FunctionResponseTypes: ['ReportBatchItemFailures'],
        DestinationConfig: { OnFailure: { Destination: ARN.bucket('failures') } },
      });
    });

    it('THEN the replay function selects the run in its handler: it is told the run, its mapping has no filter', () => {
      // Kinesis mappings filter only on the data key (with-kinesis-filtering.html), and a packed
      // record is not one JSON document: a partitionKey filter would not select the run.
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.replayFunction,
        Environment: { Variables: Match.objectLike({ [ENV.replayRun]: '2026-01-31T02-00-00Z' }) },
      });
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ReplayProcessor') },
        FilterCriteria: Match.absent(),
      });
    });

    it('THEN the live processor is not told a run: it processes every record', () => {
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::Function', {
        FunctionName: names.functions.processor,
        Environment: { Variables: Match.not(Match.objectLike({ [ENV.replayRun]: Match.anyValue() })) },
      });
    });

    it('THEN the replay never discards records for their age (MaximumRecordAgeInSeconds -1), unlike the live mapping', () => {
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ReplayProcessor') },
        MaximumRecordAgeInSeconds: -1,
      });
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ProcessorFunction') },
        MaximumRecordAgeInSeconds: DEFAULTS.maxRecordAgeSeconds,
      });
    });

    it('THEN the live mapping is untouched and unfiltered', () => {
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ProcessorFunction') },
        StartingPosition: 'TRIM_HORIZON',
        FilterCriteria: Match.absent(),
      });
    });

    it('THEN the outputs name the replay function and mapping', () => {
      pipeline.templates.processor.hasOutput('ReplayFunctionName', { Value: names.replayFunction });
      pipeline.templates.processor.hasOutput('ReplayMappingUuid', {
        Value: { Ref: Match.stringLikeRegexp('KinesisEventSource') },
      });
    });
  });
});

describe('GIVEN a replay from a point in time, deployed disabled', () => {
  let pipeline: SynthesizedPipeline;
  beforeAll(() => {
    pipeline = synthPipeline({ replay: { from: '2026-01-31T00:00:00Z', enabled: false } }, { apps: ['processor'] });
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the processor stack is synthesized', () => {
    it('THEN the replay mapping starts AT_TIMESTAMP, is disabled until enabled with the CLI, and has no filter', () => {
      pipeline.templates.processor.hasResourceProperties('AWS::Lambda::EventSourceMapping', {
        FunctionName: { Ref: Match.stringLikeRegexp('^ReplayProcessor') },
        StartingPosition: 'AT_TIMESTAMP',
        StartingPositionTimestamp: Date.parse('2026-01-31T00:00:00Z') / 1000,
        Enabled: false,
        FilterCriteria: Match.absent(),
      });
    });
  });
});
