/**
 * A local Firehose in its own process, for persistence.spec.ts to SIGKILL: proves that records
 * acknowledged by PutRecord/PutRecordBatch survive a killed process. Not part of the lib's API.
 *
 * Usage: tsx kill-fixture.ts <s3 endpoint> <state file>; prints the Firehose endpoint, then waits.
 */
import { S3Client } from '@aws-sdk/client-s3';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { LOCAL_S3_CREDENTIALS } from '../servers';
import { startLocalFirehose } from './server';

/** Long enough that nothing is delivered before the kill. */
const HOUR_MS = 3_600_000;

async function main(): Promise<void> {
  const [s3Endpoint, stateFile] = process.argv.slice(2);
  const s3 = new S3Client({
    endpoint: s3Endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: LOCAL_S3_CREDENTIALS,
    requestHandler: new NodeHttpHandler(),
  });
  const firehose = await startLocalFirehose({ s3, stateFile, bufferOverride: { intervalMs: HOUR_MS } });
  process.stdout.write(`${firehose.endpoint}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`${String(error)}\n`);
  process.exit(1);
});
