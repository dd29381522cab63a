export * from './port';
export * from './deliverer';
