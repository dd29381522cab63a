export * from './object-store';
export * from './spill';
