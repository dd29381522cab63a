/** An option of the event source mapping is outside what Lambda accepts. */
export class EventSourceMappingConfigError extends Error {
  override readonly name = 'EventSourceMappingConfigError';
}

/** drain() ran out of time; the message says which shards were still busy and why. */
export class DrainTimeoutError extends Error {
  override readonly name = 'DrainTimeoutError';
}

/** drain() was called on (or raced with) a stopped mapping. */
export class EventSourceMappingStoppedError extends Error {
  override readonly name = 'EventSourceMappingStoppedError';
}

/** A checkpoint file exists but does not hold a checkpoint map. */
export class CheckpointFileError extends Error {
  override readonly name = 'CheckpointFileError';
}

/** A Kinesis call of the poller took longer than it was allowed; it is retried with more time. */
export class KinesisCallTimeoutError extends Error {
  override readonly name = 'KinesisCallTimeoutError';
}
