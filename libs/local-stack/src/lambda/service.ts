import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Context } from 'aws-lambda';
import { LAMBDA, type RecursiveLoopSetting } from '@pipeline/limits';
import {
  LAMBDA_DEFAULT_MEMORY_MB,
  LAMBDA_MAX_TIMEOUT_SECONDS,
  LOCAL_ACCOUNT_ID,
  LOCAL_MAPPING_DELETING_LOOKS,
} from '../event-source/constants';
import type { LocalServer } from '../servers';

/** A function the local Lambda service runs: the handler Lambda would run, and its settings. */
export interface LocalFunction {
  name: string;
  handler: (event: unknown, context: Context) => unknown;
  /** Timeout that `getRemainingTimeInMillis` counts down from. Default 900 s. Not enforced. */
  timeoutMs?: number;
  /** Recursive loop detection (`RECURSIVE_LOOP` of @pipeline/limits). Default Terminate, as in AWS. */
  recursiveLoop?: RecursiveLoopSetting;
}

/** One event source mapping as CreateEventSourceMapping asked for it (Kinesis settings only). */
export interface LocalMappingRequest {
  uuid: string;
  functionName: string;
  streamArn: string;
  streamName: string;
  batchSize?: number;
  maximumBatchingWindowInSeconds?: number;
  parallelizationFactor?: number;
  bisectBatchOnFunctionError?: boolean;
  maximumRetryAttempts?: number;
  maximumRecordAgeInSeconds?: number;
  startingPosition: 'TRIM_HORIZON' | 'LATEST' | 'AT_TIMESTAMP';
  functionResponseTypes?: 'ReportBatchItemFailures'[];
  onFailureDestination?: string;
}

/**
 * Where the event source mapping API's pollers live: the local runner, which knows the consumers'
 * handlers, their checkpoints and the Kinesis endpoint.
 */
export interface LocalMappingHost {
  /** Functions a mapping may invoke (the processor and writer are not invoked through the API). */
  functions: string[];
  /** DescribeStreamSummary: whether the stream exists and is ACTIVE. */
  streamActive(streamName: string): Promise<boolean>;
  /** Starts polling; throws EventSourceMappingConfigError for settings CreateEventSourceMapping refuses. */
  start(request: LocalMappingRequest): Promise<{ stop(): Promise<void> }>;
}

export interface LocalLambdaOptions {
  functions: LocalFunction[];
  /** Serve the event source mapping API (Create/Get/List/DeleteEventSourceMapping) with these pollers. */
  mappings?: LocalMappingHost;
  region?: string;
  /** Milliseconds, for `getRemainingTimeInMillis`. Default Date.now. */
  clock?: () => number;
}

/** An invocation Lambda's recursive loop detection stopped. */
export interface RecursionStop {
  functionName: string;
  /** Invocations of the function the chain had already run. */
  invocations: number;
  message: string;
  payload: unknown;
}

export interface LocalLambdaStats {
  /** Invocations that ran (sync and async). */
  invocations: number;
  /** Asynchronous invocations queued and not yet run. */
  queued: number;
  /** Invocations stopped by recursive loop detection. */
  recursionStops: RecursionStop[];
  /** Errors of asynchronous invocations (Lambda would retry them and then send them to their on-failure destination). */
  asyncErrors: { functionName: string; message: string }[];
}

/** A local Lambda: the Invoke API on loopback (reach it with AWS_ENDPOINT_URL_LAMBDA) and in-process invokes. */
export interface LocalLambda extends LocalServer {
  /**
   * Invokes a function synchronously (RequestResponse), as a caller outside any chain would (the
   * schedule, an operator); rejects with the handler's error.
   */
  invoke<T = unknown>(functionName: string, payload: unknown): Promise<T>;
  /** Resolves once no asynchronous invocation is queued or running. */
  drain(): Promise<void>;
  stats(): LocalLambdaStats;
}

/** One invocation: which chain of requests it belongs to, and how often each function ran in it. */
interface Chain {
  counts: Map<string, number>;
}

interface Invocation {
  fn: LocalFunction;
  payload: unknown;
  chain: Chain;
}

const INVOKE_PATH = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/;
const MAPPINGS_PATH = /^\/2015-03-31\/event-source-mappings\/?([^/]*)$/;

