import { execFile } from 'node:child_process';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');

/**
 * Lints `code` with the workspace's ESLint, as if it were the file at `filePath` (which need not
 * exist), and returns the boundary rule's messages — what `nx lint` reports in CI.
 */
function boundaryErrors(filePath: string, code: string): Promise<string[]> {
  const eslint = resolve(ROOT, 'node_modules/.bin/eslint');
  return new Promise((done, fail) => {
    const child = execFile(
      eslint,
      ['--format', 'json', '--stdin', '--stdin-filename', resolve(ROOT, filePath)],
      { cwd: ROOT },
      (error, stdout) => {
        // ESLint exits 1 when it reports an error; anything else is a broken setup.
        if (error && error.code !== 1) return fail(error);
        const [result] = JSON.parse(stdout) as { messages: { ruleId: string; message: string }[] }[];
        done(result.messages.filter((m) => m.ruleId === '@nx/enforce-module-boundaries').map((m) => m.message));
      },
    );
    child.stdin?.end(code);
  });
}

describe('Nx module boundaries (eslint.config.mjs)', () => {
  it('refuses a runtime lib importing the embedded stack', async () => {
    const errors = await boundaryErrors(
      'libs/records/src/violation.ts',
      "import { startLocalS3 } from '@pipeline/local-stack';\n",
    );
    expect(errors.join('\n')).toMatch(/type:runtime.*can only depend on libs tagged with "type:runtime"/s);
  });

  it('refuses an app importing another app', async () => {
    const errors = await boundaryErrors('apps/writer/src/violation.ts', "import { handler } from '@apps/reader';\n");
    expect(errors).toEqual(['Imports of apps are forbidden']);
  });

  it('refuses an app importing the embedded stack outside its tests', async () => {
    const errors = await boundaryErrors(
      'apps/processor/src/violation.ts',
      "import { startLocalKinesis } from '@pipeline/local-stack';\n",
    );
    expect(errors.join('\n')).toMatch(/type:app.*can only depend on libs tagged with "type:runtime"/s);
  });

  it('lets the local runner load the handlers and start the embedded stack', async () => {
    const code = "import { handler } from '@apps/reader';\nimport { startLocalS3 } from '@pipeline/local-stack';\n";
    expect(await boundaryErrors('libs/local-runner/src/allowed.ts', code)).toEqual([]);
  });

  it('lets a runtime lib test start the embedded stack (tests talk to real servers)', async () => {
    const code = "import { startLocalS3 } from '@pipeline/local-stack';\n";
    expect(await boundaryErrors('libs/records/src/allowed.spec.ts', code)).toEqual([]);
  });
});
