/**
 * A local, Firehose-compatible endpoint (JSON 1.1 API as @aws-sdk/client-firehose v3 speaks it)
 * delivering DirectPut streams to S3 with Firehose's buffering, key layout, dynamic partitioning,
 * GZIP and error output; plus fault injection and a journal that survives a killed process.
 */
export { startLocalFirehose, MAX_REQUEST_BODY_BYTES, type LocalFirehose, type LocalFirehoseOptions } from './server';
export { DELIVERY_RETRY_DELAY_MS, type BufferOverride, type FirehoseFaults, type LocalFirehoseStats } from './engine';
export { FirehoseApiError, FirehoseDeliveryError, LOCAL_ACCOUNT_ID } from './errors';
export { StateFileError } from './state-files';
export { METADATA_EXTRACTION_FAILED } from './routing';
