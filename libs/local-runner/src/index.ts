// The local runner: the embedded environment the operator tool (apps/pipeline) runs against when no
// deployed environment is named, and `npm start`'s end-to-end run.
import './local-env';

export { CommandError } from './command-error';
export {
  DataDirInUseError,
  DEFAULT_DATA_DIR,
  LOCAL_FUNCTIONS,
  LOCAL_MAPPING_UUIDS,
  onFailureKey,
  LOCAL_RESOURCES,
  LocalPipeline,
  readDataDirClaim,
  type DataDirClaim,
  type LocalPipelineOptions,
} from './local-pipeline';
export { describeEndpoints } from './endpoints';
export { formatReport, jsonReport } from './format';
export { planInput, stageInput, type InputPlan, type RunSource } from './input';
export { loadJob } from './job-module';
export { loadExampleData } from './example-data';
export { EXAMPLE_PREFIX, pipelineOptions, runJob, type RunJobOptions, type RunReport } from './run-job';
