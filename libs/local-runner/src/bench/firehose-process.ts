// The local Firehose in a process of its own, for the bench's stage CPU phase: in the runner's
// process its request handling and delivery would be counted as the writer's CPU.
// Usage (forked with tsx, AWS_ENDPOINT_URL_S3 set): firehose-process.ts <state file>
import { s3Client } from '@pipeline/aws';
import { DEFAULTS } from '@pipeline/limits';
import { startLocalFirehose } from '@pipeline/local-stack';

const [stateFile] = process.argv.slice(2);

startLocalFirehose({
  s3: s3Client(),
  stateFile,
  bufferOverride: { sizeBytes: DEFAULTS.localFirehoseBufferBytes, intervalMs: DEFAULTS.localFirehoseBufferIntervalMs },
}).then(
  (firehose) => {
    process.send?.({ endpoint: firehose.endpoint });
    // The parent going away stops it; a `flush` message delivers what it buffers.
    process.on('message', (message) => {
      if (message === 'flush') void firehose.flush().then(() => process.send?.('flushed'));
    });
    process.on('disconnect', () => void firehose.close().finally(() => process.exit(0)));
  },
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
