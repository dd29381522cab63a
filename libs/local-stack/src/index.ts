export * from './servers';
export * from './firehose';
export * from './event-source';
export * from './kinesis-faults';
export * from './lambda';
