export * from './plan';
export * from './port';
export * from './open';
export * from './retire';
export * from './activity';
export * from './lease';
export * from './redrive';
export { awsStreamsPort } from './aws';
