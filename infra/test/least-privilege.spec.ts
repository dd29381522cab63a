import { job } from '@pipeline/active-job';
import { LAYOUT } from '@pipeline/records';
import { parkedPrefix } from '@pipeline/run-ledger';
import { JobNameError, onceClaimsKey, pipelineNames } from '../src/names';
import {
  actionsOn,
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
const delivery = ARN.deliveryStream(names.deliveryStream);
const key = (kind: string, k: string) => `${ARN.bucket(kind)}/${k}`;
const STREAM_READ = ['kinesis:GetRecords', 'kinesis:GetShardIterator', 'kinesis:SubscribeToShard'];
const STREAM_WRITE = ['kinesis:PutRecords', 'kinesis:PutRecord'];

/** One object of each kind in the results bucket, keyed as the apps key them (the records layout). */
const id = { run: 'r1', slice: 's1', pos: 7 };
const RESULTS_OBJECTS = {
  manifest: LAYOUT.manifestKey(id.run),
  'slice read marker': LAYOUT.sliceReadKey(id.run, id.slice),
  'slice done marker': LAYOUT.sliceDoneKey(id.run, id.slice),
  'kill switch': LAYOUT.controlKey(id.run),
  'failure counter': LAYOUT.failuresKey(id),
  'delivered marker': LAYOUT.deliveredKey(id.run),
  'completion resume point': LAYOUT.doneThroughKey(id.run),
  'completion marker': LAYOUT.completeKey(id.run),
  'stalled marker': LAYOUT.stalledKey(id.run),
  'failure marker': LAYOUT.failedKey(id.run),
  summary: LAYOUT.summaryKey(id.run),
  'records parked by the processor': `${parkedPrefix(id.run, 'processor')}0001.json`,
  'records parked by the writer': `${parkedPrefix(id.run, 'writer')}0001.json`,
  'dead letter': LAYOUT.deadLetterKey({ kind: 'dead-letter', id, reason: 'transform-failed' } as never),
  'large result': LAYOUT.largeResultKey(id),
  'delivered result': `${LAYOUT.resultsPrefix(id.run)}2026/part.gz`,
  'delivery error': `${LAYOUT.deliveryErrorsPrefix}processing-failed/x`,
  'collated part': LAYOUT.collatedPartKey(id.run, 0),
  'collation query result': `${LAYOUT.queryResultsPrefix}0123-abcd.csv`,
  // A claim of the job the processor's bundle runs (the active job).
  'once claim': LAYOUT.onceClaimKey(job.name, `${id.run}/${id.slice}/${id.pos}`),
} as const;
type ResultsObject = keyof typeof RESULTS_OBJECTS;

const GET = 's3:GetObject';
const PUT = 's3:PutObject';
/** What Athena needs to write a file of a query's output (multipart uploads, and giving up on one). */
const ATHENA_WRITE = ['s3:AbortMultipartUpload', 's3:ListMultipartUploadParts', PUT];
/**
 * Exactly what each function may do to each kind of object: what its handler reads and writes
 * (apps/*\/src and the run-ledger, spill and object-store libs), nothing more. The operator's
 * objects (kill switch writes) are no function's; `collation` is the run markers state machine,
 * whose role Athena's queries run with: it reads the output and dead letters and the end markers,
 * and writes only the collated parts, the summary and its own query results.
 */
const RESULTS_ACCESS: Record<
  ResultsObject,
  Record<'reader' | 'processor' | 'writer' | 'finisher' | 'collation', string[]>
> = {
  // The processor and writer check what records claim against the reader's manifest (its run key
  // and slices) and read markers; the writer lets a slice's first true marker win.
  // The reader creates both only with a conditional PUT (tested below), and reads them back.
  manifest: { reader: [GET], processor: [GET], writer: [GET], finisher: [GET], collation: [] },
  'slice read marker': { reader: [GET], processor: [GET], writer: [GET], finisher: [GET], collation: [] },
  'slice done marker': { reader: [GET], processor: [], writer: [GET, PUT], finisher: [GET], collation: [] },
  'kill switch': { reader: [GET], processor: [GET], writer: [GET], finisher: [GET], collation: [] },
  'failure counter': { reader: [], processor: [GET, PUT], writer: [], finisher: [], collation: [] },
  'delivered marker': { reader: [GET, PUT], processor: [], writer: [GET, PUT], finisher: [GET], collation: [] },
  'completion resume point': { reader: [], processor: [], writer: [GET, PUT], finisher: [], collation: [] },
  'completion marker': { reader: [], processor: [], writer: [], finisher: [GET, PUT], collation: [GET] },
  'stalled marker': { reader: [], processor: [], writer: [], finisher: [GET, PUT], collation: [] },
  summary: { reader: [], processor: [], writer: [], finisher: [], collation: [PUT] },
  'records parked by the processor': { reader: [], processor: [PUT], writer: [], finisher: [], collation: [] },
  'records parked by the writer': { reader: [], processor: [], writer: [PUT], finisher: [], collation: [] },
  'dead letter': { reader: [], processor: [], writer: [PUT], finisher: [], collation: [GET] },
  'large result': { reader: [], processor: [], writer: [PUT], finisher: [], collation: [] },
  'delivered result': { reader: [], processor: [], writer: [], finisher: [GET], collation: [GET] },
  'delivery error': { reader: [], processor: [], writer: [], finisher: [], collation: [] },
  'collated part': { reader: [], processor: [], writer: [], finisher: [], collation: ATHENA_WRITE },
  'failure marker': { reader: [], processor: [], writer: [], finisher: [GET, PUT], collation: [GET] },
  // context.once: only a conditional PUT claims a side effect (tested below); a claim is read back after a 412.
  'once claim': { reader: [], processor: [GET], writer: [], finisher: [], collation: [] },
  'collation query result': {
    reader: [],
    processor: [],
    writer: [],
    finisher: [],
    collation: [GET, ...ATHENA_WRITE].sort(),
  },
};

describe('GIVEN the whole pipeline with the default configuration', () => {
  let pipeline: SynthesizedPipeline;
  let reader: RolePolicies;
  let processor: RolePolicies;
  let writer: RolePolicies;
  let firehose: RolePolicies;
  let scheduler: RolePolicies;
  let finisher: RolePolicies;
  let collation: RolePolicies;
  beforeAll(() => {
    pipeline = synthPipeline();
    collation = policiesOf(pipeline.templates.finisher, 'RunMarkersStateMachineRole');
    reader = policiesOf(pipeline.templates.reader, 'ReaderRole');
    scheduler = policiesOf(pipeline.templates.reader, 'SchedulerRole');
    finisher = policiesOf(pipeline.templates.finisher, 'FinisherRole');
    processor = policiesOf(pipeline.templates.processor, 'ProcessorRole');
    writer = policiesOf(pipeline.templates.writer, 'WriterRole');
    firehose = policiesOf(pipeline.templates.shared, 'DeliveryRole');
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

    it.each(Object.keys(RESULTS_OBJECTS) as ResultsObject[])(
      'THEN it may do to the %s exactly what its handler needs',
      (kind) => {
        expect(actionsOn(reader, key('results', RESULTS_OBJECTS[kind]))).toEqual(RESULTS_ACCESS[kind].reader);
      },
    );

    it('THEN it may create a manifest and a read marker only with a conditional PUT, so it never replaces another reader’s', () => {
      const conditional = { 's3:if-none-match': '*' };
      for (const kind of ['manifest', 'slice read marker'] as const) {
        const object = key('results', RESULTS_OBJECTS[kind]);
        expect(allows(reader, PUT, object, conditional)).toBe(true);
        expect(allows(reader, PUT, object)).toBe(false);
      }
      expect(allows(reader, PUT, key('results', RESULTS_OBJECTS['slice done marker']), conditional)).toBe(false);
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
      expect(
        grantsOf(processor)
          .flatMap((g) => g.actions)
          .filter((a) => a.startsWith('firehose:')),
      ).toEqual([]);
    });

    it('THEN it resolves and writes spilled objects', () => {
      expect(actionsOn(processor, key('spill', 'spill/r1/s1/0.data.json'))).toEqual(['s3:GetObject', 's3:PutObject']);
    });

    it.each(Object.keys(RESULTS_OBJECTS) as ResultsObject[])(
      'THEN it may do to the %s exactly what its handler needs',
      (kind) => {
        expect(actionsOn(processor, key('results', RESULTS_OBJECTS[kind]))).toEqual(RESULTS_ACCESS[kind].processor);
      },
    );

    it('THEN it may claim a side effect for context.once only with a conditional PUT, so no claim can be overwritten', () => {
      const claim = key('results', RESULTS_OBJECTS['once claim']);
      const conditional = { 's3:if-none-match': '*' };
      expect(allows(processor, PUT, claim, conditional)).toBe(true);
      expect(allows(processor, PUT, claim)).toBe(false);
      expect(allows(processor, PUT, key('results', LAYOUT.summaryKey(id.run)), conditional)).toBe(false);
      for (const role of [reader, writer, finisher, collation])
        expect(allows(role, PUT, claim, conditional)).toBe(false);
    });

    it('THEN its context.once grant names its own job’s claims, and a claim under another job’s prefix is denied', () => {
      const own = key('results', `once/${job.name}/*`);
      const claimGrants = grantsOf(processor).filter((g) => g.resources.some((r) => r.includes('/once/')));
      expect(claimGrants.flatMap((g) => g.resources)).toEqual([own, own]);
      const conditional = { 's3:if-none-match': '*' };
      for (const other of ['weekly-email', `${job.name}-2`, 'x']) {
        const claim = key('results', LAYOUT.onceClaimKey(other, `${id.run}/${id.slice}/${id.pos}`));
        expect(allows(processor, PUT, claim, conditional)).toBe(false);
        expect(allows(processor, GET, claim)).toBe(false);
      }
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

    it.each(Object.keys(RESULTS_OBJECTS) as ResultsObject[])(
      'THEN it may do to the %s exactly what its handler needs',
      (kind) => {
        expect(actionsOn(writer, key('results', RESULTS_OBJECTS[kind]))).toEqual(RESULTS_ACCESS[kind].writer);
      },
    );

    it('THEN it resolves spilled results and cannot write the spill bucket', () => {
      expect(actionsOn(writer, key('spill', 'spill/r1/s1/0.result.json'))).toEqual(['s3:GetObject']);
    });
  });

  describe('WHEN the finisher’s role is examined', () => {
    it.each(Object.keys(RESULTS_OBJECTS) as ResultsObject[])(
      'THEN it may do to the %s exactly what its handler needs',
      (kind) => {
        expect(actionsOn(finisher, key('results', RESULTS_OBJECTS[kind]))).toEqual(RESULTS_ACCESS[kind].finisher);
      },
    );
  });

  describe('WHEN the collation state machine’s role is examined', () => {
    const workGroup = `arn:aws:athena:${TEST_ENV.region}:${TEST_ENV.account}:workgroup/${names.athenaWorkGroup}`;
    const glue = (resource: string) => `arn:aws:glue:${TEST_ENV.region}:${TEST_ENV.account}:${resource}`;

    it.each(Object.keys(RESULTS_OBJECTS) as ResultsObject[])(
      'THEN it (and Athena, running its queries as it) may do to the %s exactly what collation needs',
      (kind) => {
        expect(actionsOn(collation, key('results', RESULTS_OBJECTS[kind]))).toEqual(RESULTS_ACCESS[kind].collation);
      },
    );

    it('THEN it runs queries in the collation workgroup only, and reads only the results and dead letters tables', () => {
      expect(allows(collation, 'athena:StartQueryExecution', workGroup)).toBe(true);
      expect(allows(collation, 'athena:GetQueryResults', workGroup)).toBe(true);
      expect(allows(collation, 'athena:StartQueryExecution', `${workGroup.replace(/[^/]+$/, 'primary')}`)).toBe(false);
      expect(allows(collation, 'glue:GetTable', glue(`table/${names.glueDatabase}/results`))).toBe(true);
      expect(allows(collation, 'glue:GetTable', glue(`table/${names.glueDatabase}/dead_letters`))).toBe(true);
      expect(allows(collation, 'glue:GetTable', glue(`table/${names.glueDatabase}/other`))).toBe(false);
      expect(allows(collation, 'glue:CreateTable', glue(`database/${names.glueDatabase}`))).toBe(false);
    });

    it('THEN it puts events on the pipeline’s bus only, and touches no stream, function or other bucket', () => {
      const bus = (name: string) => `arn:aws:events:${TEST_ENV.region}:${TEST_ENV.account}:event-bus/${name}`;
      expect(allows(collation, 'events:PutEvents', bus(names.eventBus))).toBe(true);
      expect(allows(collation, 'events:PutEvents', bus('default'))).toBe(false);
      expect(allows(collation, 'kinesis:PutRecords', records)).toBe(false);
      expect(allows(collation, 'lambda:InvokeFunction', ARN.fn(names.functions.reader))).toBe(false);
      for (const kind of ['source', 'spill', 'failures']) expect(actionsOn(collation, key(kind, 'x'))).toEqual([]);
    });

    it('THEN "*" is granted only for X-Ray and log delivery, which support no resource-level permissions, and nothing of the pipeline can be deleted', () => {
      const onEverything = grantsOf(collation)
        .filter((g) => g.resources.includes('*'))
        .flatMap((g) => g.actions);
      expect(onEverything.every((a) => a.startsWith('xray:') || a.startsWith('logs:'))).toBe(true);
      const actions = grantsOf(collation)
        .filter((g) => !g.resources.includes('*'))
        .flatMap((g) => g.actions);
      expect(actions.filter((a) => a.includes('*') || /Delete/.test(a))).toEqual([]);
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
        const onEverything = grantsOf(grants)
          .filter((g) => g.resources.includes('*'))
          .flatMap((g) => g.actions);
        expect(onEverything.sort()).toEqual(['xray:PutTelemetryRecords', 'xray:PutTraceSegments']);
      }
    });

    it('THEN no action is granted by wildcard and nothing can be deleted', () => {
      for (const grants of [reader, processor, writer, firehose, scheduler]) {
        const actions = grantsOf(grants).flatMap((g) => g.actions);
        expect(actions.filter((a) => a.includes('*'))).toEqual([]);
        expect(actions.filter((a) => /Delete/.test(a))).toEqual([]);
      }
    });

    it('THEN each writes only its own log group', () => {
      for (const [grants, functionName] of [
        [reader, names.functions.reader],
        [processor, names.functions.processor],
        [writer, names.functions.writer],
      ] as const) {
        const logs = grantsOf(grants).filter((g) => g.actions.some((a) => a.startsWith('logs:')));
        expect(logs).toHaveLength(1);
        expect(logs[0].resources).toEqual([
          `arn:aws:logs:${TEST_ENV.region}:${TEST_ENV.account}:log-group:/aws/lambda/${functionName}:*`,
        ]);
      }
    });
  });

  describe('WHEN the service roles are examined', () => {
    it('THEN Firehose can write only its delivery and error prefixes of the results bucket', () => {
      const objects = grantsOf(firehose)
        .filter((g) => g.actions.includes('s3:PutObject'))
        .flatMap((g) => g.resources);

      expect(objects).toEqual([key('results', 'results/*'), key('results', 'delivery-errors/*')]);
      for (const kind of Object.keys(RESULTS_OBJECTS) as ResultsObject[])
        if (!kind.startsWith('deliver'))
          expect(allows(firehose, PUT, key('results', RESULTS_OBJECTS[kind]))).toBe(false);
    });

    it('THEN the schedule can invoke the reader and do nothing else', () => {
      expect(grantsOf(scheduler).flatMap((g) => g.actions)).toEqual(['lambda:InvokeFunction']);
      expect(grantsOf(scheduler).flatMap((g) => g.resources)).toEqual([
        ARN.fn(names.functions.reader),
        `${ARN.fn(names.functions.reader)}:*`,
      ]);
    });
  });
});

describe('GIVEN a pipeline whose processor runs another job than the active one', () => {
  let pipeline: SynthesizedPipeline;
  let processor: RolePolicies;
  beforeAll(() => {
    pipeline = synthPipeline({}, { apps: ['processor'], jobName: 'weekly-email' });
    processor = policiesOf(pipeline.templates.processor, 'ProcessorRole');
  });
  afterAll(() => pipeline.cleanup());

  it('THEN the processor may claim under that job’s prefix, and not under the active job’s', () => {
    const claim = (name: string) => key('results', LAYOUT.onceClaimKey(name, 'r1/s1/7'));
    const conditional = { 's3:if-none-match': '*' };
    expect(allows(processor, PUT, claim('weekly-email'), conditional)).toBe(true);
    expect(allows(processor, GET, claim('weekly-email'))).toBe(true);
    expect(allows(processor, PUT, claim(job.name), conditional)).toBe(false);
    expect(allows(processor, GET, claim(job.name))).toBe(false);
  });

  it('THEN a job name that would reach into other jobs’ claims, or be an IAM wildcard, is refused', () => {
    expect(onceClaimsKey('weekly-email')).toBe('once/weekly-email/*');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: an IAM policy variable, literally
    for (const jobName of ['team/weekly', 'weekly*', 'week?', '${aws:username}', ''])
      expect(() => onceClaimsKey(jobName)).toThrow(JobNameError);
  });
});
