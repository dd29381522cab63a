import './local-env';
import { main } from './cli';

/**
 * `npm start`: the `run` verb of the pipeline CLI — the example job end to end on the embedded
 * stack (or on the endpoints AWS_ENDPOINT_URL_* name), with a summary at the end.
 */
if (require.main === module) {
  main(['run', ...process.argv.slice(2)]).then((code) => process.exit(code));
}
