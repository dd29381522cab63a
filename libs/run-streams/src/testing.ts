import type { MappingSpec, RunStreamsPlan, StreamSpec } from './plan';
import type { MappingState, StreamState, StreamsPort } from './port';
import type { RunActivity, RunUse } from './retire';

/** A plan as the CDK app writes it for the default settings, for tests. */
export function testPlan(replayWindowHours = 3): RunStreamsPlan {
  const mapping = (functionName: string, streamName: string): MappingSpec => ({
    functionName,
    streamName,
    batchSize: 500,
    batchingWindowSeconds: 1,
    parallelizationFactor: 1,
    bisectBatchOnError: true,
    retryAttempts: 5,
    maxRecordAgeSeconds: 3_600,
    startingPosition: 'TRIM_HORIZON',
    onFailureDestinationArn: 'arn:aws:s3:::failures',
  });
  return {
    streams: [
      { name: 'records', shardCount: 1, retentionHours: 24, encryptionKeyId: 'alias/aws/kinesis' },
      { name: 'results', shardCount: 1, retentionHours: 24, encryptionKeyId: 'alias/aws/kinesis' },
    ],
    mappings: [mapping('processor', 'records'), mapping('writer', 'results')],
    replayWindowHours,
  };
}

interface FakeStream {
  spec: StreamSpec;
  status: StreamState['status'];
  encrypted: boolean;
  retentionHours: number;
  /** DescribeStreamSummary calls before a CREATING, UPDATING or DELETING stream settles. */
  settlesAfter: number;
}

/**
 * Kinesis and Lambda as a state machine: CreateStream, StartStreamEncryption and DeleteStream
 * return at once and settle after `settleAfter` looks, as AWS does after some seconds.
 */
export class FakeStreams implements StreamsPort {
  readonly streams = new Map<string, FakeStream>();
  readonly mappings = new Map<
    string,
    { uuid: string; functionName: string; streamArn: string; spec: MappingSpec; state: string }
  >();
  readonly log: string[] = [];
  private next = 0;
  /** Called before each call: a test's hook to race another caller in. */
  before: (call: string) => Promise<void> | void = () => {};

  constructor(readonly settleAfter = 2) {}

  private settle(name: string): void {
    const s = this.streams.get(name);
    if (!s || s.status === 'ACTIVE') return;
    if (s.settlesAfter-- > 0) return;
    if (s.status === 'DELETING') this.streams.delete(name);
    else s.status = 'ACTIVE';
  }

  private arn(name: string): string {
    return `arn:aws:kinesis:us-east-1:000000000000:stream/${name}`;
  }

  async describeStream(name: string): Promise<StreamState | undefined> {
    await this.before('DescribeStreamSummary');
    this.log.push(`DescribeStreamSummary ${name}`);
    this.settle(name);
    const s = this.streams.get(name);
    return s && { arn: this.arn(name), status: s.status, encrypted: s.encrypted, retentionHours: s.retentionHours };
  }

  async createStream(spec: StreamSpec): Promise<'created' | 'exists'> {
    await this.before('CreateStream');
    this.log.push(`CreateStream ${spec.name}`);
    if (this.streams.has(spec.name)) return 'exists';
    this.streams.set(spec.name, {
      spec,
      status: 'CREATING',
      encrypted: false,
      retentionHours: 24,
      settlesAfter: this.settleAfter,
    });
    return 'created';
  }

  async increaseRetention(name: string, hours: number): Promise<'started' | 'busy'> {
    this.log.push(`IncreaseStreamRetentionPeriod ${name}`);
    const s = this.streams.get(name);
    if (s?.status !== 'ACTIVE') return 'busy';
    s.retentionHours = hours;
    return 'started';
  }

  async startEncryption(name: string): Promise<'started' | 'busy'> {
    await this.before('StartStreamEncryption');
    this.log.push(`StartStreamEncryption ${name}`);
    const s = this.streams.get(name);
    if (s?.status !== 'ACTIVE') return 'busy';
    s.encrypted = true;
    s.status = 'UPDATING';
    s.settlesAfter = this.settleAfter;
    return 'started';
  }

