import { pipelineNames } from '../src/names';
import { actionsOn, allows, ARN, grantsOf, synthPipeline, type Grant, type SynthesizedPipeline } from './helpers';

const names = pipelineNames('dev');
const records = ARN.stream(names.recordsStream);
const results = ARN.stream(names.resultsStream);
const delivery = ARN.deliveryStream(names.deliveryStream);
const key = (kind: string, k: string) => `${ARN.bucket(kind)}/${k}`;
const STREAM_READ = ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:SubscribeToShard'];
const STREAM_WRITE = ['kinesis:PutRecords', 'kinesis:PutRecord'];

describe('GIVEN the whole pipeline with the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  let reader: Grant[];
  let processor: Grant[];
  let writer: Grant[];
  let firehose: Grant[];
  let scheduler: Grant[];
  beforeAll(() => {
    pipeline = synthPipeline();
    reader = grantsOf(pipeline.templates.reader, 'ReaderRole');
    scheduler = grantsOf(pipeline.templates.reader, 'SchedulerRole');
    processor = grantsOf(pipeline.templates.processor, 'ProcessorRole');
    writer = grantsOf(pipeline.templates.writer, 'WriterRole');
    firehose = grantsOf(pipeline.templates.shared, 'DeliveryRole');
  });
  afterAll(() => pipeline.cleanup());

  describe('WHEN the reader’s role is examined', () => {
    it('THEN it can put records on the records stream', () => {
      expect(actionsOn(reader, records)).toEqual([
        'kinesis:DescribeStream',
        'kinesis:DescribeStreamSummary',
        'kinesis:PutRecord',
        'kinesis:PutRecords',
      ]);
    });

    it('THEN it cannot read the records stream, nor touch the results stream', () => {
      for (const action of STREAM_READ) expect(allows(reader, action, records)).toBe(false);
      expect(actionsOn(reader, results)).toEqual([]);
    });

    it('THEN it cannot deliver through Firehose', () => {
      expect(allows(reader, 'firehose:PutRecordBatch', delivery)).toBe(false);
    });

    it('THEN it can list and read the source, and never write it', () => {
      expect(allows(reader, 's3:ListBucket', ARN.bucket('source'))).toBe(true);
      expect(allows(reader, 's3:GetObject', key('source', 'data/part-0.ndjson'))).toBe(true);
      expect(allows(reader, 's3:PutObject', key('source', 'data/part-0.ndjson'))).toBe(false);
    });

    it('THEN it can read and write the run ledger under runs/ and nothing else in the results bucket', () => {
      expect(actionsOn(reader, key('results', 'runs/r1/manifest.json'))).toEqual(['s3:GetObject', 's3:PutObject']);
      for (const k of ['results/run=r1/part.gz', 'dead-letters/run=r1/x.json', 'large-results/run=r1/s/0.json']) {
        expect(actionsOn(reader, key('results', k))).toEqual([]);
      }
    });

    it('THEN it can put spilled records but not read them back', () => {
      expect(actionsOn(reader, key('spill', 'spill/r1/s1/0.data.json'))).toEqual(['s3:PutObject']);
    });

    it('THEN it can invoke itself, to hand a long run on, and no other function', () => {
      expect(allows(reader, 'lambda:InvokeFunction', ARN.fn(names.functions.reader))).toBe(true);
      expect(allows(reader, 'lambda:InvokeFunction', ARN.fn(names.functions.processor))).toBe(false);
    });
  });

  describe('WHEN the processor’s role is examined', () => {
    it('THEN it reads the records stream through its event source mapping', () => {
      for (const action of STREAM_READ) expect(allows(processor, action, records)).toBe(true);
    });

    it('THEN it puts results on the results stream, and cannot write the records stream nor read the results stream', () => {
      expect(allows(processor, 'kinesis:PutRecords', results)).toBe(true);
      for (const action of STREAM_WRITE) expect(allows(processor, action, records)).toBe(false);
      for (const action of STREAM_READ) expect(allows(processor, action, results)).toBe(false);
    });

    it('THEN it cannot write to Firehose at all', () => {
      expect(processor.flatMap((g) => g.actions).filter((a) => a.startsWith('firehose:'))).toEqual([]);
    });

    it('THEN it resolves and writes spilled objects', () => {
      expect(actionsOn(processor, key('spill', 'spill/r1/s1/0.data.json'))).toEqual(['s3:GetObject', 's3:PutObject']);
    });

    it('THEN it reads the kill switch, parks paused runs’ records, and writes nothing else of the ledger', () => {
      expect(actionsOn(processor, key('results', 'runs/r1/control.json'))).toEqual(['s3:GetObject']);
      expect(allows(processor, 's3:PutObject', key('results', 'runs/r1/parked/processor/0001.json'))).toBe(true);
      expect(allows(processor, 's3:PutObject', key('results', 'runs/r1/parked/writer/0001.json'))).toBe(false);
      expect(allows(processor, 's3:PutObject', key('results', 'dead-letters/run=r1/x.json'))).toBe(false);
    });

    it('THEN it can list the buckets it reads, so a missing object reads as "not found" (no kill switch set)', () => {
      expect(allows(processor, 's3:ListBucket', ARN.bucket('results'))).toBe(true);
      expect(allows(processor, 's3:ListBucket', ARN.bucket('spill'))).toBe(true);
    });
  });

  describe('WHEN the writer’s role is examined', () => {
    it('THEN it reads the results stream through its event source mapping, and not the records stream', () => {
      for (const action of STREAM_READ) {
        expect(allows(writer, action, results)).toBe(true);
        expect(allows(writer, action, records)).toBe(false);
      }
    });

    it('THEN it cannot put records on any stream', () => {
      for (const action of STREAM_WRITE) {
        expect(allows(writer, action, records)).toBe(false);
        expect(allows(writer, action, results)).toBe(false);
      }
    });

    it('THEN it delivers through its own delivery stream only', () => {
      expect(actionsOn(writer, delivery)).toEqual(['firehose:PutRecordBatch']);
      expect(allows(writer, 'firehose:PutRecordBatch', ARN.deliveryStream('another-stream'))).toBe(false);
    });

    it('THEN it keeps the ledger, dead letters and large results, and cannot write Firehose’s own prefix', () => {
      for (const k of [
        'runs/r1/slices/s1/done.json',
        'dead-letters/run=r1/reason=x/s/0.json',
        'large-results/run=r1/s/0.json',
      ]) {
        expect(actionsOn(writer, key('results', k))).toEqual(['s3:GetObject', 's3:PutObject']);
      }
      expect(allows(writer, 's3:PutObject', key('results', 'results/run=r1/part.gz'))).toBe(false);
    });

    it('THEN it resolves spilled results and cannot write the spill bucket', () => {
      expect(actionsOn(writer, key('spill', 'spill/r1/s1/0.result.json'))).toEqual(['s3:GetObject']);
    });
  });

  describe('WHEN every function role is examined', () => {
    it('THEN each can only add on-failure records (put under aws/lambda/), never read them', () => {
      for (const grants of [reader, processor, writer]) {
        expect(actionsOn(grants, key('failures', 'aws/lambda/uuid/shard/2026/01/31/x'))).toEqual(['s3:PutObject']);
        expect(allows(grants, 's3:PutObject', key('failures', 'elsewhere/x'))).toBe(false);
      }
    });

    it('THEN "*" as a resource is granted only for X-Ray, which has no resource-level permissions', () => {
      for (const grants of [reader, processor, writer]) {
        const onEverything = grants.filter((g) => g.resources.includes('*')).flatMap((g) => g.actions);
        expect(onEverything.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    });

    it('THEN no action is granted by wildcard and nothing can be deleted', () => {
      for (const grants of [reader, processor, writer, firehose, scheduler]) {
        const actions = grants.flatMap((g) => g.actions);
        expect(actions.filter((a) => a.includes('*'))).toEqual([]);
        expect(actions.filter((a) => /Delete/.test(a))).toEqual([]);
      }
    });

    it('THEN each writes only its own log group', () => {
      for (const [grants, logicalId] of [
        [reader, 'ReaderLogs'],
        [processor, 'ProcessorLogs'],
        [writer, 'WriterLogs'],
      ] as const) {
        const logs = grants.filter((g) => g.actions.some((a) => a.startsWith('logs:')));
        expect(logs).toHaveLength(1);
        expect(logs[0].resources).toEqual([expect.stringContaining(logicalId)]);
      }
    });
  });

  describe('WHEN the service roles are examined', () => {
    it('THEN Firehose can write only its delivery and error prefixes of the results bucket', () => {
      const objects = firehose.filter((g) => g.actions.includes('s3:PutObject')).flatMap((g) => g.resources);

      expect(objects).toHaveLength(2);
      expect(objects.join(' ')).toMatch(/\/results\/\*.*\/delivery-errors\/\*/);
      expect(firehose.flatMap((g) => g.resources).join(' ')).not.toMatch(/runs\//);
    });

    it('THEN the schedule can invoke the reader and do nothing else', () => {
      expect(scheduler.flatMap((g) => g.actions)).toEqual(['lambda:InvokeFunction']);
      expect(scheduler.flatMap((g) => g.resources).every((r) => r.includes('ReaderFunction'))).toBe(true);
    });
  });
});
