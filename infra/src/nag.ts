import { Stack, Validations } from 'aws-cdk-lib';
import { AwsSolutionsChecks } from 'cdk-nag';
// Not re-exported by cdk-nag's index; the same function its IAM rules use to name a finding.
import { flattenCfnReference } from 'cdk-nag/lib/utils/flatten-cfn-reference';
import type { IConstruct } from 'constructs';

/**
 * cdk-nag 3 runs as a policy-validation plugin: synthesis fails on any AwsSolutions finding that
 * is not acknowledged, with a written reason, on the construct it concerns (or an ancestor).
 *
 * @example registerNag(app);
 */
export function registerNag(app: IConstruct): AwsSolutionsChecks {
  const pack = new AwsSolutionsChecks(app);
  Validations.of(app).addPlugins(pack);
  return pack;
}

/** Acknowledges one rule (or one finding, `Rule[Finding]`) on a construct and everything under it. */
export function acknowledge(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/**
 * Acknowledges the IAM5 (wildcard) finding for one resource of a policy under `scope`, named the
 * way cdk-nag names it, so the reason sits next to the permission it explains.
 *
 * @example acknowledgeWildcard(role, `${bucketArn}/runs/*`, 'the run ledger: one object per run and slice');
 */
export function acknowledgeWildcard(scope: IConstruct, resource: string, reason: string): void {
  const flat = flattenCfnReference(Stack.of(scope).resolve(resource));
  acknowledge(scope, `AwsSolutions-IAM5[Resource::${flat}]`, reason);
}

/** Every acknowledgment recorded in a tree, with its reason, for review and tests. */
export function acknowledgments(root: IConstruct): { path: string; id: string; reason: string }[] {
  return root.node.findAll().flatMap((construct) =>
    construct.node.metadata
      .filter((entry) => entry.type === Validations.ACKNOWLEDGED_RULES_METADATA_KEY && entry.data)
      .flatMap((entry) =>
        Object.entries(entry.data as Record<string, string>).map(([id, reason]) => ({
          path: construct.node.path,
          id: id.replace(/^annotation::/i, ''),
          reason,
        })),
      ),
  );
}
