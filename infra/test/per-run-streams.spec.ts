import { Match } from 'aws-cdk-lib/assertions';
import { KINESIS } from '@pipeline/limits';
import { LAYOUT } from '@pipeline/records';
import { runStreamsPlan as parsePlan, redriveLeaseKey, SWEEP_EVENT } from '@pipeline/run-streams';
import { pipelineNames } from '../src/names';
import {
  allows,
  ARN,
  grantsOf,
  policiesOf,
  synthPipeline,
  type RolePolicies,
  type SynthesizedPipeline,
  TEST_ENV,
} from './helpers';

const names = pipelineNames('dev');
const records = ARN.stream(names.recordsStream);
const results = ARN.stream(names.resultsStream);
const processorArn = ARN.fn(names.functions.processor);
const writerArn = ARN.fn(names.functions.writer);
const mappingArn = `arn:aws:lambda:${TEST_ENV.region}:${TEST_ENV.account}:event-source-mapping:0f4a-uuid`;
const lease = `${ARN.bucket('results')}/${LAYOUT.streamsLeaseKey('r1')}`;

describe('per-run streams (streams.lifecycle: per-run)', () => {
  let pipeline: SynthesizedPipeline;
  let reader: RolePolicies;
  let finisher: RolePolicies;
  let processor: RolePolicies;
  let writer: RolePolicies;

  beforeAll(() => {
    pipeline = synthPipeline({ streams: { lifecycle: 'per-run', recordsShardCount: 1, resultsShardCount: 1 } });
    reader = policiesOf(pipeline.templates.reader, 'ReaderRole');
    finisher = policiesOf(pipeline.templates.finisher, 'FinisherRole');
    processor = policiesOf(pipeline.templates.processor, 'ProcessorRole');
    writer = policiesOf(pipeline.templates.writer, 'WriterRole');
  });
  afterAll(() => pipeline.cleanup());

  describe('GIVEN the stacks', () => {
    it('THEN no stack deploys a stream or an event source mapping: runs create them', () => {
      for (const template of Object.values(pipeline.templates)) {
        template.resourceCountIs('AWS::Kinesis::Stream', 0);
        // The finisher's queue keeps its (SQS) mapping; no mapping reads a stream.
        const mappings = Object.values(template.findResources('AWS::Lambda::EventSourceMapping'));
        expect(mappings.filter((m) => JSON.stringify(m.Properties.EventSourceArn).includes('kinesis'))).toEqual([]);
      }
    });

    it("THEN the streams' names and ARNs are still outputs, under the names the functions use", () => {
      const outputs = pipeline.templates.shared.findOutputs('*');
      expect(outputs.RecordsStreamName.Value).toBe(names.recordsStream);
      expect(outputs.ResultsStreamName.Value).toBe(names.resultsStream);
      expect(outputs.StreamsLifecycle.Value).toBe('per-run');
      expect(outputs.RecordsStreamArn).toBeDefined();
    });

    it('THEN the reader and the finisher carry the plan: both streams and both mappings with the configured settings', () => {
      const { config } = pipeline;
      for (const [template, prefix] of [
        [pipeline.templates.reader, 'Reader'],
        [pipeline.templates.finisher, 'Finisher'],
      ] as const) {
        const fns = template.findResources('AWS::Lambda::Function');
        const [, fn] = Object.entries(fns).find(([id]) => id.startsWith(prefix)) ?? [];
        const plan = parsePlan(fn?.Properties.Environment.Variables);
        expect(plan?.streams).toEqual([
          { name: names.recordsStream, shardCount: 1, retentionHours: 24, encryptionKeyId: KINESIS.managedKeyAlias },
          { name: names.resultsStream, shardCount: 1, retentionHours: 24, encryptionKeyId: KINESIS.managedKeyAlias },
        ]);
        const settings = config.processor.eventSource;
        expect(plan?.mappings).toEqual([
          {
            functionName: processorArn,
            streamName: names.recordsStream,
            batchSize: settings.batchSize,
            batchingWindowSeconds: settings.batchingWindowSeconds,
            parallelizationFactor: settings.parallelizationFactor,
            bisectBatchOnError: settings.bisectBatchOnError,
            retryAttempts: settings.retryAttempts,
            maxRecordAgeSeconds: settings.maxRecordAgeSeconds,
            startingPosition: settings.startingPosition,
            onFailureDestinationArn: ARN.bucket('failures'),
          },
          expect.objectContaining({ functionName: writerArn, streamName: names.resultsStream }),
        ]);
        expect(plan?.replayWindowHours).toBe(config.streams.replayWindowHours);
      }
    });

    it("THEN the reader stack outputs the reader's plan (RunStreams), for the operator tool's redrive", () => {
      const fns = pipeline.templates.reader.findResources('AWS::Lambda::Function');
      const [, fn] = Object.entries(fns).find(([id]) => id.startsWith('Reader')) ?? [];
      const output = pipeline.templates.reader.findOutputs('RunStreams').RunStreams;
      expect(output.Value).toEqual(fn?.Properties.Environment.Variables.RUN_STREAMS);
      expect(parsePlan({ RUN_STREAMS: output.Value })?.streams.map((s) => s.name)).toEqual([
        names.recordsStream,
        names.resultsStream,
      ]);
    });

    it('THEN an hourly rule sends the finisher the sweep event', () => {
      pipeline.templates.finisher.hasResourceProperties('AWS::Events::Rule', {
        ScheduleExpression: 'rate(1 hour)',
        Targets: [Match.objectLike({ Input: JSON.stringify(SWEEP_EVENT) })],
      });
    });
  });

  describe('GIVEN the reader role', () => {
    it('THEN it may create, describe and encrypt the two streams and no other', () => {
      for (const stream of [records, results]) {
        for (const action of ['kinesis:CreateStream', 'kinesis:DescribeStreamSummary', 'kinesis:StartStreamEncryption'])
          expect(allows(reader, action, stream)).toBe(true);
        expect(allows(reader, 'kinesis:DeleteStream', stream)).toBe(false);
      }
      expect(allows(reader, 'kinesis:CreateStream', ARN.stream('someone-elses'))).toBe(false);
    });

    it('THEN it may create mappings for the processor and the writer only, and list them', () => {
      const create = (fn: string) =>
        allows(reader, 'lambda:CreateEventSourceMapping', '*', { 'lambda:FunctionArn': fn });
      expect(create(processorArn)).toBe(true);
      expect(create(writerArn)).toBe(true);
      expect(create(ARN.fn('another-function'))).toBe(false);
      expect(allows(reader, 'lambda:ListEventSourceMappings', '*')).toBe(true);
      expect(
        allows(reader, 'lambda:DeleteEventSourceMapping', mappingArn, { 'lambda:FunctionArn': processorArn }),
      ).toBe(false);
    });

    it("THEN it may put its run's lease, never read it, and nothing else under streams/", () => {
      expect(allows(reader, 's3:PutObject', lease)).toBe(true);
      expect(allows(reader, 's3:GetObject', lease)).toBe(false);
      expect(allows(reader, 's3:DeleteObject', lease)).toBe(false);
      expect(allows(reader, 's3:PutObject', `${ARN.bucket('results')}/${LAYOUT.streamsRetiredKey}`)).toBe(false);
    });

    it("THEN it may read a sweep's mark, never make or remove one", () => {
      const mark = `${ARN.bucket('results')}/${LAYOUT.streamsRetiringKey}`;
      expect(allows(reader, 's3:GetObject', mark)).toBe(true);
      expect(allows(reader, 's3:PutObject', mark)).toBe(false);
      expect(allows(reader, 's3:DeleteObject', mark)).toBe(false);
    });
  });

  describe('GIVEN the finisher role', () => {
    it('THEN it may describe and delete the two streams, never create them', () => {
      for (const stream of [records, results]) {
        expect(allows(finisher, 'kinesis:DeleteStream', stream)).toBe(true);
        expect(allows(finisher, 'kinesis:CreateStream', stream)).toBe(false);
      }
      expect(allows(finisher, 'kinesis:DeleteStream', ARN.stream('someone-elses'))).toBe(false);
    });

    it("THEN it may delete the processor's and writer's mappings only", () => {
      const del = (fn: string) =>
        allows(finisher, 'lambda:DeleteEventSourceMapping', mappingArn, { 'lambda:FunctionArn': fn });
      expect(del(processorArn)).toBe(true);
      expect(del(writerArn)).toBe(true);
      expect(del(ARN.fn('another-function'))).toBe(false);
    });

    it("THEN it may read and remove leases, a redrive's included, and record the retirement", () => {
      const redriveLease = `${ARN.bucket('results')}/${redriveLeaseKey('r1', 'redrive-1')}`;
      for (const key of [lease, redriveLease]) {
        expect(allows(finisher, 's3:GetObject', key)).toBe(true);
        expect(allows(finisher, 's3:DeleteObject', key)).toBe(true);
      }
      expect(allows(finisher, 's3:PutObject', `${ARN.bucket('results')}/${LAYOUT.streamsRetiredKey}`)).toBe(true);
      expect(allows(finisher, 's3:PutObject', lease)).toBe(false);
    });

    it('THEN it may make, read and remove its mark while it retires the streams', () => {
      const mark = `${ARN.bucket('results')}/${LAYOUT.streamsRetiringKey}`;
      for (const action of ['s3:GetObject', 's3:DeleteObject']) expect(allows(finisher, action, mark)).toBe(true);
      expect(allows(finisher, 's3:PutObject', mark, { 's3:if-none-match': '*' })).toBe(true);
    });

    it('THEN it may put its mark only by a conditional write: if absent, or over a stale mark as it read it', () => {
      const mark = `${ARN.bucket('results')}/${LAYOUT.streamsRetiringKey}`;
      expect(allows(finisher, 's3:PutObject', mark, { 's3:if-match': '"9b2cf535f27731c974343645a3985328"' })).toBe(
        true,
      );
      expect(allows(finisher, 's3:PutObject', mark)).toBe(false);
    });
  });

  describe('GIVEN the consumer roles', () => {
    it('THEN each keeps what its mapping reads with, on its own stream only', () => {
      expect(allows(processor, 'kinesis:GetRecords', records)).toBe(true);
      expect(allows(processor, 'kinesis:GetRecords', results)).toBe(false);
      expect(allows(writer, 'kinesis:GetRecords', results)).toBe(true);
      expect(allows(writer, 'kinesis:GetShardIterator', results)).toBe(true);
    });

    it('THEN each may still write its on-failure records, and only under aws/lambda/', () => {
      expect(allows(processor, 's3:PutObject', `${ARN.bucket('failures')}/aws/lambda/x/y`)).toBe(true);
      expect(allows(writer, 's3:PutObject', `${ARN.bucket('failures')}/elsewhere`)).toBe(false);
    });

    it("THEN each keeps its function's alarms: falling behind, and on-failure records it could not write", () => {
      for (const [template, fn] of [
        [pipeline.templates.processor, names.functions.processor],
        [pipeline.templates.writer, names.functions.writer],
      ] as const) {
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: names.alarms.iteratorAge(fn),
          MetricName: 'IteratorAge',
        });
        template.hasResourceProperties('AWS::CloudWatch::Alarm', {
          AlarmName: names.alarms.destinationFailures(fn),
        });
      }
    });

    it('THEN no role but the reader and finisher has a grant on *, and those only for the mapping API and X-Ray', () => {
      for (const policies of [processor, writer]) {
        const star = grantsOf(policies).filter((g) => g.resources.includes('*'));
        expect(star.flatMap((g) => g.actions).every((a) => a.startsWith('xray:'))).toBe(true);
      }
      for (const policies of [reader, finisher]) {
        const actions = grantsOf(policies)
          .filter((g) => g.resources.includes('*'))
          .flatMap((g) => g.actions)
          .filter((a) => !a.startsWith('xray:'));
        expect(actions.sort()).toEqual(['lambda:CreateEventSourceMapping', 'lambda:ListEventSourceMappings']);
      }
    });
  });

  it('refuses a deployed replay mapping with per-run streams, saying what to do instead', () => {
    expect(() => synthPipeline({ streams: { lifecycle: 'per-run' }, replay: { from: 'trim-horizon' } })).toThrow(
      /per-run streams exist only while runs need them/,
    );
  });

  it('refuses mappings that would start from LATEST on per-run streams: they could miss the first records', () => {
    expect(() =>
      synthPipeline({ streams: { lifecycle: 'per-run' }, writer: { eventSource: { startingPosition: 'LATEST' } } }),
    ).toThrow(/writer\.eventSource\.startingPosition.*use TRIM_HORIZON/s);
  });
});
