// @ts-check
// `nx g @pipeline/workspace:job <name>`: a job project with its module, its spec and a sample input,
// registered in the workspace (project, tsconfig path, type-check), ready for
// `npm start -- --job <name> --input jobs/<name>/sample.<format>`.
// Plain JavaScript: Nx loads it as it is, with no TypeScript transpiler to install.
const path = require('node:path');
const { addProjectConfiguration, generateFiles, joinPathFragments, names, updateJson } = require('@nx/devkit');

/** A few rows to try the job on: good ones, one its input schema refuses, one it fails for good. */
const ROWS = [
  ['c1', 'ada@example.com', 'Ada'],
  ['c2', 'not-an-email', 'Bo'],
  ['c3', 'cy@mail.invalid', 'Cy'],
  ['c4', 'dee@example.com', 'Dee'],
  ['c5', 'eve@example.com', 'Eve'],
];
const SAMPLES = {
  ndjson: ROWS.map(([id, email, name]) => `${JSON.stringify({ id, email, name })}\n`).join(''),
  csv: `id,email,name\n${ROWS.map((row) => `${row.join(',')}\n`).join('')}`,
};

/**
 * @param {import('@nx/devkit').Tree} tree
 * @param {{ name: string; format?: 'ndjson' | 'csv'; directory?: string }} options
 */
async function jobGenerator(tree, options) {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(options.name))
    throw new Error(`job name "${options.name}" must be kebab case, e.g. invoice-reminders`);
  const format = options.format ?? 'ndjson';
  const root = joinPathFragments(options.directory ?? 'jobs', options.name);
  if (tree.exists(root)) throw new Error(`${root} exists already: choose another name or remove it`);
  const projectName = `${options.name}-job`;
  const importPath = `@jobs/${options.name}`;
  const offset = root
    .split('/')
    .map(() => '..')
    .join('/');

  addProjectConfiguration(tree, projectName, {
    root,
    sourceRoot: joinPathFragments(root, 'src'),
    projectType: 'library',
    tags: ['type:runtime'],
    targets: {
      test: {
        executor: 'nx:run-commands',
        options: { command: `jest --config ${root}/jest.config.js`, cwd: '{workspaceRoot}' },
      },
      lint: {},
    },
  });
  const n = names(options.name);
  generateFiles(tree, path.join(__dirname, 'files'), root, {
    ...n,
    constantName: n.propertyName,
    jobName: options.name,
    projectName,
    importPath,
    format,
    offset,
    tmpl: '',
  });
  tree.write(joinPathFragments(root, `sample.${format}`), SAMPLES[format]);
  updateJson(tree, 'tsconfig.base.json', (json) => {
    json.compilerOptions.paths[importPath] = [joinPathFragments(root, 'src/index.ts')];
    json.compilerOptions.paths = Object.fromEntries(
      Object.entries(json.compilerOptions.paths).sort(([a], [b]) => a.localeCompare(b)),
    );
    return json;
  });
  updateJson(tree, 'tsconfig.json', (json) => {
    const pattern = `${options.directory ?? 'jobs'}/**/*.ts`;
    if (!json.include.includes(pattern)) json.include.push(pattern);
    return json;
  });
  return () => {
    console.log(
      `\nJob ${options.name} is in ${root}. Try it:\n` +
        `  npx nx test ${projectName}\n` +
        `  npm start -- --job ${options.name} --input ${root}/sample.${format}\n` +
        `To deploy it, export it from libs/active-job/src/index.ts.`,
    );
  };
}

module.exports = jobGenerator;
module.exports.default = jobGenerator;
