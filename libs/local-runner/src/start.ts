import './local-env';
import { parseArgs } from 'node:util';
import { DEFAULTS } from '@pipeline/limits';
import { EXAMPLE_DEFAULTS } from '@pipeline/example-job';
import { formatReport, jsonReport } from './format';
import { runJob } from './run-job';

const USAGE = `Usage: npm start -- [options]

Runs the example job end to end on the embedded local stack (or on the endpoints named by
AWS_ENDPOINT_URL_KINESIS / _S3 / _FIREHOSE) and prints a summary.

Options:
  --records N       records in the example data set (default ${EXAMPLE_DEFAULTS.records})
  --shards N        shards per stream (default ${DEFAULTS.shardCount})
  --slice-bytes N   target bytes per slice (default 1048576 here; ${DEFAULTS.sliceBytes} in AWS)
  --run ID          run id (default: from the current time); an existing run is resumed
  --data-dir DIR    where the embedded stack keeps its data (default .local/)
  --json            print the summary as one JSON object on stdout
  -h, --help        show this help`;

/** Local runs use smaller slices than AWS so the example shows several slices in flight. */
const LOCAL_SLICE_BYTES = 1024 * 1024;

export async function main(argv: string[]): Promise<number> {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        records: { type: 'string' },
        shards: { type: 'string' },
        'slice-bytes': { type: 'string' },
        run: { type: 'string' },
        'data-dir': { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
      strict: true,
    }));
  } catch (error) {
    process.stderr.write(`${(error as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const int = (name: string, value: string | undefined, fallback: number, min = 1) => {
    if (value === undefined) return fallback;
    const parsed = Number(value);
    if (!Number.isInteger(parsed) || parsed < min) throw new RangeError(`--${name} must be a whole number of at least ${min}, got "${value}"`);
    return parsed;
  };
  let report;
  try {
    const records = int('records', values.records, EXAMPLE_DEFAULTS.records);
    report = await runJob({
      runId: values.run,
      dataDir: values['data-dir'],
      shardCount: int('shards', values.shards, DEFAULTS.shardCount),
      sliceBytes: int('slice-bytes', values['slice-bytes'], LOCAL_SLICE_BYTES),
      data: { records },
      progress: (line) => process.stderr.write(`${line}\n`),
    });
  } catch (error) {
    process.stderr.write(`error: ${(error as Error).message}\n`);
    return 1;
  }
  process.stdout.write(values.json ? `${JSON.stringify(jsonReport(report))}\n` : `${formatReport(report)}\n`);
  return report.complete && report.conserved ? 0 : 1;
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
