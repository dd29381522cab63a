import type { IamRequest } from './policy';

/**
 * What IAM authorizes for one HTTP request to S3, Kinesis or Firehose: the action(s) and the
 * resource ARN(s), as the service documents them ("Actions, resources, and condition keys").
 */

export interface ServiceScope {
  partition: string;
  region: string;
  accountId: string;
}

const headerOf = (headers: Record<string, string | string[] | undefined>, name: string): string | undefined => {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
};

/**
 * The access key id a request is signed with (SigV4 Authorization header or presigned query), or
 * undefined for an unsigned request.
 */
export function accessKeyIdOf(url: string, headers: Record<string, string | string[] | undefined>): string | undefined {
  const header = /Credential=([^/,\s]+)\//.exec(headerOf(headers, 'authorization') ?? '');
  if (header) return header[1];
  const query = new URL(url, 'http://local').searchParams.get('X-Amz-Credential');
  return query ? query.split('/')[0] : undefined;
}

/** Sub-resources of a bucket request and the action each is authorized as (GET / PUT). */
const BUCKET_SUBRESOURCES: Record<string, { GET?: string; PUT?: string; DELETE?: string }> = {
  location: { GET: 's3:GetBucketLocation' },
  versioning: { GET: 's3:GetBucketVersioning', PUT: 's3:PutBucketVersioning' },
  policy: { GET: 's3:GetBucketPolicy', PUT: 's3:PutBucketPolicy', DELETE: 's3:DeleteBucketPolicy' },
  tagging: { GET: 's3:GetBucketTagging', PUT: 's3:PutBucketTagging', DELETE: 's3:PutBucketTagging' },
  cors: { GET: 's3:GetBucketCORS', PUT: 's3:PutBucketCORS', DELETE: 's3:PutBucketCORS' },
  lifecycle: { GET: 's3:GetLifecycleConfiguration', PUT: 's3:PutLifecycleConfiguration' },
  notification: { GET: 's3:GetBucketNotification', PUT: 's3:PutBucketNotification' },
  acl: { GET: 's3:GetBucketAcl', PUT: 's3:PutBucketAcl' },
  uploads: { GET: 's3:ListBucketMultipartUploads' },
  versions: { GET: 's3:ListBucketVersions' },
  website: { GET: 's3:GetBucketWebsite', PUT: 's3:PutBucketWebsite', DELETE: 's3:DeleteBucketWebsite' },
};

/**
 * An S3 request in path style (`/<bucket>/<key>?…`), as the embedded stack's clients send it.
 * `keysOfDelete` gives the keys of a DeleteObjects body (POST ?delete), each authorized as s3:DeleteObject.
 */
