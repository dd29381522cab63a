export * from './spill';
