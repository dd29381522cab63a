export * from './model';
export * from './scale';
export * from './schedule';
