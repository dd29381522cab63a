/**
 * The job the deployed apps run. To run your own job, write a module like libs/example-job and
 * export it here instead: this is the one line to change.
 */
export { exampleJob as job } from '@pipeline/example-job';
