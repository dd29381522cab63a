import { execFileSync } from 'node:child_process';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { STACK_IDS } from '../src/app';
import { WORKSPACE_ROOT } from '../src/code';
import { APP_NAMES } from '../src/config';

interface Target {
  executor?: string;
  dependsOn?: (string | { projects?: string[]; target: string })[];
  options?: { command?: string; cwd?: string; main?: string };
  outputs?: string[];
  cache?: boolean;
}
const targetsOf = (projectJson: string): Record<string, Target> =>
  (JSON.parse(readFileSync(path.join(WORKSPACE_ROOT, projectJson), 'utf8')) as { targets: Record<string, Target> })
    .targets;

describe.each(APP_NAMES)('the %s project’s synth and deploy targets', (app) => {
  const targets = targetsOf(`apps/${app}/project.json`);

  it('synth builds the app first, then synthesizes the shared stack and this app’s stack only, into its own cached output', () => {
    expect(targets.synth.dependsOn).toEqual(['build']);
    expect(targets.synth.options?.command).toBe(`tsx infra/src/main.ts --app ${app} --outdir infra/cdk.out/${app}`);
    expect(targets.synth.outputs).toEqual([`{workspaceRoot}/infra/cdk.out/${app}`]);
    expect(targets.synth.cache).toBe(true);
  });

  it('deploy deploys the synthesized stack of this app exclusively, after the shared stack is deployed once', () => {
    expect(targets.deploy.dependsOn).toEqual(['synth', { projects: ['infra'], target: 'deploy-shared' }]);
    expect(targets.deploy.options?.command).toMatch(
      new RegExp(`^cdk deploy --app infra/cdk\\.out/${app} ${STACK_IDS[app]} --exclusively `),
    );
    expect(targets.deploy.cache).toBeUndefined();
  });
});

describe('the infra project’s targets', () => {
  const targets = targetsOf('infra/project.json');

  it('has no `deploy` target: `nx affected -t deploy` selects apps, and the shared stack comes with them through dependsOn', () => {
    expect(targets.deploy).toBeUndefined();
    expect(targets['deploy-shared'].options?.command).toMatch(/^cdk deploy --app infra\/cdk\.out\/shared Shared /);
    expect(targets['deploy-shared'].dependsOn).toEqual(['synth-shared']);
    expect(targets['synth-shared'].options?.command).toContain('--shared-only');
  });

  it('synth synthesizes every stack after building every app', () => {
    expect(targets.synth.dependsOn).toEqual([{ projects: [...APP_NAMES], target: 'build' }]);
    expect(targets.synth.options?.command).toBe('tsx infra/src/main.ts --outdir infra/cdk.out/all');
  });
});

/**
 * A throwaway copy of the workspace as it would be committed (tracked files plus new ones that are
 * not ignored), its own git repository, sharing node_modules. Nx runs there without daemon, cloud
 * or cache, with its workspace data inside the copy.
 */
class ScratchRepo {
  readonly root = mkdtempSync(path.join(tmpdir(), 'infra-affected-'));
  private readonly env = {
    ...process.env,
    NX_DAEMON: 'false',
    NX_NO_CLOUD: 'true',
    NX_SKIP_NX_CACHE: 'true',
    NX_TUI: 'false',
    NX_WORKSPACE_DATA_DIRECTORY: path.join(this.root, '.nx', 'workspace-data'),
    NX_CACHE_DIRECTORY: path.join(this.root, '.nx', 'cache'),
    GIT_AUTHOR_NAME: 'scratch',
    GIT_AUTHOR_EMAIL: 'scratch@example.invalid',
    GIT_COMMITTER_NAME: 'scratch',
    GIT_COMMITTER_EMAIL: 'scratch@example.invalid',
  };

  constructor(source: string) {
    const files = execFileSync('git', ['ls-files', '--cached', '--others', '--exclude-standard', '-z'], {
      cwd: source,
      encoding: 'utf8',
    })
      .split('\0')
      .filter((file) => file && existsSync(path.join(source, file)));
    for (const file of files) {
      mkdirSync(path.dirname(path.join(this.root, file)), { recursive: true });
      copyFileSync(path.join(source, file), path.join(this.root, file));
    }
    symlinkSync(path.join(source, 'node_modules'), path.join(this.root, 'node_modules'), 'dir');
    this.git('init', '-q', '-b', 'main');
    this.git('add', '-A');
    this.git('commit', '-q', '-m', 'base');
  }

