import { accessKeyIdOf, jsonApiRequest, lambdaMappingRequest, s3Requests } from './requests';

const scope = { partition: 'aws', region: 'us-east-1', accountId: '000000000000' };

describe('IAM actions and resources of HTTP requests', () => {
  it('knows the caller by the access key id it signs with', () => {
    const authorization =
      'AWS4-HMAC-SHA256 Credential=pipeline-writer/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=x';
    expect(accessKeyIdOf('/b/k', { authorization })).toBe('pipeline-writer');
    expect(accessKeyIdOf('/b/k?X-Amz-Credential=op%2F20260101%2Fus-east-1%2Fs3%2Faws4_request', {})).toBe('op');
    expect(accessKeyIdOf('/b/k', {})).toBeUndefined();
  });

  describe('S3 (path style)', () => {
    const s3 = (method: string, url: string, headers = {}, keys?: string[]) =>
      s3Requests(method, url, headers, scope, () => keys ?? []);

    it('authorizes reads and writes of an object on the object’s ARN, its key decoded', () => {
      expect(s3('GET', '/results/runs/r1/manifest.json')).toEqual([
        { action: 's3:GetObject', resource: 'arn:aws:s3:::results/runs/r1/manifest.json' },
      ]);
      expect(s3('HEAD', '/results/a%3Db/c')).toEqual([
        { action: 's3:GetObject', resource: 'arn:aws:s3:::results/a=b/c' },
      ]);
      expect(s3('PUT', '/results/dead-letters/run%3Dr1/x.json')).toEqual([
        { action: 's3:PutObject', resource: 'arn:aws:s3:::results/dead-letters/run=r1/x.json' },
      ]);
      expect(s3('DELETE', '/results/x')).toEqual([{ action: 's3:DeleteObject', resource: 'arn:aws:s3:::results/x' }]);
    });

    it('authorizes a listing as s3:ListBucket on the bucket, with its prefix as s3:prefix', () => {
      expect(s3('GET', '/results?list-type=2&prefix=runs%2Fr1%2F')).toEqual([
        { action: 's3:ListBucket', resource: 'arn:aws:s3:::results', context: { 's3:prefix': 'runs/r1/' } },
      ]);
    });

    it('gives a conditional PUT its If-None-Match as the condition key s3:if-none-match', () => {
      expect(s3('PUT', '/results/once/job/r1/s1/7', { 'if-none-match': '*' })).toEqual([
        {
          action: 's3:PutObject',
          resource: 'arn:aws:s3:::results/once/job/r1/s1/7',
          context: { 's3:if-none-match': '*' },
        },
      ]);
      expect(s3('PUT', '/results/once/job/r1/s1/7')[0].context).toBeUndefined();
    });

    it('gives a compare-and-swap PUT its If-Match as the condition key s3:if-match', () => {
      expect(s3('PUT', '/results/streams/retiring.json', { 'if-match': '"9b2cf535f27731c974343645a3985328"' })).toEqual(
        [
          {
            action: 's3:PutObject',
            resource: 'arn:aws:s3:::results/streams/retiring.json',
            context: { 's3:if-match': '"9b2cf535f27731c974343645a3985328"' },
          },
        ],
      );
    });

    it('authorizes a copy as a put of the target and a get of the source', () => {
      expect(s3('PUT', '/results/b', { 'x-amz-copy-source': '/spill/a%3D1' })).toEqual([
        { action: 's3:PutObject', resource: 'arn:aws:s3:::results/b' },
        { action: 's3:GetObject', resource: 'arn:aws:s3:::spill/a=1' },
      ]);
    });

    it('authorizes a multi-object delete key by key, and multipart uploads as puts', () => {
      expect(s3('POST', '/results?delete', {}, ['a', 'b']).map((r) => r.resource)).toEqual([
        'arn:aws:s3:::results/a',
        'arn:aws:s3:::results/b',
      ]);
      expect(s3('PUT', '/results/big?partNumber=1&uploadId=u')[0].action).toBe('s3:PutObject');
      expect(s3('DELETE', '/results/big?uploadId=u')[0].action).toBe('s3:AbortMultipartUpload');
    });

    it('authorizes bucket calls on the bucket', () => {
      expect(s3('PUT', '/results')[0]).toEqual({ action: 's3:CreateBucket', resource: 'arn:aws:s3:::results' });
      expect(s3('GET', '/results?location')[0].action).toBe('s3:GetBucketLocation');
      expect(s3('GET', '/')[0]).toEqual({ action: 's3:ListAllMyBuckets', resource: '*' });
    });
  });

  describe('Kinesis and Firehose (JSON APIs)', () => {
    it('names the stream by name or ARN', () => {
      expect(jsonApiRequest('kinesis', 'Kinesis_20131202.PutRecords', { StreamName: 'records' }, scope)).toEqual({
        action: 'kinesis:PutRecords',
        resource: 'arn:aws:kinesis:us-east-1:000000000000:stream/records',
      });
      const arn = 'arn:aws:kinesis:us-east-1:000000000000:stream/results';
      expect(jsonApiRequest('kinesis', 'Kinesis_20131202.PutRecords', { StreamARN: arn }, scope).resource).toBe(arn);
      expect(
        jsonApiRequest('firehose', 'Firehose_20150804.PutRecordBatch', { DeliveryStreamName: 'delivery' }, scope),
      ).toEqual({
        action: 'firehose:PutRecordBatch',
        resource: 'arn:aws:firehose:us-east-1:000000000000:deliverystream/delivery',
      });
    });

    it('checks a call that names no stream against every stream', () => {
      expect(jsonApiRequest('kinesis', 'Kinesis_20131202.GetRecords', { ShardIterator: 'x' }, scope).resource).toBe(
        'arn:aws:kinesis:us-east-1:000000000000:stream/*',
      );
    });
  });
});

describe('lambdaMappingRequest', () => {
  const fn = 'arn:aws:lambda:us-east-1:000000000000:function:processor';
  const functionOf = async (uuid: string) => (uuid === 'u-1' ? fn : undefined);
  const request = (method: string, url: string, body: Record<string, unknown> = {}) =>
    lambdaMappingRequest(method, url, body, scope, functionOf);

  it('authorizes CreateEventSourceMapping on * with the function in lambda:FunctionArn', async () => {
    expect(await request('POST', '/2015-03-31/event-source-mappings/', { FunctionName: 'processor' })).toEqual({
      action: 'lambda:CreateEventSourceMapping',
      resource: '*',
      context: { 'lambda:FunctionArn': fn },
    });
  });

  it('authorizes ListEventSourceMappings on *', async () => {
    expect(await request('GET', '/2015-03-31/event-source-mappings/?FunctionName=processor')).toEqual({
      action: 'lambda:ListEventSourceMappings',
      resource: '*',
    });
  });

  it("authorizes Get and DeleteEventSourceMapping on the mapping's ARN with its function", async () => {
    const arn = 'arn:aws:lambda:us-east-1:000000000000:event-source-mapping:u-1';
    expect(await request('GET', '/2015-03-31/event-source-mappings/u-1')).toEqual({
      action: 'lambda:GetEventSourceMapping',
      resource: arn,
      context: { 'lambda:FunctionArn': fn },
    });
    expect(await request('DELETE', '/2015-03-31/event-source-mappings/u-1')).toMatchObject({
      action: 'lambda:DeleteEventSourceMapping',
      resource: arn,
    });
  });

  it('leaves Invoke to the service', async () => {
    expect(await request('POST', '/2015-03-31/functions/reader/invocations')).toBeUndefined();
  });
});
