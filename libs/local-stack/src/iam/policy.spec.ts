import { accessDeniedMessage, evaluate, PolicyError, wildcardMatch, type PolicyDocument } from './policy';

const BUCKET = 'arn:aws:s3:::results';
const policy = (...Statement: PolicyDocument['Statement'][]): PolicyDocument => ({
  Version: '2012-10-17',
  Statement: Statement.flat(),
});

describe('IAM policy evaluation', () => {
  describe('wildcards', () => {
    it('matches * across slashes and colons, and ? as exactly one character', () => {
      expect(wildcardMatch(`${BUCKET}/runs/*/failures/*`, `${BUCKET}/runs/r1/failures/s/0.json`)).toBe(true);
      expect(wildcardMatch(`${BUCKET}/runs/*/failures/*`, `${BUCKET}/runs/r1/parked/s/0.json`)).toBe(false);
      expect(wildcardMatch('s3:Get?bject', 's3:GetObject')).toBe(true);
      expect(wildcardMatch('s3:Get?bject', 's3:GetObjject')).toBe(false);
    });

    it('treats regular-expression characters in a pattern literally', () => {
      expect(wildcardMatch(`${BUCKET}/run=(a).json`, `${BUCKET}/run=(a).json`)).toBe(true);
      expect(wildcardMatch(`${BUCKET}/a.json`, `${BUCKET}/aXjson`)).toBe(false);
    });
  });

  describe('allow and deny', () => {
    const grants = policy({ Effect: 'Allow', Action: 's3:PutObject', Resource: `${BUCKET}/runs/*` });

    it('allows a call an Allow statement covers', () => {
      const decision = evaluate([grants], { action: 's3:PutObject', resource: `${BUCKET}/runs/r1/manifest.json` });
      expect(decision).toMatchObject({ allowed: true, reason: 'allowed' });
    });

    it('denies by default what no statement allows', () => {
      expect(evaluate([grants], { action: 's3:GetObject', resource: `${BUCKET}/runs/r1/manifest.json` })).toEqual({
        allowed: false,
        reason: 'implicit-deny',
      });
      expect(evaluate([grants], { action: 's3:PutObject', resource: `${BUCKET}/collated/x` }).allowed).toBe(false);
    });

    it('lets an explicit Deny win over any Allow', () => {
      const deny = policy({ Effect: 'Deny', Action: 's3:*', Resource: `${BUCKET}/runs/*/control.json` });
      const decision = evaluate([grants, deny], { action: 's3:PutObject', resource: `${BUCKET}/runs/r1/control.json` });
      expect(decision).toMatchObject({ allowed: false, reason: 'explicit-deny' });
    });

    it('matches action names without regard to case, resources with it', () => {
      expect(evaluate([grants], { action: 'S3:putobject', resource: `${BUCKET}/runs/x` }).allowed).toBe(true);
      expect(evaluate([grants], { action: 's3:PutObject', resource: `${BUCKET}/RUNS/x` }).allowed).toBe(false);
    });

    it('reads NotAction and NotResource as everything but the names', () => {
      const all = policy({ Effect: 'Allow', NotAction: 's3:DeleteObject', NotResource: `${BUCKET}/secret/*` });
      expect(evaluate([all], { action: 's3:GetObject', resource: `${BUCKET}/a` }).allowed).toBe(true);
      expect(evaluate([all], { action: 's3:DeleteObject', resource: `${BUCKET}/a` }).allowed).toBe(false);
      expect(evaluate([all], { action: 's3:GetObject', resource: `${BUCKET}/secret/a` }).allowed).toBe(false);
    });
  });

  describe('conditions', () => {
    const onlyOverTls = policy(
      { Effect: 'Allow', Action: 's3:*', Resource: '*' },
      { Effect: 'Deny', Action: 's3:*', Resource: '*', Condition: { Bool: { 'aws:SecureTransport': 'false' } } },
    );

    it('applies a statement only when every condition holds', () => {
      const request = { action: 's3:GetObject', resource: `${BUCKET}/a` };
      expect(evaluate([onlyOverTls], { ...request, context: { 'aws:SecureTransport': 'false' } }).reason).toBe(
        'explicit-deny',
      );
      expect(evaluate([onlyOverTls], { ...request, context: { 'aws:SecureTransport': 'true' } }).allowed).toBe(true);
    });

    it('fails a positive operator on a missing key, passes a negated one and …IfExists', () => {
      const statement = (Condition: Record<string, Record<string, string>>) =>
        policy({ Effect: 'Allow', Action: 's3:ListBucket', Resource: BUCKET, Condition });
      const list = { action: 's3:ListBucket', resource: BUCKET };
      expect(evaluate([statement({ StringLike: { 's3:prefix': 'runs/*' } })], list).allowed).toBe(false);
      expect(evaluate([statement({ StringNotLike: { 's3:prefix': 'runs/*' } })], list).allowed).toBe(true);
      expect(evaluate([statement({ StringLikeIfExists: { 's3:prefix': 'runs/*' } })], list).allowed).toBe(true);
      expect(evaluate([statement({ Null: { 's3:prefix': 'true' } })], list).allowed).toBe(true);
    });

    it('matches any of a key’s values, and condition keys without regard to case', () => {
      const prefixes = policy({
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: BUCKET,
        Condition: { StringLike: { 'S3:Prefix': ['runs/*', 'dead-letters/*'] } },
      });
      const list = (prefix: string) => ({
        action: 's3:ListBucket',
        resource: BUCKET,
        context: { 's3:prefix': prefix },
      });
      expect(evaluate([prefixes], list('dead-letters/run=r1/')).allowed).toBe(true);
      expect(evaluate([prefixes], list('collated/')).allowed).toBe(false);
    });

    it('compares numbers and ARNs', () => {
      const numeric = policy({
        Effect: 'Allow',
        Action: 's3:ListBucket',
        Resource: BUCKET,
        Condition: { NumericLessThanEquals: { 's3:max-keys': '100' }, ArnLike: { 'aws:SourceArn': 'arn:aws:*' } },
      });
      const list = (maxKeys: string) => ({
        action: 's3:ListBucket',
        resource: BUCKET,
        context: { 's3:max-keys': maxKeys, 'aws:SourceArn': 'arn:aws:lambda:x' },
      });
      expect(evaluate([numeric], list('100')).allowed).toBe(true);
      expect(evaluate([numeric], list('1000')).allowed).toBe(false);
    });

    it('refuses an operator it does not know, rather than guess', () => {
      const odd = policy({
        Effect: 'Allow',
        Action: '*',
        Resource: '*',
        Condition: { IpAddress: { 'aws:SourceIp': '1.2.3.4' } },
      });
      expect(() =>
        evaluate([odd], { action: 's3:GetObject', resource: '*', context: { 'aws:SourceIp': '1.2.3.4' } }),
      ).toThrow(PolicyError);
    });
  });

  it('says who was denied what, on which resource, and why, as AWS does', () => {
    const request = { action: 's3:PutObject', resource: `${BUCKET}/runs/r1/failures/s/0.json` };
    const principal = 'arn:aws:sts::000000000000:assumed-role/ProcessorRole/pipeline-processor';
    expect(accessDeniedMessage(principal, request, evaluate([], request))).toBe(
      `User: ${principal} is not authorized to perform: s3:PutObject on resource: ${BUCKET}/runs/r1/failures/s/0.json because no identity-based policy allows the s3:PutObject action`,
    );
  });
});
