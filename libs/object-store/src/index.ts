export * from './object-store';
export * from './memory';
