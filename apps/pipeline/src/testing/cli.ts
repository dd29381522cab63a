import { type Invocation, main, PIPELINE_COMMAND } from '../cli';

/** What one command printed, and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `npm start -- …` as the user types it: the run verb under its own command. */
export const NPM_START: Invocation = { command: 'npm start --', verb: 'run' };

/** Runs the operator tool in this process as `invocation` names it (default `npm run pipeline --`), capturing what it prints. */
export async function runCli(argv: string[], invocation: Invocation = PIPELINE_COMMAND): Promise<CliRun> {
  const out = { stdout: '', stderr: '' };
  const sink = (stream: keyof typeof out) => ({
    write: (text: string) => {
      out[stream] += text;
      return true;
    },
  });
  const code = await main(argv, { stdout: sink('stdout'), stderr: sink('stderr') }, invocation);
  return { code, ...out };
}