  git(...args: string[]): string {
    // No hooks and no signing from the machine's git configuration: this repository is throwaway.
    const isolated = ['-c', `core.hooksPath=${path.join(this.root, '.no-hooks')}`, '-c', 'commit.gpgsign=false'];
    return execFileSync('git', [...isolated, ...args], { cwd: this.root, env: this.env, encoding: 'utf8' }).trim();
  }

  nx(...args: string[]): string {
    return execFileSync(path.join(this.root, 'node_modules', '.bin', 'nx'), args, {
      cwd: this.root,
      env: this.env,
      encoding: 'utf8',
      stdio: 'pipe',
    });
  }

  /** Commits a one-line change to a file on a new branch from `base`; HEAD is then the change. */
  commitChange(branch: string, base: string, file: string): void {
    this.git('checkout', '-q', '-b', branch, base);
    appendFileSync(path.join(this.root, file), '\n// a change on a scratch commit\n');
    this.git('commit', '-q', '-am', `change ${file}`);
  }

  /**
   * Projects with a deploy target that `nx affected -t deploy` would run between base and HEAD (or,
   * with `workingTree`, between base and the files as they are, uncommitted changes included).
   */
  affectedDeploys(base: string, { workingTree = false } = {}): string[] {
    const head = workingTree ? [] : ['--head=HEAD'];
    const json = this.nx(
      'show',
      'projects',
      '--affected',
      `--base=${base}`,
      ...head,
      '--withTarget',
      'deploy',
      '--json',
    );
    return (JSON.parse(json) as string[]).sort();
  }

  remove(): void {
    rmSync(this.root, { recursive: true, force: true });
  }
}

describe('GIVEN a scratch copy of the workspace with one base commit', () => {
  let repo: ScratchRepo;
  let base: string;
  const entry = (project: string) => targetsOf(`apps/${project}/project.json`).build.options?.main as string;
  const libEntry = (alias: string) => {
    const { compilerOptions } = JSON.parse(readFileSync(path.join(WORKSPACE_ROOT, 'tsconfig.base.json'), 'utf8')) as {
      compilerOptions: { paths: Record<string, string[]> };
    };
    return compilerOptions.paths[alias][0];
  };
  beforeAll(() => {
    repo = new ScratchRepo(WORKSPACE_ROOT);
    base = repo.git('rev-parse', 'HEAD');
  });
  afterAll(() => repo?.remove());

  describe('WHEN a commit changes only the processor’s code', () => {
    it('THEN `nx affected -t deploy` deploys exactly the processor', () => {
      repo.commitChange('processor-change', base, entry('processor'));

      expect(repo.affectedDeploys(base)).toEqual(['processor']);
    });

    it('THEN a fresh `npm install` afterwards leaves the lock as it is, so it still deploys exactly the processor', () => {
      repo.git('checkout', '-q', 'processor-change');
      // What a new clone's install does to the lock, without touching the shared node_modules.
      execFileSync('npm', ['install', '--package-lock-only', '--ignore-scripts', '--no-audit', '--no-fund'], {
        cwd: repo.root,
        stdio: 'pipe',
      });

      expect(repo.git('status', '--porcelain', '--', 'package-lock.json', 'package.json')).toBe('');
      expect(repo.affectedDeploys(base, { workingTree: true })).toEqual(['processor']);
    });
  });

  describe('WHEN a commit changes @pipeline/records, a lib every app uses', () => {
    it('THEN `nx affected -t deploy` deploys every app', () => {
      repo.commitChange('records-change', base, libEntry('@pipeline/records'));

      expect(repo.affectedDeploys(base)).toEqual(['finisher', 'processor', 'reader', 'writer']);
    });
  });

  describe('WHEN the reader’s deploy is planned', () => {
    it('THEN it builds and synthesizes the reader and deploys the shared stack first, and touches no other app', () => {
      repo.git('checkout', '-q', base);
      const file = path.join(repo.root, 'reader-deploy-graph.json');

      repo.nx('run', 'reader:deploy', `--graph=${file}`);
      const { tasks } = JSON.parse(readFileSync(file, 'utf8')) as { tasks: { dependencies: Record<string, string[]> } };

      expect(tasks.dependencies).toEqual({
        'reader:deploy': ['reader:synth', 'infra:deploy-shared'],
        'reader:synth': ['reader:build'],
        'reader:build': [],
        'infra:deploy-shared': ['infra:synth-shared'],
        'infra:synth-shared': [],
      });
    });
  });
});
