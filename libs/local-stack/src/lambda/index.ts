export {
  FunctionNotFoundError,
  startLocalLambda,
  type LocalFunction,
  type LocalLambda,
  type LocalLambdaOptions,
  type LocalLambdaStats,
  type LocalMappingHost,
  type LocalMappingRequest,
  type RecursionStop,
} from './service';
export { LambdaMeter, type FunctionUsage } from './meter';
