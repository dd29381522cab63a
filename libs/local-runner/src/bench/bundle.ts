import { readFile } from 'node:fs/promises';
import { dirname, join, resolve, sep } from 'node:path';

/** The workspace's root, where tsconfig.base.json and node_modules are. */
export const WORKSPACE = resolve(__dirname, '../../../..');

/**
 * Bundles a TypeScript entry with esbuild as the Lambda build bundles a function (one CommonJS
 * file, no source transform left for run time), so what the bench measures is the code as it is
 * deployed, not as a run-time TypeScript loader serves it. `packages: 'external'` leaves node_modules
 * to be required at run time (the file must then sit inside the workspace); 'bundle' puts them in.
 *
 * Each source file's `__dirname` and `__filename` keep their own value (a bundle would otherwise give
 * every file the bundle's), so paths next to a source file (a server's script, a data folder) hold.
 */
export async function bundleForNode(options: {
  entry: string;
  outfile: string;
  packages: 'external' | 'bundle';
}): Promise<string> {
  const { build } = await import('esbuild');
  await build({
    entryPoints: [options.entry],
    outfile: options.outfile,
    bundle: true,
    platform: 'node',
    target: `node${process.versions.node.split('.')[0]}`,
    format: 'cjs',
    tsconfig: join(WORKSPACE, 'tsconfig.base.json'),
    ...(options.packages === 'external' ? { packages: 'external' as const } : {}),
    logLevel: 'error',
    plugins: [
      {
        name: 'source-paths',
        setup(plugin) {
          plugin.onLoad({ filter: /\.[cm]?[jt]s$/ }, async (args) => {
            if (args.path.includes(`${sep}node_modules${sep}`)) return undefined;
            const source = await readFile(args.path, 'utf8');
            if (!/\b__(dirname|filename)\b/.test(source)) return undefined;
            const contents = source
              .replace(/\b__dirname\b/g, JSON.stringify(dirname(args.path)))
              .replace(/\b__filename\b/g, JSON.stringify(args.path));
            return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
          });
        },
      },
    ],
  });
  return options.outfile;
}
