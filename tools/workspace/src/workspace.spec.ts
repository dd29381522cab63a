import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { resolve } from 'node:path';

const ROOT = resolve(__dirname, '../../..');
const read = (file: string) => readFileSync(resolve(ROOT, file), 'utf8');

describe('the workspace', () => {
  it('pins the Node.js major the Lambda functions run on in .nvmrc, and builds the bundles for it', () => {
    const runtime = /lambda\.Runtime\.NODEJS_(\d+)_X/.exec(read('infra/src/constructs/pipeline-function.ts'));
    expect(runtime).not.toBeNull();
    const major = runtime?.[1];
    expect(read('.nvmrc').trim()).toBe(major);
    for (const app of ['reader', 'processor', 'writer']) {
      const build = JSON.parse(read(`apps/${app}/project.json`)).targets.build.options;
      expect(build.target).toBe(`node${major}`);
    }
  });

  it('ships the license its package.json names', () => {
    expect(JSON.parse(read('package.json')).license).toBe('MIT');
    expect(read('LICENSE')).toMatch(/^MIT License/);
  });

  it("leaves npm's own output alone (no .npmrc that silences it)", () => {
    const npmrc = resolve(ROOT, '.npmrc');
    expect(existsSync(npmrc) ? read('.npmrc') : '').not.toMatch(/loglevel\s*=\s*silent/);
  });

  it('gives every project a lint target and one tag that says what kind of project it is', () => {
    const kinds = ['type:app', 'type:runtime', 'type:local-stack', 'type:tool', 'type:infra'];
    const roots = ['apps', 'libs', 'tools'].flatMap((dir) => readdirSync(resolve(ROOT, dir)).map((p) => `${dir}/${p}`));
    const projects = [...roots, 'infra'].filter((root) => existsSync(resolve(ROOT, root, 'project.json')));
    expect(projects.length).toBeGreaterThanOrEqual(24);
    for (const root of projects) {
      const project = JSON.parse(read(`${root}/project.json`));
      expect({ root, lint: 'lint' in project.targets }).toEqual({ root, lint: true });
      expect({ root, kinds: project.tags.filter((t: string) => kinds.includes(t)) }).toEqual({
        root,
        kinds: [expect.any(String)],
      });
    }
  });
});
