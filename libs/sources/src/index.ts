export * from './limits';
export * from './object-source';
export { readSliceLines, SourceReadError, type ReadLinesOptions, type SliceLine } from './lines';
export * from './rows';
