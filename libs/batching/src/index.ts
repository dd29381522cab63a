export * from './packer';
export * from './backoff';
export * from './retry';
export * from './sender';
