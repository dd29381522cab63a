export * from './servers';
export * from './firehose';
export * from './event-source';
