export * from './collate';
export * from './check-output';
export * from './athena';
export * from './announce';
