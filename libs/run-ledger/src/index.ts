export * from './ledger';
export * from './run-id';
export * from './control';
export * from './complete';
export * from './finish';
export * from './events';
export * from './chain';
