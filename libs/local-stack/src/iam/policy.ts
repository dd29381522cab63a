/**
 * A small IAM policy evaluator: identity-based policies with Allow and Deny statements, actions and
 * resources with wildcards (`*`, `?`), NotAction / NotResource, and the condition operators the
 * pipeline's templates can use. One evaluator serves the embedded stack's IAM gateway and the
 * infrastructure's least-privilege tests, so what the tests assert is what the local run enforces.
 *
 * @example
 * evaluate([policy], { action: 's3:PutObject', resource: 'arn:aws:s3:::bucket/runs/r1/manifest.json' }).allowed;
 */

export type ConditionValue = string | number | boolean | (string | number | boolean)[];
export type ConditionBlock = Record<string, Record<string, ConditionValue>>;

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version?: string;
  Statement: PolicyStatement | PolicyStatement[];
}

/** One call as IAM sees it: an action on a resource, with the request's condition keys. */
export interface IamRequest {
  action: string;
  resource: string;
  /** Condition keys of the request (`aws:SecureTransport`, `s3:prefix`, …); absent keys are missing. */
  context?: Record<string, string | string[] | undefined>;
}

export interface Decision {
  allowed: boolean;
  /** `explicit-deny`: a Deny statement matched; `implicit-deny`: no Allow statement matched. */
  reason: 'allowed' | 'explicit-deny' | 'implicit-deny';
  /** The statement that decided (the matching Deny, or the first matching Allow). */
  statement?: PolicyStatement;
}

export class PolicyError extends Error {
  override readonly name = 'PolicyError';
}

const asArray = <T>(value: T | T[] | undefined): T[] =>
  value === undefined ? [] : Array.isArray(value) ? value : [value];

export function statementsOf(policies: readonly PolicyDocument[]): PolicyStatement[] {
  return policies.flatMap((policy) => asArray(policy.Statement));
}

const patterns = new Map<string, RegExp>();

/** IAM's wildcard match: `*` any run of characters (slashes and colons included), `?` one character. */
export function wildcardMatch(pattern: string, value: string, ignoreCase = false): boolean {
  const cacheKey = `${ignoreCase ? 'i' : 's'}${pattern}`;
  let regex = patterns.get(cacheKey);
  if (!regex) {
    const body = pattern
      .replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '.*')
      .replace(/\?/g, '.');
    regex = new RegExp(`^${body}$`, ignoreCase ? 'is' : 's');
    patterns.set(cacheKey, regex);
  }
  return regex.test(value);
}

/** Action names are case-insensitive in IAM; resources (ARNs, object keys) are not. */
function actionMatches(statement: PolicyStatement, action: string): boolean {
  if (statement.Action !== undefined) return asArray(statement.Action).some((a) => wildcardMatch(a, action, true));
  if (statement.NotAction !== undefined)
    return !asArray(statement.NotAction).some((a) => wildcardMatch(a, action, true));
  throw new PolicyError(`statement ${statement.Sid ?? ''} has neither Action nor NotAction`);
}

function resourceMatches(statement: PolicyStatement, resource: string): boolean {
  if (statement.Resource !== undefined) return asArray(statement.Resource).some((r) => wildcardMatch(r, resource));
  if (statement.NotResource !== undefined)
    return !asArray(statement.NotResource).some((r) => wildcardMatch(r, resource));
  throw new PolicyError(`statement ${statement.Sid ?? ''} has neither Resource nor NotResource`);
}

type Comparator = (actual: string, expected: string) => boolean;

const number = (value: string) => Number(value);
const COMPARATORS: Record<string, { compare: Comparator; negated?: boolean }> = {
  StringEquals: { compare: (a, e) => a === e },
  StringNotEquals: { compare: (a, e) => a === e, negated: true },
  StringEqualsIgnoreCase: { compare: (a, e) => a.toLowerCase() === e.toLowerCase() },
  StringNotEqualsIgnoreCase: { compare: (a, e) => a.toLowerCase() === e.toLowerCase(), negated: true },
  StringLike: { compare: (a, e) => wildcardMatch(e, a) },
  StringNotLike: { compare: (a, e) => wildcardMatch(e, a), negated: true },
  ArnEquals: { compare: (a, e) => a === e },
  ArnNotEquals: { compare: (a, e) => a === e, negated: true },
  ArnLike: { compare: (a, e) => wildcardMatch(e, a) },
  ArnNotLike: { compare: (a, e) => wildcardMatch(e, a), negated: true },
  Bool: { compare: (a, e) => a.toLowerCase() === e.toLowerCase() },
  NumericEquals: { compare: (a, e) => number(a) === number(e) },
  NumericNotEquals: { compare: (a, e) => number(a) === number(e), negated: true },
  NumericLessThan: { compare: (a, e) => number(a) < number(e) },
  NumericLessThanEquals: { compare: (a, e) => number(a) <= number(e) },
  NumericGreaterThan: { compare: (a, e) => number(a) > number(e) },
  NumericGreaterThanEquals: { compare: (a, e) => number(a) >= number(e) },
};

