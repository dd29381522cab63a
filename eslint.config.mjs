// ESLint runs one rule here: Nx's module boundaries. Biome does the rest of linting and formatting.
import nx from '@nx/eslint-plugin';
import tsParser from '@typescript-eslint/parser';

/**
 * What each kind of project may import, by its tags:
 * - `type:runtime` — code that runs inside a Lambda bundle: only other runtime libs.
 * - `type:app` — a Lambda handler: runtime libs, never another app.
 * - `type:local-stack` — the embedded AWS: runtime libs (its shared limits and formats) and itself.
 * - `type:tool` — the local runner and operator tool: anything but infra.
 * - `type:infra` — the CDK app: runtime libs for shared names and limits.
 */
const runtimeRules = [
  { sourceTag: 'type:runtime', onlyDependOnLibsWithTags: ['type:runtime'] },
  { sourceTag: 'type:app', onlyDependOnLibsWithTags: ['type:runtime'] },
  { sourceTag: 'type:local-stack', onlyDependOnLibsWithTags: ['type:runtime', 'type:local-stack'] },
  { sourceTag: 'type:tool', onlyDependOnLibsWithTags: ['type:runtime', 'type:local-stack', 'type:app', 'type:tool'] },
  { sourceTag: 'type:infra', onlyDependOnLibsWithTags: ['type:runtime'] },
];

/** Tests may also start the embedded stack: that is how they talk to real servers. */
const testRules = runtimeRules.map((rule) =>
  rule.sourceTag === 'type:tool'
    ? rule
    : { ...rule, onlyDependOnLibsWithTags: [...rule.onlyDependOnLibsWithTags, 'type:local-stack'] },
);

const TEST_FILES = ['**/*.spec.ts', '**/test/**/*.ts', '**/testing/**/*.ts', '**/testing.ts', '**/test-support.ts'];

const boundaries = (depConstraints, allow = []) => ({
  '@nx/enforce-module-boundaries': [
    'error',
    {
      enforceBuildableLibDependency: false,
      allow,
      depConstraints,
      // The bench loads the embedded stack and a handler lazily, after measuring the runner's own baseline.
      checkDynamicDependenciesExceptions: ['@pipeline/local-stack', '@apps/*'],
      // Only a test edge: local-stack's test helpers build an object store; object-store's tests start local S3.
      ignoredCircularDependencies: [['local-stack', 'object-store']],
    },
  ],
});

export default [
  { ignores: ['**/node_modules/**', '**/dist/**', '**/cdk.out/**', '**/.nx/**', '**/coverage/**'] },
  {
    files: ['**/*.ts'],
    languageOptions: { parser: tsParser },
    plugins: { '@nx': nx },
    linterOptions: { reportUnusedDisableDirectives: 'off' },
    rules: boundaries(runtimeRules),
  },
  { files: TEST_FILES, rules: boundaries(testRules) },
  // The local runner is the embedded Lambda service: the one place that loads the handlers, as Lambda does;
  // the operator tool's replay on the embedded stack runs the processor's replay handler the same way.
  { files: ['libs/local-runner/**/*.ts', 'apps/pipeline/**/*.ts'], rules: boundaries(runtimeRules, ['@apps/*']) },
];