  async deleteStream(name: string): Promise<'deleting' | 'missing'> {
    await this.before('DeleteStream');
    this.log.push(`DeleteStream ${name}`);
    const s = this.streams.get(name);
    if (!s) return 'missing';
    s.status = 'DELETING';
    s.settlesAfter = this.settleAfter;
    return 'deleting';
  }

  /** Listings a deleted mapping stays `Deleting` for (as AWS keeps one some seconds); 0: gone at once. */
  mappingDeletingLooks = 0;
  private deleting = new Map<string, number>();

  async listMappings(functionName: string, streamArn: string): Promise<MappingState[]> {
    await this.before('ListEventSourceMappings');
    this.log.push(`ListEventSourceMappings ${functionName}`);
    for (const [uuid, looks] of this.deleting) {
      if (looks > 0) this.deleting.set(uuid, looks - 1);
      else {
        this.deleting.delete(uuid);
        this.mappings.delete(uuid);
      }
    }
    return [...this.mappings.values()]
      .filter((m) => m.functionName === functionName && m.streamArn === streamArn)
      .map((m) => ({ uuid: m.uuid, state: m.state }));
  }

  async createMapping(spec: MappingSpec, streamArn: string): Promise<'created' | 'exists'> {
    await this.before('CreateEventSourceMapping');
    this.log.push(`CreateEventSourceMapping ${spec.functionName}`);
    if ([...this.mappings.values()].some((m) => m.functionName === spec.functionName && m.streamArn === streamArn))
      return 'exists';
    const uuid = `uuid-${++this.next}`;
    this.mappings.set(uuid, { uuid, functionName: spec.functionName, streamArn, spec, state: 'Enabled' });
    return 'created';
  }

  async deleteMapping(uuid: string): Promise<'deleting' | 'missing'> {
    this.log.push(`DeleteEventSourceMapping ${uuid}`);
    const mapping = this.mappings.get(uuid);
    if (!mapping || mapping.state === 'Deleting') return 'missing';
    if (this.mappingDeletingLooks === 0) this.mappings.delete(uuid);
    else {
      mapping.state = 'Deleting';
      this.deleting.set(uuid, this.mappingDeletingLooks);
    }
    return 'deleting';
  }
}

/** Run activity in memory: `end(run, at)` marks a run complete. */
export class FakeActivity implements RunActivity {
  readonly leases = new Map<string, Date | undefined>();
  retiredAt?: Date;
  /** Called at each `uses()`: a test's hook to open a run meanwhile. */
  onUses: (count: number) => void = () => {};
  private usesCalls = 0;

  /** When each run's lease was last written, for the runs opened with a time. */
  readonly lastActive = new Map<string, Date>();
  async opened(runId: string, at?: Date): Promise<void> {
    if (!this.leases.has(runId)) this.leases.set(runId, undefined);
    if (at) this.lastActive.set(runId, at);
  }
  end(runId: string, at: Date): void {
    this.leases.set(runId, at);
  }
  async uses(): Promise<RunUse[]> {
    this.onUses(++this.usesCalls);
    return [...this.leases].map(([runId, endedAt]) => {
      const lastActiveAt = this.lastActive.get(runId);
      return { runId, endedAt, ...(lastActiveAt ? { lastActiveAt } : {}) };
    });
  }
  async forget(uses: RunUse[]): Promise<void> {
    for (const { runId } of uses) this.leases.delete(runId);
  }
  async retired(at: Date): Promise<void> {
    this.retiredAt = at;
  }
  /** When a sweep marked the streams as being retired (undefined: no mark). */
  retiring?: Date;
  /** Called when a sweep marks or unmarks: a test's hook to race a reader in. */
  onRetiring: (marked: boolean) => Promise<void> | void = () => {};
  async beginRetiring(at: Date): Promise<boolean> {
    if (this.retiring) return false;
    this.retiring = at;
    await this.onRetiring(true);
    return true;
  }
  async endRetiring(): Promise<void> {
    this.retiring = undefined;
    await this.onRetiring(false);
  }
  async retiringSince(): Promise<Date | undefined> {
    return this.retiring;
  }
}