export function s3Requests(
  method: string,
  url: string,
  headers: Record<string, string | string[] | undefined>,
  scope: ServiceScope,
  keysOfDelete: () => string[] = () => [],
): IamRequest[] {
  const parsed = new URL(url, 'http://local');
  const [, rawBucket = '', ...rest] = parsed.pathname.split('/');
  const bucket = decodeURIComponent(rawBucket);
  const key = rest.map(decodeURIComponent).join('/');
  const query = parsed.searchParams;
  const arn = (resource: string) => `arn:${scope.partition}:s3:::${resource}`;
  const verb = method.toUpperCase();
  if (!bucket) return [{ action: 's3:ListAllMyBuckets', resource: '*' }];
  if (!key) {
    const bucketArn = arn(bucket);
    if (verb === 'POST' && query.has('delete'))
      return keysOfDelete().map((k) => ({ action: 's3:DeleteObject', resource: `${bucketArn}/${k}` }));
    for (const [name, actions] of Object.entries(BUCKET_SUBRESOURCES))
      if (query.has(name)) {
        const action = actions[verb as 'GET' | 'PUT' | 'DELETE'];
        if (action) return [{ action, resource: bucketArn }];
      }
    if (verb === 'PUT') return [{ action: 's3:CreateBucket', resource: bucketArn }];
    if (verb === 'DELETE') return [{ action: 's3:DeleteBucket', resource: bucketArn }];
    // ListObjects(V2) and HeadBucket are authorized as s3:ListBucket.
    const context: IamRequest['context'] = {};
    if (query.has('prefix')) context['s3:prefix'] = query.get('prefix') ?? '';
    if (query.has('delimiter')) context['s3:delimiter'] = query.get('delimiter') ?? '';
    if (query.has('max-keys')) context['s3:max-keys'] = query.get('max-keys') ?? '';
    return [{ action: 's3:ListBucket', resource: bucketArn, context }];
  }
  const objectArn = arn(`${bucket}/${key}`);
  const versioned = query.has('versionId');
  if (query.has('tagging')) {
    const action = { GET: 's3:GetObjectTagging', PUT: 's3:PutObjectTagging', DELETE: 's3:DeleteObjectTagging' }[verb];
    return [{ action: action ?? 's3:GetObjectTagging', resource: objectArn }];
  }
  if (query.has('acl'))
    return [{ action: verb === 'PUT' ? 's3:PutObjectAcl' : 's3:GetObjectAcl', resource: objectArn }];
  if (query.has('uploadId')) {
    if (verb === 'DELETE') return [{ action: 's3:AbortMultipartUpload', resource: objectArn }];
    if (verb === 'GET') return [{ action: 's3:ListMultipartUploadParts', resource: objectArn }];
    return [{ action: 's3:PutObject', resource: objectArn }];
  }
  switch (verb) {
    case 'GET':
    case 'HEAD':
      return [{ action: versioned ? 's3:GetObjectVersion' : 's3:GetObject', resource: objectArn }];
    case 'PUT':
    case 'POST': {
      const copySource = headerOf(headers, 'x-amz-copy-source');
      // A conditional write carries its header as a condition key, so a policy can allow only those.
      const conditions = Object.fromEntries(
        (['if-none-match', 'if-match'] as const).flatMap((header) => {
          const value = headerOf(headers, header);
          return value === undefined ? [] : [[`s3:${header}`, value]];
        }),
      );
      const put: IamRequest = {
        action: 's3:PutObject',
        resource: objectArn,
        ...(Object.keys(conditions).length === 0 ? {} : { context: conditions }),
      };
      if (!copySource) return [put];
      const source = decodeURIComponent(copySource.replace(/^\//, '').split('?')[0]);
      return [put, { action: 's3:GetObject', resource: arn(source) }];
    }
    case 'DELETE':
      return [{ action: versioned ? 's3:DeleteObjectVersion' : 's3:DeleteObject', resource: objectArn }];
    default:
      return [{ action: `s3:${verb}`, resource: objectArn }];
  }
}

/**
 * A Kinesis or Firehose JSON API call (`X-Amz-Target: <Service_Version>.<Operation>`): the action is
 * the operation, the resource the stream named by ARN or by name.
 */
export function jsonApiRequest(
  service: 'kinesis' | 'firehose',
  target: string | undefined,
  body: Record<string, unknown>,
  scope: ServiceScope,
): IamRequest {
  const operation = (target ?? '').split('.').pop() || 'Unknown';
  const action = `${service}:${operation}`;
  const base = `arn:${scope.partition}:${service}:${scope.region}:${scope.accountId}`;
  if (service === 'firehose') {
    const name = body.DeliveryStreamName;
    return { action, resource: typeof name === 'string' ? `${base}:deliverystream/${name}` : '*' };
  }
  if (typeof body.StreamARN === 'string') return { action, resource: body.StreamARN };
  if (typeof body.StreamName === 'string') return { action, resource: `${base}:stream/${body.StreamName}` };
  if (typeof body.ConsumerARN === 'string') return { action, resource: body.ConsumerARN };
  // ListStreams and calls that name no stream (GetRecords by shard iterator) are checked on every stream.
  return { action, resource: `${base}:stream/*` };
}

const MAPPINGS_PATH = /^\/2015-03-31\/event-source-mappings\/?([^/]*)$/;

/**
 * A Lambda event source mapping call (REST, /2015-03-31/event-source-mappings/), as the Service
 * Authorization Reference lists it: CreateEventSourceMapping and ListEventSourceMappings on `*`
 * (Create with the `lambda:FunctionArn` condition key), Get/Update/DeleteEventSourceMapping on the
 * mapping's ARN with `lambda:FunctionArn` (`functionOf` gives the function of an existing mapping).
 * Undefined for any other Lambda call: those are not checked here.
 */
export async function lambdaMappingRequest(
  method: string,
  url: string,
  body: Record<string, unknown>,
  scope: ServiceScope,
  functionOf: (uuid: string) => Promise<string | undefined>,
): Promise<IamRequest | undefined> {
  const match = MAPPINGS_PATH.exec(new URL(url, 'http://local').pathname);
  if (!match) return undefined;
  const uuid = decodeURIComponent(match[1]);
  const base = `arn:${scope.partition}:lambda:${scope.region}:${scope.accountId}`;
  const functionArn = (name: string) => (name.startsWith('arn:') ? name : `${base}:function:${name}`);
  const verb = method.toUpperCase();
  if (!uuid) {
    if (verb === 'POST') {
      const name = typeof body.FunctionName === 'string' ? body.FunctionName : '';
      return {
        action: 'lambda:CreateEventSourceMapping',
        resource: '*',
        context: { 'lambda:FunctionArn': functionArn(name) },
      };
    }
    return { action: 'lambda:ListEventSourceMappings', resource: '*' };
  }
  const action =
    verb === 'DELETE'
      ? 'lambda:DeleteEventSourceMapping'
      : verb === 'PUT'
        ? 'lambda:UpdateEventSourceMapping'
        : 'lambda:GetEventSourceMapping';
  const fn = await functionOf(uuid);
  return {
    action,
    resource: `${base}:event-source-mapping:${uuid}`,
    context: fn ? { 'lambda:FunctionArn': fn } : {},
  };
}
