import { describeEndpoints, EMBEDDED_ENDPOINTS, planEndpoints } from './endpoints';

describe('planEndpoints: each service follows its own endpoint setting', () => {
  it('embeds every service when no endpoint is set', () => {
    expect(planEndpoints({})).toEqual({ embedded: ['kinesis', 's3', 'firehose'], external: [] });
  });

  it('sends only the service named by AWS_ENDPOINT_URL_<SERVICE> to that endpoint', () => {
    expect(planEndpoints({ AWS_ENDPOINT_URL_FIREHOSE: 'http://localhost:4566' })).toEqual({
      embedded: ['kinesis', 's3'],
      external: [{ service: 'firehose', endpoint: 'http://localhost:4566', variable: 'AWS_ENDPOINT_URL_FIREHOSE' }],
    });
  });

  it('sends every service without a variable of its own to AWS_ENDPOINT_URL', () => {
    const plan = planEndpoints({ AWS_ENDPOINT_URL: 'http://ls:4566', AWS_ENDPOINT_URL_S3: 'http://minio:9000' });
    expect(plan.embedded).toEqual([]);
    expect(plan.external).toEqual([
      { service: 'kinesis', endpoint: 'http://ls:4566', variable: 'AWS_ENDPOINT_URL' },
      { service: 's3', endpoint: 'http://minio:9000', variable: 'AWS_ENDPOINT_URL_S3' },
      { service: 'firehose', endpoint: 'http://ls:4566', variable: 'AWS_ENDPOINT_URL' },
    ]);
  });

  it('does not take the endpoints an embedded stack set for the user’s', () => {
    const env = {
      AWS_ENDPOINT_URL_KINESIS: 'http://127.0.0.1:40001',
      AWS_ENDPOINT_URL_S3: 'http://127.0.0.1:40002',
      AWS_ENDPOINT_URL_FIREHOSE: 'http://localhost:4566',
      [EMBEDDED_ENDPOINTS]: 'kinesis,s3',
    };
    expect(planEndpoints(env).embedded).toEqual(['kinesis', 's3']);
    expect(describeEndpoints(planEndpoints(env))).toBe(
      'kinesis embedded · s3 embedded · firehose at http://localhost:4566 (AWS_ENDPOINT_URL_FIREHOSE)',
    );
  });
});