/**
 * One condition operator against the request: every key of the block must hold (AND); a key holds
 * when any of its values matches (OR), or, for a negated operator, when none does. A key missing
 * from the request fails a positive operator and passes a negated one; `…IfExists` passes it either way.
 */
function operatorHolds(operator: string, keys: Record<string, ConditionValue>, request: IamRequest): boolean {
  let name = operator;
  let set: 'ForAnyValue' | 'ForAllValues' | undefined;
  const colon = name.indexOf(':');
  if (colon > 0) {
    const qualifier = name.slice(0, colon);
    if (qualifier !== 'ForAnyValue' && qualifier !== 'ForAllValues')
      throw new PolicyError(`condition operator "${operator}" has an unknown qualifier`);
    set = qualifier;
    name = name.slice(colon + 1);
  }
  const ifExists = name.endsWith('IfExists');
  if (ifExists) name = name.slice(0, -'IfExists'.length);
  const context = request.context ?? {};
  for (const [key, expectedValue] of Object.entries(keys)) {
    const found = Object.entries(context).find(([k]) => k.toLowerCase() === key.toLowerCase())?.[1];
    const expected = asArray(expectedValue).map(String);
    if (name === 'Null') {
      const wantsMissing = expected.some((e) => e.toLowerCase() === 'true');
      if ((found === undefined) !== wantsMissing) return false;
      continue;
    }
    const comparator = COMPARATORS[name];
    if (!comparator) throw new PolicyError(`condition operator "${operator}" is not supported by the local evaluator`);
    if (found === undefined) {
      if (ifExists || comparator.negated || set === 'ForAllValues') continue;
      return false;
    }
    const actuals = asArray(found);
    const matchesAny = (actual: string) => expected.some((e) => comparator.compare(actual, e));
    const valueHolds = (actual: string) => (comparator.negated ? !matchesAny(actual) : matchesAny(actual));
    const holds =
      set === 'ForAllValues'
        ? actuals.every(valueHolds)
        : set === 'ForAnyValue'
          ? actuals.some(valueHolds)
          : actuals.every(valueHolds);
    if (!holds) return false;
  }
  return true;
}

function conditionsHold(statement: PolicyStatement, request: IamRequest): boolean {
  return Object.entries(statement.Condition ?? {}).every(([operator, keys]) => operatorHolds(operator, keys, request));
}

/** Whether a statement applies to the request (action, resource and conditions), whatever its effect. */
export function statementApplies(statement: PolicyStatement, request: IamRequest): boolean {
  return (
    actionMatches(statement, request.action) &&
    resourceMatches(statement, request.resource) &&
    conditionsHold(statement, request)
  );
}

/**
 * IAM's evaluation logic within one account for identity-based policies: an explicit Deny wins,
 * then any Allow, and anything not allowed is denied.
 */
export function evaluate(policies: readonly PolicyDocument[], request: IamRequest): Decision {
  const statements = statementsOf(policies);
  const deny = statements.find((s) => s.Effect === 'Deny' && statementApplies(s, request));
  if (deny) return { allowed: false, reason: 'explicit-deny', statement: deny };
  const allow = statements.find((s) => s.Effect === 'Allow' && statementApplies(s, request));
  if (allow) return { allowed: true, reason: 'allowed', statement: allow };
  return { allowed: false, reason: 'implicit-deny' };
}

/** The message AWS gives for a denied call, naming the caller, the action and the resource. */
export function accessDeniedMessage(principal: string, request: IamRequest, decision: Decision): string {
  const why =
    decision.reason === 'explicit-deny'
      ? 'with an explicit deny in an identity-based policy'
      : `because no identity-based policy allows the ${request.action} action`;
  return `User: ${principal} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`;
}
