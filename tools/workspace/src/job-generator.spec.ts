import { readJson, type Tree } from '@nx/devkit';
import { createTreeWithEmptyWorkspace } from '@nx/devkit/testing';

// The generator is plain JavaScript, as Nx loads it.
const jobGenerator = require('../generators/job/generator') as (
  tree: Tree,
  options: { name: string; format?: 'ndjson' | 'csv' },
) => Promise<() => void>;

function workspace(): Tree {
  const tree = createTreeWithEmptyWorkspace();
  tree.write('tsconfig.base.json', JSON.stringify({ compilerOptions: { paths: { '@pipeline/job': ['x'] } } }));
  tree.write('tsconfig.json', JSON.stringify({ include: ['apps/**/*.ts', 'libs/**/*.ts'] }));
  return tree;
}

describe('Generator: @pipeline/workspace:job', () => {
  it('scaffolds a job project with its module, spec and sample input, registered in the workspace', async () => {
    const tree = workspace();

    await jobGenerator(tree, { name: 'invoice-reminders' });

    for (const file of [
      'project.json',
      'jest.config.js',
      'src/index.ts',
      'src/job.ts',
      'src/job.spec.ts',
      'sample.ndjson',
    ])
      expect(tree.exists(`jobs/invoice-reminders/${file}`)).toBe(true);
    const project = readJson(tree, 'jobs/invoice-reminders/project.json');
    expect(project).toMatchObject({ name: 'invoice-reminders-job', tags: ['type:runtime'] });
    expect(Object.keys(project.targets).sort()).toEqual(['lint', 'test']);
    expect(readJson(tree, 'tsconfig.base.json').compilerOptions.paths['@jobs/invoice-reminders']).toEqual([
      'jobs/invoice-reminders/src/index.ts',
    ]);
    expect(readJson(tree, 'tsconfig.json').include).toContain('jobs/**/*.ts');
    const job = tree.read('jobs/invoice-reminders/src/job.ts', 'utf8');
    expect(job).toContain("name: 'invoice-reminders'");
    expect(job).toContain("source: { format: 'ndjson' }");
    expect(tree.read('jobs/invoice-reminders/jest.config.js', 'utf8')).toContain("preset: '../../jest.preset.js'");
  });

  it('writes a CSV job with a header line in its sample', async () => {
    const tree = workspace();

    await jobGenerator(tree, { name: 'weekly', format: 'csv' });

    expect(tree.read('jobs/weekly/src/job.ts', 'utf8')).toContain("source: { format: 'csv' }");
    expect(tree.read('jobs/weekly/sample.csv', 'utf8')?.split('\n')[0]).toBe('id,email,name');
  });

  it('refuses a name that is not kebab case, and a job that exists', async () => {
    const tree = workspace();
    await expect(jobGenerator(tree, { name: 'Invoice_Reminders' })).rejects.toThrow(/must be kebab case/);
    await jobGenerator(tree, { name: 'twice' });
    await expect(jobGenerator(tree, { name: 'twice' })).rejects.toThrow(/jobs\/twice exists already/);
  });
});
