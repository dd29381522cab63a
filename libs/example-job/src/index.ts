export * from './job';
export * from './data';