interface LocalMapping {
  request: LocalMappingRequest;
  functionArn: string;
  lastModified: number;
  poller: { stop(): Promise<void> };
  /** Once deleted: the looks (List, Get) it stays `Deleting` for, still holding its function and stream. */
  deletingLooks?: number;
}

/**
 * Starts a local Lambda service. Handlers run in this process, one at a time: asynchronous
 * (`InvocationType: 'Event'`) invocations are queued and run in order, each with a context whose
 * `getRemainingTimeInMillis` counts down the function's timeout.
 *
 * Recursive loop detection as Lambda does it (invocation-recursion.html): a function invoked more
 * than {@link LAMBDA.maxRecursiveChainInvocations} times in one chain of requests has its next
 * invocation stopped unless its recursive loop setting is Allow; the stop is recorded in `stats()`
 * and, for a synchronous call, answered with RecursiveInvocationException. Lambda follows the chain
 * through X-Ray trace headers; here an Invoke that arrives while an invocation runs belongs to that
 * invocation's chain (invocations run one at a time, so the caller is known), and one that arrives
 * otherwise starts a chain.
 *
 * Not emulated: async retries and on-failure destinations (errors are kept in `stats()`), timeouts
 * (counted down, not enforced), payload limits, qualifiers.
 *
 * @example
 * ```ts
 * const lambda = await startLocalLambda({ functions: [{ name: 'reader', handler, recursiveLoop: RECURSIVE_LOOP.reader }] });
 * process.env.AWS_ENDPOINT_URL_LAMBDA = lambda.endpoint;
 * await lambda.invoke('reader', { runId });
 * await lambda.drain();
 * ```
 */
export async function startLocalLambda(options: LocalLambdaOptions): Promise<LocalLambda> {
  const service = new LocalLambdaService(options);
  await service.listen();
  return service;
}

class LocalLambdaService implements LocalLambda {
  endpoint = '';
  private readonly server: Server;
  private readonly functions = new Map<string, LocalFunction>();
  private readonly queue: Invocation[] = [];
  /** Invocations running now, innermost last (a synchronous invoke from a handler nests). */
  private readonly running: Invocation[] = [];
  private pumping?: Promise<void>;
  /** Serializes top-level invocations: one runs at a time. */
  private turn: Promise<void> = Promise.resolve();
  private readonly clock: () => number;
  private readonly region: string;
  private invocations = 0;
  private readonly recursionStops: RecursionStop[] = [];
  private readonly asyncErrors: { functionName: string; message: string }[] = [];
  private readonly mappings = new Map<string, LocalMapping>();
  private readonly mappingHost?: LocalMappingHost;
  /** Serializes mapping creation, so two racing creates on one function and stream conflict as in AWS. */
  private mappingTurn: Promise<unknown> = Promise.resolve();

