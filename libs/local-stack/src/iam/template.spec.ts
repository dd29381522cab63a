import {
  deliveryStreamRole,
  exportsOf,
  functionRole,
  renameResources,
  resolveIntrinsics,
  rolePolicies,
  TemplateError,
  type CfnTemplate,
} from './template';

const ctx = { partition: 'aws', region: 'eu-west-1', accountId: '123456789012' };
const join = (...parts: unknown[]) => ({ 'Fn::Join': ['', parts] });

const template: CfnTemplate = {
  Resources: {
    Results: { Type: 'AWS::S3::Bucket', Properties: { BucketName: join('results-', { Ref: 'AWS::AccountId' }) } },
    Logs: { Type: 'AWS::Logs::LogGroup', Properties: { LogGroupName: '/aws/lambda/fn' } },
    Unnamed: { Type: 'AWS::SQS::Queue' },
    Role: { Type: 'AWS::IAM::Role', Properties: {} },
    Fn: {
      Type: 'AWS::Lambda::Function',
      Properties: { FunctionName: 'fn', Role: { 'Fn::GetAtt': ['Role', 'Arn'] } },
    },
    Policy: {
      Type: 'AWS::IAM::Policy',
      Properties: {
        Roles: [{ Ref: 'Role' }],
        PolicyDocument: {
          Statement: [
            {
              Effect: 'Allow',
              Action: 's3:GetObject',
              Resource: join({ 'Fn::GetAtt': ['Results', 'Arn'] }, '/runs/*'),
            },
            { Effect: 'Allow', Action: 'logs:PutLogEvents', Resource: { 'Fn::GetAtt': ['Logs', 'Arn'] } },
            { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: { 'Fn::GetAtt': ['Unnamed', 'Arn'] } },
          ],
        },
      },
    },
    OtherPolicy: {
      Type: 'AWS::IAM::Policy',
      Properties: { Roles: [{ Ref: 'SomeoneElse' }], PolicyDocument: { Statement: [] } },
    },
  },
  Outputs: { Stream: { Value: 'arn:aws:kinesis:eu-west-1:1:stream/s', Export: { Name: 'shared-stream' } } },
};

describe('role policies from a synthesized template', () => {
  it('resolves pseudo parameters, Fn::Join, Fn::Sub, Fn::Select and Fn::Split', () => {
    expect(
      resolveIntrinsics(join('arn:', { Ref: 'AWS::Partition' }, ':kinesis:', { Ref: 'AWS::Region' }), template, ctx),
    ).toBe('arn:aws:kinesis:eu-west-1');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholders
    expect(resolveIntrinsics({ 'Fn::Sub': 'b-${AWS::AccountId}-${Results}' }, template, ctx)).toBe(
      'b-123456789012-results-123456789012',
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholders
    expect(resolveIntrinsics({ 'Fn::Sub': ['${X}/y', { X: 'x' }] }, template, ctx)).toBe('x/y');
    expect(resolveIntrinsics({ 'Fn::Select': [1, { 'Fn::Split': [',', 'a,b,c'] }] }, template, ctx)).toBe('b');
  });

  it('resolves Ref and Fn::GetAtt Arn of named resources to their physical names and ARNs', () => {
    expect(resolveIntrinsics({ Ref: 'Results' }, template, ctx)).toBe('results-123456789012');
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Results', 'Arn'] }, template, ctx)).toBe(
      'arn:aws:s3:::results-123456789012',
    );
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Logs', 'Arn'] }, template, ctx)).toBe(
      'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fn:*',
    );
  });

  it('resolves a resource without a fixed name to a name no request carries (fail closed)', () => {
    expect(resolveIntrinsics({ 'Fn::GetAtt': ['Unnamed', 'Arn'] }, template, ctx)).toBe('unresolved:Unnamed.Arn');
  });

  it('resolves Fn::ImportValue from the stacks’ exports, and refuses one nobody exports', () => {
    const exports = exportsOf([template], ctx);
    expect(resolveIntrinsics({ 'Fn::ImportValue': 'shared-stream' }, template, { ...ctx, exports })).toBe(
      'arn:aws:kinesis:eu-west-1:1:stream/s',
    );
    expect(() => resolveIntrinsics({ 'Fn::ImportValue': 'nope' }, template, { ...ctx, exports })).toThrow(
      TemplateError,
    );
  });

  it('refuses an intrinsic it cannot resolve rather than guess', () => {
    expect(() => resolveIntrinsics({ 'Fn::If': ['c', 'a', 'b'] }, template, ctx)).toThrow(/Fn::If is not supported/);
  });

  it('collects every policy attached to the function’s role, and only those', () => {
    const { roleLogicalId } = functionRole([template], 'fn', ctx);
    const [policy, ...others] = rolePolicies(template, roleLogicalId, ctx);

    expect(roleLogicalId).toBe('Role');
    expect(others).toEqual([]);
    expect(policy.Statement).toEqual([
      { Effect: 'Allow', Action: 's3:GetObject', Resource: 'arn:aws:s3:::results-123456789012/runs/*' },
      {
        Effect: 'Allow',
        Action: 'logs:PutLogEvents',
        Resource: 'arn:aws:logs:eu-west-1:123456789012:log-group:/aws/lambda/fn:*',
      },
      { Effect: 'Allow', Action: 'sqs:SendMessage', Resource: 'unresolved:Unnamed.Arn' },
    ]);
  });

  it('finds the role a delivery stream writes its destination with', () => {
    const firehose: CfnTemplate = {
      Resources: {
        DeliveryRole: { Type: 'AWS::IAM::Role', Properties: {} },
        Delivery: {
          Type: 'AWS::KinesisFirehose::DeliveryStream',
          Properties: {
            DeliveryStreamName: 'delivery',
            ExtendedS3DestinationConfiguration: { RoleARN: { 'Fn::GetAtt': ['DeliveryRole', 'Arn'] } },
          },
        },
      },
    };
    expect(deliveryStreamRole([template, firehose], 'delivery', ctx).roleLogicalId).toBe('DeliveryRole');
    expect(() => deliveryStreamRole([template], 'delivery', ctx)).toThrow(TemplateError);
  });

  it('refuses a role with managed policies attached by ARN, whose statements are not in the template', () => {
    const managed: CfnTemplate = {
      Resources: { Role: { Type: 'AWS::IAM::Role', Properties: { ManagedPolicyArns: ['arn:aws:iam::aws:policy/X'] } } },
    };
    expect(() => rolePolicies(managed, 'Role', ctx)).toThrow(/managed policies by ARN/);
  });

  it('renames deployed resources to local ones by whole name only', () => {
    const [renamed] = renameResources(
      [
        {
          Statement: [
            {
              Effect: 'Allow',
              Action: '*',
              Resource: [
                'arn:aws:s3:::dev-results-1/runs/*',
                'arn:aws:s3:::dev-results-1-other/x',
                'arn:aws:kinesis:r:1:stream/dev-records',
                'arn:aws:firehose:r:1:deliverystream/dev-delivery',
                '*',
              ],
            },
          ],
        },
      ],
      { 'dev-results-1': 'results', 'dev-records': 'records', 'dev-delivery': 'delivery' },
    );
    expect((renamed.Statement as { Resource: string[] }[])[0].Resource).toEqual([
      'arn:aws:s3:::results/runs/*',
      'arn:aws:s3:::dev-results-1-other/x',
      'arn:aws:kinesis:r:1:stream/records',
      'arn:aws:firehose:r:1:deliverystream/delivery',
      '*',
    ]);
  });
});
