export * from './envelope';
export * from './layout';
