export * from './collate';
