import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { Stack } from 'aws-cdk-lib';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { AwsSolutionsChecks } from 'cdk-nag';
import { buildPipeline, createApp } from '../src/app';
import { resolveConfig } from '../src/config';
import { acknowledgments, registerNag } from '../src/nag';
import { INLINE_CODE, TEST_ENV } from './helpers';

/** Every configuration that adds resources: replay and an existing source bucket change what is built. */
const CONFIGURATIONS = {
  'the default configuration': {},
  'a replay and an existing source bucket': {
    replay: { from: 'trim-horizon', run: 'r1' },
    source: { bucketName: 'my-data' },
  },
  'per-run streams': { streams: { lifecycle: 'per-run' } },
} as const;

describe.each(Object.entries(CONFIGURATIONS))('GIVEN %s', (_name, overrides) => {
  describe.each([
    ['in a known account and region', TEST_ENV],
    ['environment-agnostic, as `nx run <app>:synth` builds it', undefined],
  ])('WHEN the whole pipeline is checked with cdk-nag’s AwsSolutions pack %s', (_where, env) => {
    let outdir: string;
    let app: ReturnType<typeof createApp>;
    beforeAll(() => {
      outdir = mkdtempSync(path.join(tmpdir(), 'infra-nag-'));
      app = createApp({ outdir });
      buildPipeline(app, { config: resolveConfig({ overrides }), code: () => INLINE_CODE, env, nag: true });
    });
    afterAll(() => rmSync(outdir, { recursive: true, force: true }));

    it('THEN there is no finding that is not acknowledged', () => {
      const report = new AwsSolutionsChecks().validateScope(app);

      expect(
        report.violations.map((v) => `${v.ruleName}: ${v.violatingResources.map((r) => r.constructPath).join(', ')}`),
      ).toEqual([]);
      expect(report.success).toBe(true);
    });

    it('THEN synthesis, which runs the same checks as a validation plugin, succeeds', () => {
      expect(() => app.synth()).not.toThrow();
    });

    it('THEN every acknowledgment has a written reason', () => {
      const acks = acknowledgments(app);

      expect(acks.length).toBeGreaterThan(0);
      for (const ack of acks) {
        expect(ack.reason.length).toBeGreaterThanOrEqual(40);
        expect(ack.reason).not.toContain(ack.id);
      }
    });

    it('THEN every acknowledgment is narrow: wildcards one resource at a time, on the construct concerned, never a whole stack', () => {
      const stackPaths = app.node.children.filter((c) => Stack.isStack(c)).map((s) => s.node.path);

      for (const ack of acknowledgments(app)) {
        expect(ack.id).not.toBe('AwsSolutions-IAM5');
        if (ack.id.startsWith('AwsSolutions-IAM5')) expect(ack.id).toMatch(/^AwsSolutions-IAM5\[Resource::.+\]$/);
        expect(stackPaths).not.toContain(ack.path);
      }
    });

    it('THEN only the expected rules are acknowledged', () => {
      const rules = [...new Set(acknowledgments(app).map((ack) => ack.id.replace(/\[.*$/, '')))].sort();

      expect(rules).toEqual(['AwsSolutions-IAM5', 'AwsSolutions-L1', 'AwsSolutions-S1']);
    });
  });
});

describe('GIVEN a stack with a bucket that breaks the baseline', () => {
  describe('WHEN it is checked the same way', () => {
    it('THEN the findings are reported: the check can fail', () => {
      const outdir = mkdtempSync(path.join(tmpdir(), 'infra-nag-bad-'));
      try {
        const app = createApp({ outdir });
        const stack = new Stack(app, 'Careless', { env: TEST_ENV });
        new s3.Bucket(stack, 'Open', { blockPublicAccess: s3.BlockPublicAccess.BLOCK_ACLS_ONLY });
        const pack = registerNag(app);

        const report = pack.validateScope(app);

        expect(report.success).toBe(false);
        expect(report.violations.map((v) => v.ruleName)).toEqual(
          expect.arrayContaining(['AwsSolutions-S1', 'AwsSolutions-S10']),
        );
        expect(() => app.synth()).toThrow(/AwsSolutions-S1/);
      } finally {
        rmSync(outdir, { recursive: true, force: true });
      }
    });
  });
});
