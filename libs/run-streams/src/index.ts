export * from './plan';
export * from './port';
export * from './open';
export * from './retire';
export * from './activity';
export { awsStreamsPort } from './aws';
