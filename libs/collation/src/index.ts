export * from './collate';
export * from './check-output';
