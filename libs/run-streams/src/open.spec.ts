import { openRunStreams, openStreams, StreamsNotReadyError } from './open';
import { FakeActivity, FakeStreams, testPlan } from './testing';

const noSleep = { sleep: async () => {} };

describe('openStreams', () => {
  it('creates missing streams, waits for them to be ACTIVE, encrypts them and creates both mappings', async () => {
    const aws = new FakeStreams();
    const report = await openStreams(testPlan(), aws, noSleep);
    expect(report.created).toEqual(['records', 'results']);
    expect(report.mappingsCreated).toEqual(['processor', 'writer']);
    for (const name of ['records', 'results']) {
      expect(aws.streams.get(name)).toMatchObject({ status: 'ACTIVE', encrypted: true });
    }
    const mappings = [...aws.mappings.values()];
    expect(mappings.map((m) => [m.functionName, m.streamArn.split('/')[1]])).toEqual([
      ['processor', 'records'],
      ['writer', 'results'],
    ]);
    expect(mappings[0].spec).toMatchObject({
      batchSize: 500,
      bisectBatchOnError: true,
      startingPosition: 'TRIM_HORIZON',
    });
  });

  it('creates nothing when the streams and mappings are there: one describe per stream, one list per mapping', async () => {
    const aws = new FakeStreams();
    await openStreams(testPlan(), aws, noSleep);
    aws.log.length = 0;
    const report = await openStreams(testPlan(), aws, noSleep);
    expect(report.created).toEqual([]);
    expect(report.mappingsCreated).toEqual([]);
    expect(report.calls).toEqual({ DescribeStreamSummary: 2, ListEventSourceMappings: 2 });
  });

  it('never makes a second stream or mapping when two readers open at once', async () => {
    const aws = new FakeStreams();
    await Promise.all([openStreams(testPlan(), aws, noSleep), openStreams(testPlan(), aws, noSleep)]);
    expect(aws.streams.size).toBe(2);
    expect(aws.mappings.size).toBe(2);
    expect(aws.log.filter((l) => l.startsWith('CreateStream'))).toHaveLength(4);
  });

  it('counts a mapping another reader created between its list and its create as there', async () => {
    const aws = new FakeStreams();
    const plan = testPlan();
    await openStreams(plan, aws, noSleep);
    aws.mappings.clear();
    aws.log.length = 0;
    let raced = false;
    aws.before = async (call) => {
      if (call === 'CreateEventSourceMapping' && !raced) {
        raced = true;
        await openStreams(plan, aws, noSleep);
      }
    };
    const report = await openStreams(plan, aws, noSleep);
    expect(aws.mappings.size).toBe(2);
    expect(report.mappingsCreated).toEqual([]);
    expect(aws.log.filter((l) => l === 'CreateEventSourceMapping processor')).toHaveLength(2);
  });

  it('waits for a stream being deleted to go, then creates it again', async () => {
    const aws = new FakeStreams();
    await openStreams(testPlan(), aws, noSleep);
    await aws.deleteStream('records');
    const report = await openStreams(testPlan(), aws, noSleep);
    expect(report.created).toEqual(['records']);
    expect(aws.log).toContain('CreateStream records');
    expect(aws.streams.get('records')?.status).toBe('ACTIVE');
  });

  it('gives up with what to check when a stream does not become ACTIVE in time', async () => {
    const aws = new FakeStreams(1_000);
    const waits: number[] = [];
    await expect(
      openStreams(testPlan(), aws, { sleep: async (ms) => void waits.push(ms), maxWaitMs: 10_000 }),
    ).rejects.toThrow(StreamsNotReadyError);
    expect(waits.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(10_000);
    expect(Math.max(...waits)).toBeLessThanOrEqual(5_000);
  });

  it('leaves encryption out when the plan names no key', async () => {
    const aws = new FakeStreams();
    const plan = testPlan();
    for (const s of plan.streams) delete s.encryptionKeyId;
    await openStreams(plan, aws, noSleep);
    expect(aws.log.some((l) => l.startsWith('StartStreamEncryption'))).toBe(false);
  });

  it('takes a lease for the run before any stream call', async () => {
    const aws = new FakeStreams();
    const activity = new FakeActivity();
    aws.before = () => {
      expect(activity.leases.has('run-1')).toBe(true);
    };
    await openRunStreams(testPlan(), aws, activity, 'run-1', { ...noSleep, now: new Date() });
    expect([...activity.leases.keys()]).toEqual(['run-1']);
  });
});
