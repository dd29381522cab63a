import './local-env';
import { randomUUID } from 'node:crypto';
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
import { finish, resetFinisher, sweepStreams } from '@apps/finisher';
import { firehoseClient, kinesisClient, s3Client } from '@pipeline/aws';
import { ENV } from '@pipeline/config';
import { DELIVERY_FORMAT } from '@pipeline/delivery';
import type { Job } from '@pipeline/job';
import { DEFAULTS, KINESIS, RECURSIVE_LOOP, type RecursiveLoopSetting } from '@pipeline/limits';
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
  type LocalMappingHost,
  type LocalMappingRequest,
} from '@pipeline/local-stack';
import { RUN_STREAMS_ENV, type RetireOutcome, type RunStreamsPlan, runStreamsPlan } from '@pipeline/run-streams';
import { putJson, s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { ON_FAILURE_PREFIX } from '@pipeline/records';
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
  /** The event source mappings' on-failure destination, as in AWS a bucket of its own. */
  failuresBucket: 'pipeline-failures',
  readerFunction: 'pipeline-reader',
} as const;

/** The local functions; each signs its calls as itself (access key id = its name), see `iam`. */
export const LOCAL_FUNCTIONS = {
  reader: LOCAL_RESOURCES.readerFunction,
  processor: 'pipeline-processor',
  writer: 'pipeline-writer',
  finisher: 'pipeline-finisher',
} as const;

/** The local event source mappings' UUIDs: fixed, so their on-failure keys name the same mapping across commands. */
export const LOCAL_MAPPING_UUIDS = {
  processor: '00000000-0000-4000-8000-00000000000a',
  writer: '00000000-0000-4000-8000-00000000000b',
} as const;

/** Where Lambda puts a discarded batch's invocation record in an S3 on-failure destination. */
export function onFailureKey(mappingUuid: string, shardId: string, at: Date): string {
  const iso = at.toISOString();
  const day = iso.slice(0, 10).replaceAll('-', '/');
  const time = iso.slice(0, 19).replaceAll(':', '.');
  return `${ON_FAILURE_PREFIX}${mappingUuid}/${shardId}/${day}/${time}-${randomUUID()}`;
}

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
  /**
   * Streams' lifecycle (default DEFAULTS.streamsLifecycle, as the CDK app): `per-run` leaves the
   * streams and mappings to the reader (CreateStream, CreateEventSourceMapping on the local
   * Lambda), and `sweep()` retires them as the finisher's hourly sweep does in AWS.
   */
  streams?: 'always-on' | 'per-run';
  /** Per-run streams: hours they outlive the last run (default DEFAULTS.replayWindowHours). */
  replayWindowHours?: number;
}

