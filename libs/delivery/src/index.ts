export * from './port';
export * from './deliverer';
export * from './format';
