export * from './record';
export * from './port';
export * from './producer';