/** The per-run plan the CDK app writes into RUN_STREAMS, for the local resources and settings. */
export function localRunStreamsPlan(
  shardCount: number,
  settings: EventSourceSettings,
  replayWindowHours: number,
): RunStreamsPlan {
  const mapping = (fn: string, streamName: string) => ({
    functionName: fn,
    streamName,
    batchSize: settings.batchSize,
    batchingWindowSeconds: settings.maximumBatchingWindowInSeconds,
    parallelizationFactor: settings.parallelizationFactor,
    bisectBatchOnError: settings.bisectBatchOnFunctionError,
    retryAttempts: settings.maximumRetryAttempts,
    maxRecordAgeSeconds: settings.maximumRecordAgeInSeconds,
    startingPosition: 'TRIM_HORIZON' as const,
    onFailureDestinationArn: `arn:aws:s3:::${LOCAL_RESOURCES.failuresBucket}`,
  });
  // Encrypted as the CDK app's: the embedded Kinesis adds StartStreamEncryption to kinesalite (server-process.js).
  const stream = (name: string) => ({
    name,
    shardCount,
    retentionHours: DEFAULTS.streamRetentionHours,
    encryptionKeyId: KINESIS.managedKeyAlias,
  });
  return {
    streams: [stream(LOCAL_RESOURCES.recordsStream), stream(LOCAL_RESOURCES.resultsStream)],
    mappings: [
      mapping(LOCAL_FUNCTIONS.processor, LOCAL_RESOURCES.recordsStream),
      mapping(LOCAL_FUNCTIONS.writer, LOCAL_RESOURCES.resultsStream),
    ],
    replayWindowHours,
  };
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
  /** Whether the streams are per run (created by the reader, retired by `sweep`). */
  perRun = false;
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
    const perRun = (options.streams ?? DEFAULTS.streamsLifecycle) === 'per-run';
    // Synthesizing (or reading the cached) roles goes on while the servers start; per-run streams
    // need the roles the CDK app gives that lifecycle (the reader creates streams and mappings), and
    // the processor's context.once claims are granted for the job it runs.
    const roles =
      options.iam === false || plan.embedded.length === 0
        ? undefined
        : synthesizedRoles(perRun ? withStreamsLifecycle(process.env, 'per-run') : process.env, options.job?.name);
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
      [RUN_STREAMS_ENV]: perRun
        ? JSON.stringify(
            localRunStreamsPlan(
              options.shardCount ?? DEFAULTS.shardCount,
              { ...DEFAULT_EVENT_SOURCE, ...options.eventSource },
              options.replayWindowHours ?? DEFAULTS.replayWindowHours,
            ),
          )
        : '',
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
    // The Lambda API (event source mappings) is checked too when streams are per run.
    const lambdaAs = (fn: keyof typeof LOCAL_FUNCTIONS) =>
      perRun && iam ? { lambda: { credentials: functionCredentials(LOCAL_FUNCTIONS[fn]) } } : {};
    resetReader({ ...job, announce: events }, { ...as('reader'), ...lambdaAs('reader') });
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
      { ...as('finisher'), ...lambdaAs('finisher') },
    );
    const pipeline = new LocalPipeline(dataDir, servers, localFirehose, options);
    pipeline.perRun = perRun;
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
      mappings: perRun ? pipeline.mappingHost() : undefined,
    });
    process.env.AWS_ENDPOINT_URL_LAMBDA = pipeline.lambda.endpoint;
    if (perRun && iam) {
      process.env.AWS_ENDPOINT_URL_LAMBDA = await iam.add('lambda', pipeline.lambda.endpoint);
      servers.push(...iam.servers.slice(-1));
    }
    await pipeline.ensureResources(options.shardCount ?? DEFAULTS.shardCount);
    await advertise(dataDir, {
      kinesis: process.env[endpointVariable('kinesis')],
      s3: process.env[endpointVariable('s3')],
      firehose: process.env[endpointVariable('firehose')],
      lambda: pipeline.lambda.endpoint,
    });
    return pipeline;
  }

  /** Creates the streams, buckets and delivery stream if they are missing. */
  async ensureResources(shardCount: number): Promise<void> {
    const buckets = [
      LOCAL_RESOURCES.sourceBucket,
      LOCAL_RESOURCES.spillBucket,
      LOCAL_RESOURCES.resultsBucket,
      LOCAL_RESOURCES.failuresBucket,
    ];
    for (const bucket of buckets) {
      try {
        await this.s3.send(new CreateBucketCommand({ Bucket: bucket }));
      } catch (error) {
        const name = (error as { name?: string }).name;
        if (name !== 'BucketAlreadyOwnedByYou' && name !== 'BucketAlreadyExists') throw error;
      }
    }
    // Per-run streams are the reader's to create.
    for (const stream of this.perRun ? [] : [LOCAL_RESOURCES.recordsStream, LOCAL_RESOURCES.resultsStream]) {
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
    // Per-run streams: the reader creates the mappings through the local Lambda (mappingHost).
    if (this.perRun || this.mappings.length) return;
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

  /**
   * The pollers behind the local Lambda's event source mapping API: the same event source mapping
   * as startConsumers, for the processor or writer, with the settings CreateEventSourceMapping was
   * given. Checkpoints are kept per mapping (its UUID), so the mapping of a re-created stream starts afresh.
   */
  mappingHost(): LocalMappingHost {
    const handlers: Record<string, ['processor' | 'writer', KinesisEventHandler]> = {
      [LOCAL_FUNCTIONS.processor]: ['processor', this.options.wrapProcessor?.(processorHandler) ?? processorHandler],
      [LOCAL_FUNCTIONS.writer]: ['writer', this.options.wrapWriter?.(writerHandler) ?? writerHandler],
    };
    const describe = async (streamName: string) => {
      try {
        return (await this.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: streamName })))
          .StreamDescriptionSummary;
      } catch (error) {
        if ((error as { name?: string }).name === 'ResourceNotFoundException') return undefined;
        throw error;
      }
    };
    return {
      functions: Object.keys(handlers),
      streamActive: async (streamName) => (await describe(streamName))?.StreamStatus === 'ACTIVE',
      start: async (request: LocalMappingRequest) => {
        const [stage, handler] = handlers[request.functionName];
        await mkdir(join(this.dataDir, 'checkpoints'), { recursive: true });
        const mapping = createEventSourceMapping({
          kinesis: this.kinesis,
          streamName: request.streamName,
          handler: this.lambdaMeter.wrap(stage, handler),
          functionName: request.functionName,
          startingPosition: request.startingPosition,
          functionResponseTypes: request.functionResponseTypes,
          batchSize: request.batchSize,
          maximumBatchingWindowInSeconds: request.maximumBatchingWindowInSeconds,
          parallelizationFactor: request.parallelizationFactor,
          bisectBatchOnFunctionError: request.bisectBatchOnFunctionError,
          maximumRetryAttempts: request.maximumRetryAttempts,
          maximumRecordAgeInSeconds: request.maximumRecordAgeInSeconds,
          pollIntervalMs: 50,
          checkpoints: fileCheckpointStore(join(this.dataDir, 'checkpoints', `${stage}-${request.uuid}.json`)),
          onFailure: request.onFailureDestination
            ? (record) => this.recordFailure(stage, record, request.uuid)
            : undefined,
        });
        mapping.start();
        this.mappings.push(mapping);
        await mapping.ready();
        return {
          stop: async () => {
            this.mappings = this.mappings.filter((m) => m !== mapping);
            await mapping.stop();
          },
        };
      },
    };
  }

  /**
   * Per-run streams: what the finisher's hourly sweep does in AWS, at `now` (the replay window is
   * counted from the last run's end). Undefined when the streams are always on.
   */
  sweep(now = new Date()): Promise<RetireOutcome | undefined> {
    return sweepStreams(now);
  }

  /**
   * The on-failure destination: like an S3 destination, it keeps the whole invocation record, in the
   * failures bucket under the key AWS gives it (`aws/lambda/<mapping UUID>/<shard>/YYYY/MM/DD/<time>-<UUID>`).
   */
  private async recordFailure(
    stage: 'processor' | 'writer',
    record: OnFailureRecord,
    mappingUuid: string = LOCAL_MAPPING_UUIDS[stage],
  ): Promise<void> {
    await putJson(
      this.store,
      LOCAL_RESOURCES.failuresBucket,
      onFailureKey(mappingUuid, record.KinesisBatchInfo.shardId, new Date(record.timestamp)),
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
    // Per-run streams are in no template: their capacity is the plan's (RUN_STREAMS).
    const plan = this.perRun ? runStreamsPlan(process.env) : undefined;
    return {
      calls: this.iam.meter.read(),
      lambda: this.lambdaMeter.read(),
      deployed: plan
        ? { ...this.deployed, streams: { mode: 'provisioned', shards: plan.streams.map((s) => s.shardCount) } }
        : this.deployed,
      deliveryPrincipal: LOCAL_DELIVERY_IDENTITY,
      elapsedMs,
      streams: plan ? { lifecycle: 'per-run', replayWindowHours: plan.replayWindowHours } : { lifecycle: 'always-on' },
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

/** The environment with PIPELINE_OVERRIDES asking for a streams lifecycle, merged into what the user set. */
function withStreamsLifecycle(env: NodeJS.ProcessEnv, lifecycle: 'per-run' | 'always-on'): NodeJS.ProcessEnv {
  let overrides: Record<string, unknown> = {};
  try {
    overrides = env.PIPELINE_OVERRIDES ? (JSON.parse(env.PIPELINE_OVERRIDES) as Record<string, unknown>) : {};
  } catch {
    // The CDK app reports a malformed PIPELINE_OVERRIDES itself.
  }
  const streams = { ...((overrides.streams as Record<string, unknown>) ?? {}), lifecycle };
  return { ...env, PIPELINE_OVERRIDES: JSON.stringify({ ...overrides, streams }) };
}

/** The embedded stack's data folder is used by one command at a time. */
export class DataDirInUseError extends Error {
  override readonly name = 'DataDirInUseError';
}

/** `in-use.json`: which command holds the data folder and, once its stack is up, how another process reaches it. */
export interface DataDirClaim {
  pid: number;
  command: string;
  since: string;
  /** The running stack's endpoints (S3 and Kinesis behind their IAM gateways, Firehose, the reader's Lambda). */
  endpoints?: Partial<Record<'kinesis' | 's3' | 'firehose' | 'lambda', string>>;
  /** The names of its streams, buckets and reader function. */
  resources?: typeof LOCAL_RESOURCES;
}

/** The claim on a data folder of a process still running, if any. */
export async function readDataDirClaim(dataDir: string): Promise<DataDirClaim | undefined> {
  const claim = await readFile(claimFile(resolve(dataDir)), 'utf8').then(
    (text) => JSON.parse(text) as DataDirClaim,
    () => undefined,
  );
  return claim && isAlive(claim.pid) ? claim : undefined;
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

/** Adds the running stack's endpoints to this process's claim, so an operator command in another process can reach it. */
async function advertise(dataDir: string, endpoints: NonNullable<DataDirClaim['endpoints']>): Promise<void> {
  const file = claimFile(dataDir);
  const claim = JSON.parse(await readFile(file, 'utf8')) as DataDirClaim;
  if (claim.pid !== process.pid) return;
  await writeFile(file, JSON.stringify({ ...claim, endpoints, resources: LOCAL_RESOURCES } satisfies DataDirClaim));
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
