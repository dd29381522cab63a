import { KinesisClient } from '@aws-sdk/client-kinesis';
import { S3Client } from '@aws-sdk/client-s3';
import { FirehoseClient } from '@aws-sdk/client-firehose';
import { NodeHttpHandler } from '@smithy/node-http-handler';

/**
 * AWS clients built from the SDK's standard settings (region, credentials, AWS_ENDPOINT_URL and
 * AWS_ENDPOINT_URL_<SERVICE>), so the same code reaches real AWS, LocalStack or the embedded stack.
 */

/** Kinesis' default HTTP/2 handler cannot talk to a plain http:// endpoint; HTTP/1.1 works everywhere. */
function httpHandler(): NodeHttpHandler {
  return new NodeHttpHandler({ connectionTimeout: 5_000, requestTimeout: 60_000 });
}

function customEndpoint(service: 'KINESIS' | 'S3' | 'FIREHOSE', env: NodeJS.ProcessEnv): string | undefined {
  return env[`AWS_ENDPOINT_URL_${service}`] ?? env.AWS_ENDPOINT_URL;
}

/**
 * What may differ between the clients of functions that share one process (the local runner):
 * each function's own credentials, so the embedded stack knows whose role a call is checked against.
 * In Lambda nothing is passed and the SDK finds the function's role credentials as usual.
 */
export interface ClientOptions {
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
}

export function kinesisClient(options: ClientOptions = {}): KinesisClient {
  return new KinesisClient({ requestHandler: httpHandler(), maxAttempts: 5, ...options });
}

export function s3Client(env: NodeJS.ProcessEnv = process.env, options: ClientOptions = {}): S3Client {
  // Emulators (LocalStack, the embedded stack) serve buckets by path, not by host name.
  const forcePathStyle = customEndpoint('S3', env) !== undefined || env.AWS_S3_FORCE_PATH_STYLE === 'true';
  return new S3Client({ forcePathStyle, requestHandler: httpHandler(), maxAttempts: 5, ...options });
}

export function firehoseClient(options: ClientOptions = {}): FirehoseClient {
  return new FirehoseClient({ requestHandler: httpHandler(), maxAttempts: 5, ...options });
}

export { customEndpoint };
