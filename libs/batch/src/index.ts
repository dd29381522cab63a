export * from './batch-loop';
export * from './claims';
