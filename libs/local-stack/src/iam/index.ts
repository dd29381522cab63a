export * from './policy';
export * from './template';
export * from './requests';
export * from './gateway';
export * from './identities';
export * from './meter';
