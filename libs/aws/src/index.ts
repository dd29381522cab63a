import { FirehoseClient } from '@aws-sdk/client-firehose';
import { KinesisClient } from '@aws-sdk/client-kinesis';
import { LambdaClient } from '@aws-sdk/client-lambda';
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * AWS clients built from the SDK's standard settings (region, credentials, AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE>), so the same code reaches real AWS, LocalStack or the embedded stack.
 * A call that cannot reach its service, or finds no credentials, fails with an {@link EndpointError}
 * that names the service, the endpoint and what to check.
 */

export type ServiceId = 'KINESIS' | 'S3' | 'FIREHOSE';

/** Kinesis' default HTTP/2 handler cannot talk to a plain http:// endpoint; HTTP/1.1 works everywhere. */
function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 60_000 });
}

/** The endpoint the SDK's standard settings give a service, if any: its own variable, then AWS_ENDPOINT_URL. */
export function customEndpoint(service: ServiceId, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env[`AWS_ENDPOINT_URL_${service}`] || env.AWS_ENDPOINT_URL || undefined;
}

const SERVICE_NAMES: Record<ServiceId, string> = { KINESIS: 'Kinesis', S3: 'S3', FIREHOSE: 'Firehose' };

/** A call that could not reach its service or sign its request: says which service, where, and what to check. */
export class EndpointError extends Error {
  override readonly name = 'EndpointError';
  constructor(
    readonly service: ServiceId,
    readonly endpoint: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH']);

/** Turns an unreachable endpoint or missing credentials into an {@link EndpointError}; other errors pass as they are. */
export function explainEndpointFailure(service: ServiceId, error: unknown, env: NodeJS.ProcessEnv): unknown {
  const failure = error as { name?: string; code?: string; message?: string };
  const custom = customEndpoint(service, env);
  const variable = env[`AWS_ENDPOINT_URL_${service}`] ? `AWS_ENDPOINT_URL_${service}` : 'AWS_ENDPOINT_URL';
  const where = custom ?? `AWS (${env.AWS_REGION ?? env.AWS_DEFAULT_REGION ?? 'region not set'})`;
  const name = SERVICE_NAMES[service];
  if (failure?.name === 'CredentialsProviderError') {
    return new EndpointError(
      service,
      where,
      `${name} at ${where} needs credentials and none were found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY ` +
        '(LocalStack accepts any, e.g. test/test) or AWS_PROFILE',
      { cause: error },
    );
  }
  // The SDK's retry step re-wraps an error from another realm (a test VM) as a plain Error, keeping only its text.
  const code = failure?.code ?? /\b(E[A-Z]+)\b/.exec(failure?.message ?? '')?.[1];
  if (code && NETWORK_CODES.has(code)) {
    const check = custom
      ? `check that a server listens there, or unset ${variable} to use the embedded stack`
      : 'check the network and AWS_REGION';
    return new EndpointError(service, where, `${name} at ${where} is unreachable (${code}): ${check}`, {
      cause: error,
    });
  }
  return error;
}

/** Adds {@link explainEndpointFailure} to every call of a client. */
function explained<C extends KinesisClient | S3Client | FirehoseClient>(
  service: ServiceId,
  client: C,
  env: NodeJS.ProcessEnv,
): C {
  (client.middlewareStack as KinesisClient['middlewareStack']).add(
    (next) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        throw explainEndpointFailure(service, error, env);
      }
    },
    { step: 'initialize', name: 'explainEndpointFailure', priority: 'high' },
  );
  return client;
}

/**
 * What may differ between the clients of functions that share one process (the local runner):
 * each function's own credentials, so the embedded stack knows whose role a call is checked against.
 * In Lambda nothing is passed and the SDK finds the function's role credentials as usual.
 */
export interface ClientOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** An endpoint of its own (the operator tool reaching a local pipeline another process runs). */
  endpoint?: string;
}

/** Per service: a function's clients of embedded services sign as the function, the others as usual. */
export type FunctionClients = Partial<Record<'s3' | 'kinesis' | 'firehose' | 'lambda', ClientOptions>>;

export function kinesisClient(env: NodeJS.ProcessEnv = process.env, options: ClientOptions = {}): KinesisClient {
  return explained('KINESIS', new KinesisClient({ requestHandler: httpHandler(), maxAttempts: 5, ...options }), env);
}

export function s3Client(env: NodeJS.ProcessEnv = process.env, options: ClientOptions = {}): S3Client {
  // Emulators (LocalStack, the embedded stack) serve buckets by path, not by host name.
  const forcePathStyle = customEndpoint('S3', env) !== undefined || env.AWS_S3_FORCE_PATH_STYLE === 'true';
  return explained(
    'S3',
    new S3Client({ forcePathStyle, requestHandler: httpHandler(), maxAttempts: 5, ...options }),
    env,
  );
}

export function firehoseClient(env: NodeJS.ProcessEnv = process.env, options: ClientOptions = {}): FirehoseClient {
  return explained('FIREHOSE', new FirehoseClient({ requestHandler: httpHandler(), maxAttempts: 5, ...options }), env);
}

/** A Lambda client (Invoke, event source mappings); it reads AWS_ENDPOINT_URL_LAMBDA as the SDK does. */
export function lambdaClient(options: ClientOptions = {}): LambdaClient {
  return new LambdaClient({ requestHandler: httpHandler(), ...options });
}
