import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { cx_api } from 'aws-cdk-lib';
import { bundleDir, MissingBundleError, WORKSPACE_ROOT } from '../src/code';
import { InfraConfigError } from '../src/config';
import { parseArgs, synthesize, UsageError } from '../src/main';

/**
 * The CDK app as `nx run <app>:synth` runs it (tsx infra/src/main.ts …), against a scratch
 * workspace root holding infra/cdk.json and stand-in bundles where the Nx builds put theirs.
 */
function scratchRoot(apps: string[]): string {
  const root = mkdtempSync(path.join(tmpdir(), 'infra-root-'));
  mkdirSync(path.join(root, 'infra'));
  copyFileSync(path.join(WORKSPACE_ROOT, 'infra', 'cdk.json'), path.join(root, 'infra', 'cdk.json'));
  for (const app of apps) {
    mkdirSync(path.join(root, 'dist', 'apps', app), { recursive: true });
    writeFileSync(path.join(root, 'dist', 'apps', app, 'index.js'), `exports.handler = async () => '${app}';\n`);
  }
  return root;
}

const templateOf = (assembly: cx_api.CloudAssembly, id: string) =>
  JSON.stringify(assembly.getStackArtifact(id).template);

describe('the CDK app’s command line', () => {
  it('builds every app stack when no app is named', () => {
    expect(parseArgs([])).toEqual({
      apps: ['reader', 'processor', 'writer', 'finisher'],
      outdir: undefined,
      context: {},
    });
  });

  it('builds only the named apps, with context and an output directory', () => {
    expect(parseArgs(['--app', 'writer', '-c', 'env=prod', '--outdir', 'x'])).toEqual({
      apps: ['writer'],
      outdir: 'x',
      context: { env: 'prod' },
    });
  });

  it('builds only the shared stack when asked', () => {
    expect(parseArgs(['--shared-only']).apps).toEqual([]);
  });

  it.each([
    [['--app', 'collator'], /unknown app "collator": choose one of reader, processor, writer/],
    [['--app'], /--app <value>' argument missing/],
    [['--shared-only', '--app', 'reader'], /exclude each other/],
    [['-c', 'env'], /not key=value/],
    [['--all'], /Unknown option '--all'/],
  ])('refuses %j with a message that says what to do', (argv, message) => {
    expect(() => parseArgs(argv)).toThrow(UsageError);
    expect(() => parseArgs(argv)).toThrow(message);
  });
});

describe('GIVEN only the reader’s bundle is built', () => {
  let root: string;
  let out: string;
  beforeAll(() => {
    root = scratchRoot(['reader']);
    out = mkdtempSync(path.join(tmpdir(), 'infra-out-'));
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  describe('WHEN the reader is synthesized', () => {
    let assembly: cx_api.CloudAssembly;
    beforeAll(() => {
      assembly = synthesize(['--app', 'reader', '--outdir', path.join(out, 'reader')], {}, root);
    });

    it('THEN the assembly holds the shared stack and the reader stack only', () => {
      expect(assembly.stacks.map((s) => `${s.hierarchicalId}=${s.stackName}`).sort()).toEqual([
        'Reader=dev-pipeline-reader',
        'Shared=dev-pipeline-shared',
      ]);
    });

    it('THEN the reader stack is deployed after the shared stack', () => {
      expect(assembly.getStackArtifact('Reader').dependencies.map((d) => d.id)).toContain('Shared');
    });

    it('THEN the reader’s code is its bundle from dist/apps/reader', () => {
      const manifest = JSON.parse(readFileSync(path.join(assembly.directory, 'Reader.assets.json'), 'utf8')) as {
        files: Record<string, { source: { path: string; packaging?: string } }>;
      };
      const zipped = Object.values(manifest.files).filter((file) => file.source.packaging === 'zip');
      expect(zipped).toHaveLength(1);
      const staged = path.join(assembly.directory, zipped[0].source.path);

      expect(readFileSync(path.join(staged, 'index.js'), 'utf8')).toContain("'reader'");
    });

    it('THEN the stacks are environment-agnostic: the deploying credentials choose account and region', () => {
      expect(assembly.getStackArtifact('Reader').environment).toMatchObject({
        account: 'unknown-account',
        region: 'unknown-region',
      });
    });
  });

  describe('WHEN the processor is synthesized', () => {
    it('THEN it fails, naming the build to run', () => {
      const act = () => synthesize(['--app', 'processor', '--outdir', path.join(out, 'processor')], {}, root);

      expect(act).toThrow(MissingBundleError);
      expect(act).toThrow(/npx nx run processor:build/);
    });
  });

  describe('WHEN the shared stack is synthesized for different apps', () => {
    it('THEN its template is the same whichever app stacks are built beside it', () => {
      const sharedOnly = synthesize(['--shared-only', '--outdir', path.join(out, 'shared')], {}, root);
      const withReader = synthesize(['--app', 'reader', '--outdir', path.join(out, 'reader2')], {}, root);

      expect(templateOf(withReader, 'Shared')).toEqual(templateOf(sharedOnly, 'Shared'));
    });
  });

  describe('WHEN another environment is chosen, on the command line or through PIPELINE_ENV', () => {
    it('THEN every stack is named after it and its settings from infra/cdk.json apply', () => {
      const viaContext = synthesize(
        ['--app', 'reader', '-c', 'env=prod', '--outdir', path.join(out, 'prod')],
        {},
        root,
      );
      const viaEnv = synthesize(
        ['--shared-only', '--outdir', path.join(out, 'prod-env')],
        { PIPELINE_ENV: 'prod' },
        root,
      );

      expect(viaContext.stacks.map((s) => s.stackName).sort()).toEqual([
        'prod-pipeline-reader',
        'prod-pipeline-shared',
      ]);
      expect(templateOf(viaContext, 'Reader')).toContain('"RetentionInDays":90');
      expect(viaEnv.stacks.map((s) => s.stackName)).toEqual(['prod-pipeline-shared']);
    });
  });

  describe('WHEN the configuration is invalid', () => {
    it('THEN synthesis stops with the setting named', () => {
      const act = () =>
        synthesize(
          ['--shared-only', '--outdir', path.join(out, 'bad')],
          { PIPELINE_OVERRIDES: '{"streams":{"retentionHours":1}}' },
          root,
        );

      expect(act).toThrow(InfraConfigError);
      expect(act).toThrow(/streams\.retentionHours/);
    });
  });
});

describe('the wiring between the Nx builds and the CDK app', () => {
  it.each(['reader', 'processor', 'writer'] as const)('the %s bundle is read where its Nx build writes it', (app) => {
    const project = JSON.parse(readFileSync(path.join(WORKSPACE_ROOT, 'apps', app, 'project.json'), 'utf8'));

    expect(bundleDir(app)).toBe(path.join(WORKSPACE_ROOT, project.targets.build.options.outputPath));
    expect(project.targets.build.options.sourcemap).toBe(true);
    expect(project.targets.build.options.target).toBe('node22');
  });
});

describe('GIVEN a synthesized assembly', () => {
  let root: string;
  let out: string;
  beforeAll(() => {
    root = scratchRoot(['writer']);
    out = mkdtempSync(path.join(tmpdir(), 'infra-out-'));
    synthesize(['--app', 'writer', '--outdir', out], {}, root);
  });
  afterAll(() => {
    rmSync(root, { recursive: true, force: true });
    rmSync(out, { recursive: true, force: true });
  });

  describe('WHEN the installed CDK CLI lists it, as `nx run writer:deploy` makes it do before deploying', () => {
    it('THEN the CLI can read what aws-cdk-lib wrote (their cloud-assembly schema versions match)', () => {
      const cli = path.join(WORKSPACE_ROOT, 'node_modules', '.bin', 'cdk');
      let listed: string;
      try {
        listed = execFileSync(cli, ['ls', '--app', out, '--no-notices'], {
          encoding: 'utf8',
          stdio: 'pipe',
          env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true' },
        });
      } catch (error) {
        const stderr = String((error as { stderr?: string }).stderr ?? error);
        throw new Error(
          `the installed aws-cdk CLI cannot read this assembly; pin a CLI that reads aws-cdk-lib's schema (e.g. "aws-cdk": "2.1148.1"):\n${stderr}`,
        );
      }

      expect(listed.split('\n')).toEqual(
        expect.arrayContaining(['Shared (dev-pipeline-shared)', 'Writer (dev-pipeline-writer)']),
      );
    });
  });
});
