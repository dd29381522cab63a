import { existsSync } from 'node:fs';
import * as path from 'node:path';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import type { AppName } from './config';

/** The repository root: infra/src/ is two levels down. */
export const WORKSPACE_ROOT = path.resolve(__dirname, '..', '..');

export class MissingBundleError extends Error {
  override readonly name = 'MissingBundleError';
}

/** Entry files the Lambda Node.js runtime resolves for the handler `index.handler`. */
export const HANDLER_FILES = ['index.js', 'index.mjs', 'index.cjs'] as const;

/** Where an app's Nx `build` target writes its bundle. */
export function bundleDir(app: AppName, root: string = WORKSPACE_ROOT): string {
  return path.join(root, 'dist', 'apps', app);
}

/**
 * The app's Lambda code: its esbuild bundle (`index.js` or `index.cjs`, with its source map) from `nx run <app>:build`.
 *
 * @example bundleCode('reader'); // Code.fromAsset('<root>/dist/apps/reader')
 */
export function bundleCode(app: AppName, root: string = WORKSPACE_ROOT): lambda.Code {
  const dir = bundleDir(app, root);
  if (!HANDLER_FILES.some((file) => existsSync(path.join(dir, file)))) {
    throw new MissingBundleError(
      `no bundle for ${app} in ${dir} (none of ${HANDLER_FILES.join(', ')}): run \`npx nx run ${app}:build\` first (\`nx run ${app}:synth\` does it for you)`,
    );
  }
  return lambda.Code.fromAsset(dir);
}
