import { pipelineNames } from '@pipeline/config';
import { checkEnvironmentChoice, deployedResources, localStackOutputs, parseStackOutputs } from './environment';

const names = pipelineNames('dev');

describe('a deployed environment found by name', () => {
  it('takes its resources from `cdk deploy --outputs-file`', () => {
    const file = JSON.stringify({
      [names.stacks.shared]: {
        RecordsStreamName: 'dev-pipeline-records',
        ResultsStreamName: 'dev-pipeline-results',
        SourceBucketName: 'src-b',
        SpillBucketName: 'spill-b',
        ResultsBucketName: 'results-b',
        FailuresBucketName: 'failures-b',
      },
      [names.stacks.reader]: { ReaderFunctionName: 'reader-fn' },
    });
    expect(deployedResources('dev', file, undefined, undefined)).toEqual({
      recordsStream: 'dev-pipeline-records',
      resultsStream: 'dev-pipeline-results',
      sourceBucket: 'src-b',
      spillBucket: 'spill-b',
      resultsBucket: 'results-b',
      failuresBucket: 'failures-b',
      readerFunction: 'reader-fn',
    });
  });

  it('takes them from `aws cloudformation describe-stacks`, keeping only its own stacks', () => {
    const file = JSON.stringify({
      Stacks: [
        {
          StackName: 'prod-pipeline-shared',
          Outputs: [{ OutputKey: 'ResultsBucketName', OutputValue: 'prod-results' }],
        },
        {
          StackName: names.stacks.shared,
          Outputs: [
            { OutputKey: 'ResultsBucketName', OutputValue: 'dev-results' },
            { OutputKey: 'FailuresBucketName', OutputValue: 'dev-failures' },
          ],
        },
      ],
    });
    expect(parseStackOutputs(file, 'dev')).toEqual({
      ResultsBucketName: 'dev-results',
      FailuresBucketName: 'dev-failures',
    });
  });

  it('without an outputs file, names everything as the CDK app does, buckets by account and region', () => {
    const resources = deployedResources('dev', undefined, '123456789012', 'eu-west-1');
    expect(resources).toMatchObject({
      recordsStream: names.recordsStream,
      readerFunction: names.functions.reader,
      resultsBucket: names.bucket('results', '123456789012', 'eu-west-1'),
      failuresBucket: names.bucket('failures', '123456789012', 'eu-west-1'),
    });
    expect(() => deployedResources('dev', undefined, undefined, 'eu-west-1')).toThrow(
      /give --outputs FILE .* or --account ID with AWS_REGION set/,
    );
  });

  it('refuses an outputs file that is not JSON, saying which files it reads', () => {
    expect(() => parseStackOutputs('{oops', 'dev', 'out.json')).toThrow(
      /out.json is not JSON .*cdk deploy --outputs-file/,
    );
  });

  it('checks the choice before anything connects', () => {
    expect(() => checkEnvironmentChoice({ env: 'Dev!' })).toThrow(/--env must be an environment name/);
    expect(() => checkEnvironmentChoice({ outputs: 'x.json' })).toThrow(/give --env NAME too/);
    expect(() => checkEnvironmentChoice({ env: 'dev', dataDir: '.local' })).toThrow(/not with --env/);
    expect(() => checkEnvironmentChoice({ env: 'dev', account: '12' })).toThrow(/12-digit/);
    expect(() => checkEnvironmentChoice({ env: 'dev', outputs: 'x.json' })).not.toThrow();
  });

  it('knows per-run streams, and the plan redrive opens them with, from the StreamsLifecycle and RunStreams outputs', () => {
    const plan = {
      streams: [{ name: names.recordsStream, shardCount: 1, retentionHours: 24 }],
      mappings: [],
      replayWindowHours: 3,
    };
    const outputs = (reader: Record<string, string>) =>
      JSON.stringify({
        [names.stacks.shared]: {
          ResultsBucketName: 'r',
          SourceBucketName: 's',
          SpillBucketName: 'p',
          FailuresBucketName: 'f',
          StreamsLifecycle: 'per-run',
        },
        [names.stacks.reader]: reader,
      });
    expect(deployedResources('dev', outputs({ RunStreams: JSON.stringify(plan) }), undefined, undefined)).toMatchObject(
      {
        streamsLifecycle: 'per-run',
        runStreams: plan,
      },
    );
    expect(deployedResources('dev', outputs({}), undefined, undefined)).not.toHaveProperty('runStreams');
    expect(() => deployedResources('dev', outputs({ RunStreams: '{"streams":[]}' }), undefined, undefined)).toThrow(
      /RunStreams output is not a plan .*cdk deploy/,
    );
  });

  it("reads the local stack's own outputs file like a deployed one's", () => {
    const resources = deployedResources('local', JSON.stringify(localStackOutputs()), undefined, undefined);
    expect(resources).toMatchObject({ resultsBucket: 'pipeline-results', failuresBucket: 'pipeline-failures' });
  });
});
