export * from './model';
export * from './scale';
