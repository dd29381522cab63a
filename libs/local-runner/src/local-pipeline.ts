import './local-env';
import { basename, join, resolve } from 'node:path';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import {
  CreateStreamCommand,
  DescribeStreamSummaryCommand,
  ResourceInUseException,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { CreateBucketCommand, type S3Client } from '@aws-sdk/client-s3';
import {
  CreateDeliveryStreamCommand,
  DescribeDeliveryStreamCommand,
  type FirehoseClient,
} from '@aws-sdk/client-firehose';
import { handler as readerHandler, resetReader, type ReaderRequest, type ReaderResult } from '@apps/reader';
import { handler as processorHandler, resetProcessor } from '@apps/processor';
import { handler as writerHandler, resetWriter } from '@apps/writer';
import { finish, resetFinisher } from '@apps/finisher';
import { firehoseClient, kinesisClient, s3Client } from '@pipeline/aws';
import { ENV } from '@pipeline/config';
import { DELIVERY_FORMAT } from '@pipeline/delivery';
import type { Job } from '@pipeline/job';
import { DEFAULTS, RECURSIVE_LOOP, type RecursiveLoopSetting } from '@pipeline/limits';
import {
  createEventSourceMapping,
  fileCheckpointStore,
  LOCAL_ACCOUNT_ID,
  LOCAL_S3_CREDENTIALS,
  startLocalFirehose,
  startLocalKinesis,
  startLocalLambda,
  startLocalS3,
  type EventSourceMapping,
  type LocalLambda,
  type KinesisEventHandler,
  type LocalFirehose,
  type LocalServer,
  type OnFailureRecord,
  startKinesisFaultProxy,
  type KinesisFaultProxy,
  type KinesisFaults,
  functionCredentials,
  startIamGateways,
  type DeniedCall,
  type IamGateways,
  LambdaMeter,
} from '@pipeline/local-stack';
import { putJson, s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { LAYOUT } from '@pipeline/records';
import { collateEndedRun } from '@pipeline/collation';
import { fileRunEvents, type FinishOutcome, RunLedger } from '@pipeline/run-ledger';
import { EMBEDDED_ENDPOINTS, type EndpointPlan, endpointVariable, planEndpoints, type Service } from './endpoints';
import { type DeployedCapacity, deployedCapacity, localIdentities, synthesizedRoles } from './iam';
import type { MeteredRun } from './run-cost';

/** The names of the local resources; the same names the CDK app gives them by default. */
export const LOCAL_RESOURCES = {
  recordsStream: 'pipeline-records',
  resultsStream: 'pipeline-results',
  deliveryStream: 'pipeline-delivery',
  sourceBucket: 'pipeline-source',
  spillBucket: 'pipeline-spill',
  resultsBucket: 'pipeline-results',
  readerFunction: 'pipeline-reader',
} as const;

/** The local functions; each signs its calls as itself (access key id = its name), see `iam`. */
export const LOCAL_FUNCTIONS = {
  reader: LOCAL_RESOURCES.readerFunction,
  processor: 'pipeline-processor',
  writer: 'pipeline-writer',
  finisher: 'pipeline-finisher',
} as const;

/** The local Firehose's identity: it writes to S3 as the delivery stream's role allows. */
const LOCAL_DELIVERY_IDENTITY = 'pipeline-delivery';

/** Where the embedded stack keeps its streams, buckets and checkpoints between commands (git-ignored). */
export const DEFAULT_DATA_DIR = resolve(__dirname, '../../../.local');

export interface EventSourceSettings {
  batchSize: number;
  maximumBatchingWindowInSeconds: number;
  parallelizationFactor: number;
  maximumRetryAttempts: number;
  maximumRecordAgeInSeconds: number;
  bisectBatchOnFunctionError: boolean;
}

export interface LocalPipelineOptions {
  dataDir?: string;
  shardCount?: number;
  /** Overrides of the handlers' environment (SLICE_BYTES, SPILL_THRESHOLD_BYTES, …). */
  env?: Record<string, string>;
  eventSource?: Partial<EventSourceSettings>;
  /**
   * Caps the local delivery stream's buffer interval (ms): local runs want Firehose to deliver
   * promptly, a test of late delivery wants it long. The finisher bounds its wait by the same value.
   */
  firehoseBufferIntervalMs?: number;
  /** Keep the streams in memory instead of under the data folder (they do not outlive the process). */
  streamsInMemory?: boolean;
  /** Run another job than the active one (its source format and transform). */
  job?: Job;
  /** Throttle a share of PutRecords entries (a fault proxy in front of the local Kinesis). */
  kinesisFaults?: KinesisFaults;
  /** Wraps a handler, e.g. to inject a fault in a test. */
  wrapProcessor?: (handler: KinesisEventHandler) => KinesisEventHandler;
  wrapWriter?: (handler: KinesisEventHandler) => KinesisEventHandler;
  /**
   * How the local Lambda runs the reader: its timeout (default Lambda's 900 s), the clock its
   * `getRemainingTimeInMillis` reads, and its recursive loop setting (default the deployed one).
   */
  reader?: { timeoutMs?: number; clock?: () => number; recursiveLoop?: RecursiveLoopSetting };
  /**
   * Check every call a function makes on the embedded stack against its role's policies as the
   * CDK app synthesizes them, and refuse what AWS would refuse (default true). Off only where a
   * test says why.
   */
  iam?: boolean;
}

const DEFAULT_EVENT_SOURCE: EventSourceSettings = {
  batchSize: DEFAULTS.batchSize,
  maximumBatchingWindowInSeconds: DEFAULTS.batchingWindowSeconds,
  parallelizationFactor: DEFAULTS.parallelizationFactor,
  maximumRetryAttempts: DEFAULTS.maxRetryAttempts,
  maximumRecordAgeInSeconds: DEFAULTS.maxRecordAgeSeconds,
  bisectBatchOnFunctionError: true,
};

/**
 * The pipeline on one machine: the embedded stack (Kinesis, S3 and Firehose API servers on
 * loopback) — or external endpoints when the SDK's AWS_ENDPOINT_URL_* variables are set — plus
 * event source mappings that invoke the very handlers Lambda runs.
 */
export class LocalPipeline {
  readonly kinesis: KinesisClient;
  readonly s3: S3Client;
  readonly firehose: FirehoseClient;
  readonly store: ObjectStore;
  readonly ledger: RunLedger;
  /** Whether any service runs embedded (the data folder then holds its state). */
  readonly embedded: boolean;
  /** What runs where, as the handlers see it. */
  readonly endpoints: EndpointPlan;
  private mappings: EventSourceMapping[] = [];
  faultProxy?: KinesisFaultProxy;
  /** Runs the reader as Lambda does, so its hand-on to a fresh invocation takes the real code path. */
  lambda?: LocalLambda;
  /** The IAM gateways in front of the embedded servers, when IAM is enforced. */
  iam?: IamGateways;
  /** Each function's invocations and billed duration, for the cost report. */
  readonly lambdaMeter = new LambdaMeter();
  /** Memory, architecture and stream capacity as the CDK app deploys them (known when IAM is enforced). */
  deployed?: DeployedCapacity;

  private constructor(
    readonly dataDir: string,
    private readonly servers: LocalServer[],
    readonly localFirehose: LocalFirehose | undefined,
    private readonly options: LocalPipelineOptions,
  ) {
    this.embedded = servers.length > 0;
    this.endpoints = planEndpoints(process.env);
    this.kinesis = kinesisClient();
    this.s3 = s3Client();
    this.firehose = firehoseClient();
    this.store = s3ObjectStore(this.s3);
    this.ledger = new RunLedger(this.store, LOCAL_RESOURCES.resultsBucket);
  }

  /**
   * Starts the embedded services — each one whose endpoint the user did not set (see endpoints.ts) —
   * and points the handlers at them.
   */
  static async start(options: LocalPipelineOptions = {}): Promise<LocalPipeline> {
    const dataDir = resolve(options.dataDir ?? process.env.PIPELINE_DATA_DIR ?? DEFAULT_DATA_DIR);
    await mkdir(dataDir, { recursive: true });
    await claimDataDir(dataDir);
    const plan = planEndpoints(process.env);
    const embeds = (service: Service) => plan.embedded.includes(service);
    const servers: LocalServer[] = [];
    let localFirehose: LocalFirehose | undefined;
    let faultProxy: KinesisFaultProxy | undefined;
    let iam: IamGateways | undefined;
    process.env.AWS_REGION ??= 'us-east-1';
    // Synthesizing (or reading the cached) roles goes on while the servers start.
    const roles = options.iam === false || plan.embedded.length === 0 ? undefined : synthesizedRoles();
    roles?.catch(() => undefined);
    const upstreams: Partial<Record<Service, string>> = {};
    const setEndpoint = (service: Service, endpoint: string) => {
      upstreams[service] = endpoint;
      process.env[endpointVariable(service)] = endpoint;
      const ours = new Set((process.env[EMBEDDED_ENDPOINTS] ?? '').split(',').filter(Boolean)).add(service);
      process.env[EMBEDDED_ENDPOINTS] = [...ours].join(',');
    };
    if (plan.external.length === 0) {
      // Nothing leaves the machine: the embedded servers take any key, and the user needs none.
      process.env.AWS_ACCESS_KEY_ID = LOCAL_S3_CREDENTIALS.accessKeyId;
      process.env.AWS_SECRET_ACCESS_KEY = LOCAL_S3_CREDENTIALS.secretAccessKey;
      delete process.env.AWS_SESSION_TOKEN;
    }
    if (embeds('kinesis')) {
      const kinesis = await startLocalKinesis({ path: options.streamsInMemory ? undefined : join(dataDir, 'kinesis') });
      servers.push(kinesis);
      if (options.kinesisFaults) {
        faultProxy = await startKinesisFaultProxy(kinesis.endpoint, options.kinesisFaults);
        servers.push(faultProxy);
      }
      setEndpoint('kinesis', faultProxy?.endpoint ?? kinesis.endpoint);
    }
    if (embeds('s3')) {
      const s3 = await startLocalS3({ directory: join(dataDir, 's3') });
      servers.push(s3);
      setEndpoint('s3', s3.endpoint);
      // s3rver does not read aws-chunked uploads (streamed bodies with trailing checksums).
      process.env.AWS_REQUEST_CHECKSUM_CALCULATION = 'WHEN_REQUIRED';
    }
    if (roles) {
      // An IAM gateway in front of each embedded server: what the functions call is checked there.
      const region = process.env.AWS_REGION;
      const identities = localIdentities(
        await roles,
        LOCAL_FUNCTIONS,
        LOCAL_RESOURCES,
        region,
        LOCAL_DELIVERY_IDENTITY,
      );
      iam = await startIamGateways(
        { ...upstreams },
        { partition: 'aws', region, accountId: LOCAL_ACCOUNT_ID },
        identities,
      );
      servers.push(...iam.servers);
      for (const [service, endpoint] of Object.entries(iam.endpoints) as [Service, string][])
        setEndpoint(service, endpoint);
    }
    if (embeds('firehose')) {
      localFirehose = await startLocalFirehose({
        // Firehose writes with its delivery stream's role, checked like a function's calls.
        s3: s3Client(
          process.env,
          iam?.endpoints.s3 ? { credentials: functionCredentials(LOCAL_DELIVERY_IDENTITY) } : {},
        ),
        stateFile: join(dataDir, 'firehose', 'state.json'),
        bufferOverride: { sizeBytes: DEFAULTS.localFirehoseBufferBytes, intervalMs: localIntervalMs(options) },
      });
      setEndpoint('firehose', localFirehose.endpoint);
      if (iam) {
        setEndpoint('firehose', await iam.add('firehose', localFirehose.endpoint));
        servers.push(...iam.servers.slice(-1));
      }
    }
    const handlerEnv: Record<string, string> = {
      [ENV.recordsStream]: LOCAL_RESOURCES.recordsStream,
      [ENV.resultsStream]: LOCAL_RESOURCES.resultsStream,
      [ENV.deliveryStream]: LOCAL_RESOURCES.deliveryStream,
      [ENV.resultsBucket]: LOCAL_RESOURCES.resultsBucket,
      [ENV.spillBucket]: LOCAL_RESOURCES.spillBucket,
      [ENV.sourceBucket]: LOCAL_RESOURCES.sourceBucket,
      ...(embeds('firehose') ? { [ENV.deliveryBufferIntervalSeconds]: String(localIntervalMs(options) / 1000) } : {}),
      ...options.env,
    };
    Object.assign(process.env, handlerEnv);
    const job = options.job ? { job: options.job } : {};
    // Each function signs as itself to the services IAM is enforced on; to the others with the user's credentials.
    const as = (fn: keyof typeof LOCAL_FUNCTIONS) =>
      Object.fromEntries(
        Object.keys(iam?.endpoints ?? {}).map((service) => [
          service,
          { credentials: functionCredentials(LOCAL_FUNCTIONS[fn]) },
        ]),
      );
    // The run's events: what EventBridge carries in AWS, appended to .local/events.ndjson here.
    const events = fileRunEvents(join(dataDir, 'events.ndjson'));
    resetReader({ ...job, announce: events }, as('reader'));
    resetProcessor(job, as('processor'));
    resetWriter({}, as('writer'));
    // Where AWS starts the collation state machine on complete.json or failed.json, collate and announce here.
    resetFinisher(
      {
        afterEnd: async (outcome) => {
          await collateEndedRun({
            store: pipeline.store,
            bucket: LOCAL_RESOURCES.resultsBucket,
            runId: outcome.runId,
            events,
          });
        },
      },
      as('finisher'),
    );
    const pipeline = new LocalPipeline(dataDir, servers, localFirehose, options);
    pipeline.faultProxy = faultProxy;
    pipeline.iam = iam;
    if (roles && iam) pipeline.deployed = deployedCapacity(await roles);
    // The handlers run in this process, so the reader's own Invoke comes here, whatever the other endpoints.
    pipeline.lambda = await startLocalLambda({
      clock: options.reader?.clock,
      functions: [
        {
          name: LOCAL_RESOURCES.readerFunction,
          handler: pipeline.lambdaMeter.wrap('reader', (event, context) =>
            readerHandler(event as ReaderRequest, context),
          ),
          timeoutMs: options.reader?.timeoutMs,
          recursiveLoop: options.reader?.recursiveLoop ?? RECURSIVE_LOOP.reader,
        },
      ],
    });
    process.env.AWS_ENDPOINT_URL_LAMBDA = pipeline.lambda.endpoint;
    await pipeline.ensureResources(options.shardCount ?? DEFAULTS.shardCount);
    return pipeline;
  }

  /** Creates the streams, buckets and delivery stream if they are missing. */
  async ensureResources(shardCount: number): Promise<void> {
    for (const bucket of [LOCAL_RESOURCES.sourceBucket, LOCAL_RESOURCES.spillBucket, LOCAL_RESOURCES.resultsBucket]) {
      try {
        await this.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      }
    }
    for (const stream of [LOCAL_RESOURCES.recordsStream, LOCAL_RESOURCES.resultsStream]) {
      try {
        await this.kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shardCount }));
      } catch (error) {
        if (
          !(error instanceof ResourceInUseException) &&
          (error as { name?: string }).name !== 'ResourceInUseException'
        )
          throw error;
      }
      for (let i = 0; ; i++) {
        const { StreamDescriptionSummary } = await this.kinesis.send(
          new DescribeStreamSummaryCommand({ StreamName: stream }),
        );
        if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') break;
        if (i > 100) throw new Error(`stream ${stream} did not become ACTIVE`);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    try {
      await this.firehose.send(
        new DescribeDeliveryStreamCommand({ DeliveryStreamName: LOCAL_RESOURCES.deliveryStream }),
      );
    } catch (error) {
      if ((error as { name?: string }).name !== 'ResourceNotFoundException') throw error;
      await this.firehose.send(new CreateDeliveryStreamCommand(deliveryStreamDefinition()));
    }
  }

  /** Starts the processor's and the writer's event source mappings, resuming from their checkpoints. */
  async startConsumers(): Promise<void> {
    if (this.mappings.length) return;
    const settings = { ...DEFAULT_EVENT_SOURCE, ...this.options.eventSource };
    const consumers: ['processor' | 'writer', string, KinesisEventHandler][] = [
      ['processor', LOCAL_RESOURCES.recordsStream, this.options.wrapProcessor?.(processorHandler) ?? processorHandler],
      ['writer', LOCAL_RESOURCES.resultsStream, this.options.wrapWriter?.(writerHandler) ?? writerHandler],
    ];
    await mkdir(join(this.dataDir, 'checkpoints'), { recursive: true });
    for (const [stage, streamName, handler] of consumers) {
      const mapping = createEventSourceMapping({
        kinesis: this.kinesis,
        streamName,
        handler: this.lambdaMeter.wrap(stage, handler),
        functionName: LOCAL_FUNCTIONS[stage],
        startingPosition: 'TRIM_HORIZON',
        functionResponseTypes: ['ReportBatchItemFailures'],
        ...settings,
        pollIntervalMs: 50,
        checkpoints: fileCheckpointStore(join(this.dataDir, 'checkpoints', `${stage}.json`)),
        onFailure: (record) => this.recordFailure(stage, record),
      });
      mapping.start();
      this.mappings.push(mapping);
    }
    await Promise.all(this.mappings.map((m) => m.ready()));
  }

  /** The on-failure destination: like an S3 destination, it keeps the whole invocation record. */
  private async recordFailure(stage: string, record: OnFailureRecord): Promise<void> {
    const info = record.KinesisBatchInfo;
    await putJson(
      this.store,
      LOCAL_RESOURCES.resultsBucket,
      `${LAYOUT.onFailurePrefix(stage)}${info.shardId}-${info.startSequenceNumber}.json`,
      record,
    );
  }

  /**
   * Invokes the reader as the schedule or a caller would, through the local Lambda; resolves with
   * the first invocation's result (a long run goes on in the invocations it hands on to).
   */
  read(request: ReaderRequest): Promise<ReaderResult> {
    if (!this.lambda) throw new Error('the local Lambda is not running: start the pipeline with LocalPipeline.start()');
    return this.lambda.invoke<ReaderResult>(LOCAL_RESOURCES.readerFunction, request);
  }

  /** The calls IAM refused so far (empty when IAM is not enforced). */
  deniedCalls(): DeniedCall[] {
    return this.iam?.denied() ?? [];
  }

  consumerStats() {
    return this.mappings.map((m) => m.stats());
  }

  /** Waits until both consumers have nothing left to do, then makes Firehose deliver its buffers. */
  async drain(timeoutMs = 120_000): Promise<void> {
    await this.drainConsumers(timeoutMs);
    await this.localFirehose?.flush();
  }

  /**
   * Waits until the reader's queued invocations and both consumers have nothing left to do;
   * Firehose delivers on its own time, as in AWS.
   */
  async drainConsumers(timeoutMs = 120_000): Promise<void> {
    await this.lambda?.drain();
    for (const mapping of this.mappings) await mapping.drain({ idleMs: 100, timeoutMs });
    // The writer may have been fed by the processor while it drained: check once more.
    for (const mapping of this.mappings) await mapping.drain({ idleMs: 100, timeoutMs });
  }

  /**
   * Asks the finisher whether a run's output is in S3 and conserved, and completes it if so: what
   * the finisher's queue does in AWS, each time the run's message comes back.
   */
  finish(runId: string, now = new Date()): Promise<FinishOutcome> {
    // One check is one invocation of the finisher by its queue's message.
    return this.lambdaMeter.wrap('finisher', (run: string, at: Date) => finish(run, at))(runId, now);
  }

  /** Starts metering afresh: what the functions call from now on is the next run's. */
  resetMeters(): void {
    this.iam?.meter.reset();
    this.lambdaMeter.reset();
  }

  /** What the functions used since the meters were reset; undefined without the IAM gateways (nothing is metered). */
  metered(elapsedMs: number): MeteredRun | undefined {
    if (!this.iam || !this.deployed) return undefined;
    return {
      calls: this.iam.meter.read(),
      lambda: this.lambdaMeter.read(),
      deployed: this.deployed,
      deliveryPrincipal: LOCAL_DELIVERY_IDENTITY,
      elapsedMs,
    };
  }

  async stopConsumers(): Promise<void> {
    await Promise.all(this.mappings.map((m) => m.stop()));
    this.mappings = [];
  }

  async stop(): Promise<void> {
    await this.stopConsumers();
    await this.lambda?.drain();
    await this.lambda?.close();
    delete process.env.AWS_ENDPOINT_URL_LAMBDA;
    await this.localFirehose?.close();
    for (const server of this.servers.reverse()) await server.close();
    // Endpoints this pipeline's embedded services set go with them; the user's stay.
    for (const service of (process.env[EMBEDDED_ENDPOINTS] ?? '').split(',').filter(Boolean))
      delete process.env[endpointVariable(service as Service)];
    delete process.env[EMBEDDED_ENDPOINTS];
    this.kinesis.destroy();
    this.s3.destroy();
    this.firehose.destroy();
    await releaseDataDir(this.dataDir);
  }

  /** Why one of the embedded servers stopped on its own, if one did. */
  serverFailure(): Error | undefined {
    for (const server of this.servers) {
      const failure = server.failure?.();
      if (failure) return failure;
    }
    return undefined;
  }
}

/** The embedded stack's data folder is used by one command at a time. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

interface DataDirClaim {
  pid: number;
  command: string;
  since: string;
}

const claimFile = (dataDir: string) => join(dataDir, 'in-use.json');

/**
 * Claims the data folder for this process, or says which command holds it. A claim whose process
 * is gone (a run killed with SIGKILL) is stale and taken over: the run resumes from the folder.
 */
async function claimDataDir(dataDir: string): Promise<void> {
  const file = claimFile(dataDir);
  const existing = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as DataDirClaim,
    () => undefined,
  );
  if (existing && existing.pid !== process.pid && isAlive(existing.pid)) {
    throw new DataDirInUseError(
      `the data folder ${dataDir} is in use by another command (pid ${existing.pid}, \`${existing.command}\`, since ${existing.since}): ` +
        'wait for it to finish or stop it, or give this command another --data-dir',
    );
  }
  const command = [basename(process.argv[1] ?? 'node'), ...process.argv.slice(2)].join(' ');
  const claim: DataDirClaim = { pid: process.pid, command, since: new Date().toISOString() };
  await writeFile(file, JSON.stringify(claim));
}

