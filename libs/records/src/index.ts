export * from './envelope';
export * from './layout';
export * from './packing';
export * from './seal';
export * from './json-bytes';
