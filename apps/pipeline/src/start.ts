// The local runner first: it sets the handlers' quiet-logs environment before their modules load.
import '@pipeline/local-runner';
import { main } from './cli';

/**
 * `npm start`: the `run` verb of the pipeline CLI — the example job end to end on the embedded
 * stack (or on the endpoints AWS_ENDPOINT_URL_* name), with a summary at the end.
 */
if (require.main === module) {
  main(process.argv.slice(2), process, { command: 'npm start --', verb: 'run' }).then((code) => process.exit(code));
}