  constructor(options: LocalLambdaOptions) {
    for (const fn of options.functions) this.functions.set(fn.name, fn);
    this.clock = options.clock ?? Date.now;
    this.mappingHost = options.mappings;
    this.region = options.region ?? process.env.AWS_REGION ?? 'us-east-1';
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) sendError(res, 500, 'ServiceException', String(err));
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.endpoint = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const mapping of this.mappings.values()) if (mapping.deletingLooks === undefined) await mapping.poller.stop();
    this.mappings.clear();
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  invoke<T>(functionName: string, payload: unknown): Promise<T> {
    const fn = this.lookup(functionName);
    return this.exclusive(() => this.run({ fn, payload, chain: { counts: new Map() } })) as Promise<T>;
  }

  async drain(): Promise<void> {
    while (this.pumping) await this.pumping;
  }

  stats(): LocalLambdaStats {
    return {
      invocations: this.invocations,
      queued: this.queue.length,
      recursionStops: [...this.recursionStops],
      asyncErrors: [...this.asyncErrors],
    };
  }

  private lookup(nameOrArn: string): LocalFunction {
    // A name, or an ARN arn:aws:lambda:<region>:<account>:function:<name>[:qualifier].
    const parts = nameOrArn.split(':');
    const name = parts.length >= 7 && parts[5] === 'function' ? parts[6] : nameOrArn;
    const fn = this.functions.get(name);
    if (!fn)
      throw new FunctionNotFoundError(
        `Function not found: ${nameOrArn} (the local Lambda runs ${[...this.functions.keys()].join(', ')})`,
      );
    return fn;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const mappingPath = MAPPINGS_PATH.exec((req.url ?? '').split('?')[0]);
    if (mappingPath && this.mappingHost) return this.handleMapping(req, res, decodeURIComponent(mappingPath[1]));
    const match = req.method === 'POST' ? INVOKE_PATH.exec((req.url ?? '').split('?')[0]) : null;
    if (!match)
      return sendError(
        res,
        404,
        'ResourceNotFoundException',
        `the local Lambda serves Invoke only, not ${req.method} ${req.url}`,
      );
    const body = await readBody(req);
    let fn: LocalFunction;
    try {
      fn = this.lookup(decodeURIComponent(match[1]));
    } catch (err) {
      return sendError(res, 404, 'ResourceNotFoundException', (err as Error).message);
    }
    let payload: unknown;
    try {
      payload = body.length ? JSON.parse(body.toString('utf8')) : {};
    } catch {
      return sendError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const caller = this.running[this.running.length - 1];
    const invocation: Invocation = { fn, payload, chain: caller?.chain ?? { counts: new Map() } };
    if (type === 'DryRun') {
      res.writeHead(204).end();
      return;
    }
    if (type === 'Event') {
      // Lambda accepts the event; recursion detection stops it when it would run.
      this.queue.push(invocation);
      this.pump();
      res.writeHead(202, { 'x-amzn-requestid': randomUUID() }).end();
      return;
    }
    if (type !== 'RequestResponse')
      return sendError(res, 400, 'InvalidParameterValueException', `unknown invocation type ${type}`);
    const stop = this.recursionStop(invocation);
    if (stop) return sendError(res, 400, 'RecursiveInvocationException', stop.message);
    try {
      // A synchronous invoke from a running handler nests inside it rather than waiting its turn.
      const result = caller ? await this.run(invocation) : await this.exclusive(() => this.run(invocation));
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-executed-version': '$LATEST' });
      res.end(result === undefined ? 'null' : JSON.stringify(result));
    } catch (err) {
      const error = err instanceof Error ? err : new Error(String(err));
      res.writeHead(200, { 'content-type': 'application/json', 'x-amz-function-error': 'Unhandled' });
      res.end(JSON.stringify({ errorType: error.name, errorMessage: error.message }));
    }
  }

  /**
   * The event source mapping API (REST, /2015-03-31/event-source-mappings/): Create answers 202 with
   * State Creating, Delete 202 with State Deleting, as Lambda does; the poller starts and stops at once.
   * A deleted mapping stays listed as `Deleting` for LOCAL_MAPPING_DELETING_LOOKS looks (Lambda: "might
   * not be completely deleted for several seconds"), and meanwhile a new mapping of its function and
   * stream is refused as a conflict, so callers must wait it out as they must in AWS.
   */
  private async handleMapping(req: IncomingMessage, res: ServerResponse, uuid: string): Promise<void> {
    const host = this.mappingHost as LocalMappingHost;
    const method = req.method ?? 'GET';
    const body = await readBody(req);
    if (method === 'POST' && !uuid) {
      let input: Record<string, unknown>;
      try {
        input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
      } catch {
        return sendError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
      }
      const created = this.mappingTurn.then(
        () => this.createMapping(host, input),
        () => this.createMapping(host, input),
      );
      this.mappingTurn = created;
      const result = await created;
      if ('status' in result) return sendError(res, result.status, result.type, result.message);
      return sendJson(res, 202, this.describeMapping(result, 'Creating'));
    }
    if (method === 'GET' && !uuid) {
      const query = new URL(req.url ?? '/', 'http://local').searchParams;
      const fn = query.get('FunctionName');
      const source = query.get('EventSourceArn');
      const found = [...this.mappings.values()].filter(
        (m) =>
          (!fn || m.request.functionName === this.functionNameOf(fn)) && (!source || m.request.streamArn === source),
      );
      const listed = found.filter((m) => this.look(m));
      return sendJson(res, 200, { EventSourceMappings: listed.map((m) => this.describeMapping(m, this.stateOf(m))) });
    }
    const found = this.mappings.get(uuid);
    const mapping = found && this.look(found) ? found : undefined;
    if (!mapping)
      return sendError(
        res,
        404,
        'ResourceNotFoundException',
        `The resource you requested does not exist. (UUID ${uuid})`,
      );
    if (method === 'GET') return sendJson(res, 200, this.describeMapping(mapping, this.stateOf(mapping)));
    if (method === 'DELETE') {
      if (mapping.deletingLooks !== undefined)
        return sendError(res, 409, 'ResourceInUseException', `The event source mapping ${uuid} is being deleted`);
      mapping.deletingLooks = LOCAL_MAPPING_DELETING_LOOKS;
      await mapping.poller.stop();
      return sendJson(res, 202, this.describeMapping(mapping, 'Deleting'));
    }
    return sendError(res, 400, 'InvalidParameterValueException', `unsupported ${method} on event source mappings`);
  }

  /** Counts one look at a mapping being deleted; false once it is gone (and forgotten). */
  private look(mapping: LocalMapping): boolean {
    if (mapping.deletingLooks === undefined) return true;
    if (mapping.deletingLooks > 0) {
      mapping.deletingLooks -= 1;
      return true;
    }
    this.mappings.delete(mapping.request.uuid);
    return false;
  }

  private stateOf(mapping: LocalMapping): string {
    return mapping.deletingLooks === undefined ? 'Enabled' : 'Deleting';
  }

  private functionNameOf(nameOrArn: string): string {
    const parts = nameOrArn.split(':');
    return parts.length >= 7 && parts[5] === 'function' ? parts[6] : nameOrArn;
  }

  /** CreateEventSourceMapping's checks: the function and stream exist, no mapping of the pair exists, settings in range. */
  private async createMapping(
    host: LocalMappingHost,
    input: Record<string, unknown>,
  ): Promise<LocalMapping | MappingRefusal> {
    const invalid = (message: string): MappingRefusal => ({
      status: 400,
      type: 'InvalidParameterValueException',
      message,
    });
    const functionName = typeof input.FunctionName === 'string' ? this.functionNameOf(input.FunctionName) : '';
    if (!host.functions.includes(functionName) && !this.functions.has(functionName))
      return {
        status: 404,
        type: 'ResourceNotFoundException',
        message: `Function not found: ${String(input.FunctionName)}`,
      };
    const streamArn = typeof input.EventSourceArn === 'string' ? input.EventSourceArn : '';
    const streamName = /^arn:[^:]+:kinesis:[^:]*:\d*:stream\/(.+)$/.exec(streamArn)?.[1];
    if (!streamName) return invalid(`EventSourceArn must be a Kinesis stream ARN, not "${streamArn}"`);
    if (!(await host.streamActive(streamName)))
      return invalid(
        `Stream not found or not ACTIVE: ${streamArn}. Create the stream and wait for it to be ACTIVE first`,
      );
    const existing = [...this.mappings.values()].find(
      (m) => m.request.functionName === functionName && m.request.streamArn === streamArn && this.look(m),
    );
    if (existing)
      return {
        status: 409,
        type: 'ResourceConflictException',
        message: `An event source mapping with Kinesis arn (" ${streamArn} ") and function (" ${functionName} ") already exists. Please update or delete the existing mapping with UUID ${existing.request.uuid}`,
      };
    const startingPosition = input.StartingPosition;
    if (startingPosition !== 'TRIM_HORIZON' && startingPosition !== 'LATEST' && startingPosition !== 'AT_TIMESTAMP')
      return invalid('StartingPosition is required for a Kinesis event source: TRIM_HORIZON, LATEST or AT_TIMESTAMP');
    const destination = (input.DestinationConfig as { OnFailure?: { Destination?: string } } | undefined)?.OnFailure
      ?.Destination;
    const request: LocalMappingRequest = {
      uuid: randomUUID(),
      functionName,
      streamArn,
      streamName,
      batchSize: input.BatchSize as number | undefined,
      maximumBatchingWindowInSeconds: input.MaximumBatchingWindowInSeconds as number | undefined,
      parallelizationFactor: input.ParallelizationFactor as number | undefined,
      bisectBatchOnFunctionError: input.BisectBatchOnFunctionError as boolean | undefined,
      maximumRetryAttempts: input.MaximumRetryAttempts as number | undefined,
      maximumRecordAgeInSeconds: input.MaximumRecordAgeInSeconds as number | undefined,
      startingPosition,
      functionResponseTypes: input.FunctionResponseTypes as 'ReportBatchItemFailures'[] | undefined,
      onFailureDestination: destination,
    };
    let poller: { stop(): Promise<void> };
    try {
      poller = await host.start(request);
    } catch (error) {
      return invalid((error as Error).message);
    }
    const mapping: LocalMapping = {
      request,
      functionArn: `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT_ID}:function:${functionName}`,
      lastModified: this.clock() / 1000,
      poller,
    };
    this.mappings.set(request.uuid, mapping);
    return mapping;
  }

  private describeMapping(mapping: LocalMapping, state: string): Record<string, unknown> {
    const r = mapping.request;
    return {
      UUID: r.uuid,
      FunctionArn: mapping.functionArn,
      EventSourceArn: r.streamArn,
      State: state,
      StateTransitionReason: 'USER_INITIATED',
      LastModified: mapping.lastModified,
      StartingPosition: r.startingPosition,
      BatchSize: r.batchSize,
      MaximumBatchingWindowInSeconds: r.maximumBatchingWindowInSeconds,
      ParallelizationFactor: r.parallelizationFactor,
      BisectBatchOnFunctionError: r.bisectBatchOnFunctionError,
      MaximumRetryAttempts: r.maximumRetryAttempts,
      MaximumRecordAgeInSeconds: r.maximumRecordAgeInSeconds,
      FunctionResponseTypes: r.functionResponseTypes,
      DestinationConfig: r.onFailureDestination ? { OnFailure: { Destination: r.onFailureDestination } } : undefined,
    };
  }

  /** Whether recursive loop detection stops this invocation; records the stop if so. */
  private recursionStop(invocation: Invocation): RecursionStop | undefined {
    const { fn, chain } = invocation;
    const ran = chain.counts.get(fn.name) ?? 0;
    if (ran < LAMBDA.maxRecursiveChainInvocations || (fn.recursiveLoop ?? 'Terminate') === 'Allow') return undefined;
    const stop: RecursionStop = {
      functionName: fn.name,
      invocations: ran,
      payload: invocation.payload,
      message: `recursive loop detected: ${fn.name} was invoked ${ran} times in one chain of requests, so Lambda stopped the next invocation (recursive loop setting Terminate); set it to Allow (RECURSIVE_LOOP in @pipeline/limits) if the chain is intended and bounded`,
    };
    this.recursionStops.push(stop);
    return stop;
  }

  private exclusive<T>(work: () => Promise<T>): Promise<T> {
    const result = this.turn.then(work);
    this.turn = result.then(
      () => undefined,
      () => undefined,
    );
    return result;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = (async () => {
      while (this.queue.length > 0) {
        const invocation = this.queue.shift() as Invocation;
        if (this.recursionStop(invocation)) continue;
        try {
          await this.exclusive(() => this.run(invocation));
        } catch (err) {
          this.asyncErrors.push({
            functionName: invocation.fn.name,
            message: err instanceof Error ? err.message : String(err),
          });
        }
      }
    })().finally(() => {
      this.pumping = undefined;
      if (this.queue.length > 0) this.pump();
    });
  }

  private async run(invocation: Invocation): Promise<unknown> {
    const { fn, chain } = invocation;
    chain.counts.set(fn.name, (chain.counts.get(fn.name) ?? 0) + 1);
    this.invocations += 1;
    this.running.push(invocation);
    try {
      return await fn.handler(invocation.payload, this.context(fn));
    } finally {
      this.running.splice(this.running.indexOf(invocation), 1);
    }
  }

  private context(fn: LocalFunction): Context {
    const timeoutMs = fn.timeoutMs ?? LAMBDA_MAX_TIMEOUT_SECONDS * 1000;
    const deadline = this.clock() + timeoutMs;
    const noop = () => undefined;
    return {
      callbackWaitsForEmptyEventLoop: true,
      functionName: fn.name,
      functionVersion: '$LATEST',
      invokedFunctionArn: `arn:aws:lambda:${this.region}:${LOCAL_ACCOUNT_ID}:function:${fn.name}`,
      memoryLimitInMB: String(LAMBDA_DEFAULT_MEMORY_MB),
      awsRequestId: randomUUID(),
      logGroupName: `/aws/lambda/${fn.name}`,
      logStreamName: `local/${fn.name}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - this.clock()),
      done: noop,
      fail: noop,
      succeed: noop,
    };
  }
}

/** No function of that name is served. */
export class FunctionNotFoundError extends Error {
  override readonly name = 'ResourceNotFoundException';
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

interface MappingRefusal {
  status: number;
  type: string;
  message: string;
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-requestid': randomUUID() });
  res.end(JSON.stringify(body));
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ Type: 'User', message }));
}