async function releaseDataDir(dataDir: string): Promise<void> {
  const file = claimFile(dataDir);
  const existing = await readFile(file, 'utf8').then(
    (text) => JSON.parse(text) as DataDirClaim,
    () => undefined,
  );
  if (existing?.pid === process.pid) await rm(file, { force: true });
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The local delivery stream's effective buffer interval: its definition's, capped for local runs. */
function localIntervalMs(options: LocalPipelineOptions): number {
  const defined = deliveryStreamDefinition().ExtendedS3DestinationConfiguration.BufferingHints.IntervalInSeconds * 1000;
  return Math.min(defined, options.firehoseBufferIntervalMs ?? DEFAULTS.localFirehoseBufferIntervalMs);
}

/** The delivery stream, as the CDK app defines it (DELIVERY_FORMAT), buffering aside. */
export function deliveryStreamDefinition() {
  return {
    DeliveryStreamName: LOCAL_RESOURCES.deliveryStream,
    DeliveryStreamType: 'DirectPut' as const,
    ExtendedS3DestinationConfiguration: {
      RoleARN: 'arn:aws:iam::000000000000:role/pipeline-delivery',
      BucketARN: `arn:aws:s3:::${LOCAL_RESOURCES.resultsBucket}`,
      Prefix: DELIVERY_FORMAT.prefix,
      ErrorOutputPrefix: DELIVERY_FORMAT.errorOutputPrefix,
      BufferingHints: { SizeInMBs: 64, IntervalInSeconds: 60 },
      CompressionFormat: 'UNCOMPRESSED' as const,
      DynamicPartitioningConfiguration: { Enabled: true },
      ProcessingConfiguration: {
        Enabled: true,
        Processors: DELIVERY_FORMAT.processors.map((p) => ({
          Type: p.type,
          Parameters: p.parameters.map((q) => ({ ParameterName: q.name, ParameterValue: q.value })),
        })),
      },
    },
  };
}
