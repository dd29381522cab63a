import { randomUUID } from 'node:crypto';
import { Agent, createServer, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { LocalServer } from '../servers';
import { accessDeniedMessage, evaluate, type Decision, type IamRequest, type PolicyDocument } from './policy';
import { type CallMeter, putRecordSizes } from './meter';
import { accessKeyIdOf, jsonApiRequest, lambdaMappingRequest, s3Requests, type ServiceScope } from './requests';

/** Who a function is to the embedded stack: the principal AWS would name and its role's policies. */
export interface LocalIdentity {
  /** As AWS names the caller in AccessDenied messages (`arn:aws:sts::…:assumed-role/<role>/<function>`). */
  principal: string;
  policies: PolicyDocument[];
}

/** A call the gateway refused, for tests and the run's report. */
export interface DeniedCall {
  accessKeyId: string;
  principal: string;
  action: string;
  resource: string;
  message: string;
}

export interface IamGatewayOptions {
  service: 's3' | 'kinesis' | 'firehose' | 'lambda';
  /** The server the gateway stands in front of. */
  upstream: string;
  scope: ServiceScope;
  /**
   * The identities checked, by access key id. A request signed with any other key (the operator's
   * "admin" credentials) passes unchecked: operator actions are not a function's calls.
   */
  identities: () => ReadonlyMap<string, LocalIdentity>;
  /** Counts every allowed call of a checked identity (by principal and action) and the records of every put. */
  meter?: CallMeter;
}

export interface IamGateway extends LocalServer {
  /** Every call refused so far. */
  denied(): DeniedCall[];
}

const S3_HEAD_NOT_FOUND = 404;

/**
 * An IAM gateway in front of one embedded server: it identifies the caller by the access key id the
 * request is signed with, turns the request into IAM action(s) and resource ARN(s), evaluates the
 * caller's role policies and forwards the request unchanged — or answers AccessDenied as the service
 * does (S3: 403 `AccessDenied`; Kinesis and Firehose: 400 `AccessDeniedException`). Signatures stay
 * valid: the request, its Host header included, reaches the server as it was signed.
 *
 * S3 answers a GET or HEAD of a missing object with 403, not 404, when the caller may not list the
 * bucket: the gateway does the same.
 */
export async function startIamGateway(options: IamGatewayOptions): Promise<IamGateway> {
  const upstream = new URL(options.upstream);
  const agent = new Agent({ keepAlive: true });
  const denied: DeniedCall[] = [];

  const forward = (
    req: IncomingMessage,
    res: ServerResponse,
    body?: Buffer,
    onStatus?: (status: number) => boolean,
  ) => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
        agent,
      },
      (reply) => {
        if (onStatus && !onStatus(reply.statusCode ?? 500)) {
          reply.resume();
          return;
        }
        res.writeHead(reply.statusCode ?? 500, reply.headers);
        reply.pipe(res);
      },
    );
    out.on('error', (error) => {
      if (!res.headersSent) res.writeHead(502, { 'content-type': 'text/plain' });
      res.end(`the IAM gateway could not reach ${options.upstream}: ${error.message}`);
    });
    if (body) out.end(body);
    else req.pipe(out);
  };

  const refuse = (res: ServerResponse, method: string | undefined, call: DeniedCall) => {
    denied.push(call);
    const requestId = randomUUID();
    if (options.service === 's3') {
      const xml =
        '<?xml version="1.0" encoding="UTF-8"?>\n' +
        `<Error><Code>AccessDenied</Code><Message>${escapeXml(call.message)}</Message><RequestId>${requestId}</RequestId><HostId>${requestId}</HostId></Error>`;
      res.writeHead(403, { 'content-type': 'application/xml', 'x-amz-request-id': requestId });
      // A HEAD response has no body: the SDK sees only the status, as with real S3.
      res.end(method === 'HEAD' ? undefined : xml);
      return;
    }
    // Lambda's REST API answers AccessDeniedException with 403; the JSON APIs with 400.
    res.writeHead(options.service === 'lambda' ? 403 : 400, {
      'content-type': 'application/x-amz-json-1.1',
      'x-amzn-requestid': requestId,
      'x-amzn-errortype': 'AccessDeniedException:',
    });
    res.end(JSON.stringify({ __type: 'AccessDeniedException', message: call.message }));
  };

  const check = (accessKeyId: string, identity: LocalIdentity, request: IamRequest): DeniedCall | undefined => {
    const decision: Decision = evaluate(identity.policies, request);
    if (decision.allowed) return undefined;
    return {
      accessKeyId,
      principal: identity.principal,
      action: request.action,
      resource: request.resource,
      message: accessDeniedMessage(identity.principal, request, decision),
    };
  };

  const server = createServer((req, res) => {
    const accessKeyId = accessKeyIdOf(req.url ?? '/', req.headers);
    const identity = accessKeyId === undefined ? undefined : options.identities().get(accessKeyId);
    if (!identity || accessKeyId === undefined) return forward(req, res);
    const context = { 'aws:SecureTransport': 'true', 'aws:PrincipalAccount': options.scope.accountId };
    const withContext = (r: IamRequest): IamRequest => ({ ...r, context: { ...context, ...r.context } });

    if (options.service === 's3') {
      const url = req.url ?? '/';
      const buffered = req.method === 'POST' && new URL(url, 'http://local').searchParams.has('delete');
      const decide = (body?: Buffer) => {
        const keys = () => [...(body?.toString('utf8') ?? '').matchAll(/<Key>([^<]*)<\/Key>/g)].map((m) => m[1]);
        const requests = s3Requests(req.method ?? 'GET', url, req.headers, options.scope, keys).map(withContext);
        for (const request of requests) {
          const refusal = check(accessKeyId, identity, request);
          if (refusal) {
            req.resume();
            return refuse(res, req.method, refusal);
          }
        }
        const [first] = requests;
        // One HTTP request is one billed S3 request, whatever it is authorized as.
        if (first) options.meter?.count(identity.principal, first.action, first.resource);
        const readsObject = first?.action === 's3:GetObject' || first?.action === 's3:GetObjectVersion';
        if (!readsObject) return forward(req, res, body);
        const bucketArn = first.resource.slice(0, first.resource.indexOf('/'));
        const listing = check(accessKeyId, identity, withContext({ action: 's3:ListBucket', resource: bucketArn }));
        forward(req, res, body, (status) => {
          if (status !== S3_HEAD_NOT_FOUND || !listing) return true;
          refuse(res, req.method, { ...listing, ...notFoundDenied(first, listing) });
          return false;
        });
      };
      if (!buffered) return decide();
      return collect(req).then(decide, () => res.destroy());
    }

    if (options.service === 'lambda') {
      collect(req).then(
        async (body) => {
          let parsed: Record<string, unknown> = {};
          try {
            parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
          } catch {
            // Not JSON: the service answers it.
          }
          const request = await lambdaMappingRequest(
            req.method ?? 'GET',
            req.url ?? '/',
            parsed,
            options.scope,
            (uuid) => mappingFunction(upstream, agent, uuid),
          );
          // Only the event source mapping API is checked; Invoke passes as before.
          if (!request) return forward(req, res, body);
          const refusal = check(accessKeyId, identity, withContext(request));
          if (refusal) return refuse(res, req.method, refusal);
          options.meter?.count(identity.principal, request.action, request.resource);
          forward(req, res, body);
        },
        () => res.destroy(),
      );
      return;
    }

    collect(req).then(
      (body) => {
        let parsed: Record<string, unknown> = {};
        try {
          parsed = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {};
        } catch {
          // Not JSON: the server answers it as it would any malformed request.
        }
        const target = req.headers['x-amz-target'];
        const request = withContext(
          jsonApiRequest(
            options.service as 'kinesis' | 'firehose',
            Array.isArray(target) ? target[0] : target,
            parsed,
            options.scope,
          ),
        );
        const refusal = check(accessKeyId, identity, request);
        if (refusal) return refuse(res, req.method, refusal);
        if (options.meter) {
          options.meter.count(identity.principal, request.action, request.resource);
          const sizes = putRecordSizes(request.action, parsed);
          if (sizes) options.meter.put(request.action, sizes);
        }
        forward(req, res, body);
      },
      () => res.destroy(),
    );
  });

  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    denied: () => [...denied],
    close: () =>
      new Promise<void>((resolve) => {
        agent.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The function ARN of an existing mapping, asked of the service itself (GetEventSourceMapping, unsigned). */
function mappingFunction(upstream: URL, agent: Agent, uuid: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const out = httpRequest(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: 'GET',
        path: `/2015-03-31/event-source-mappings/${encodeURIComponent(uuid)}`,
        agent,
      },
      (reply) => {
        collect(reply).then(
          (body) => {
            try {
              resolve(reply.statusCode === 200 ? (JSON.parse(body.toString('utf8')).FunctionArn as string) : undefined);
            } catch {
              resolve(undefined);
            }
          },
          () => resolve(undefined),
        );
      },
    );
    out.on('error', () => resolve(undefined));
    out.end();
  });
}

/** A missing object read without s3:ListBucket: AWS answers AccessDenied naming the GetObject. */
function notFoundDenied(read: IamRequest, listing: DeniedCall): Partial<DeniedCall> {
  return {
    action: read.action,
    resource: read.resource,
    message: `${listing.message} (the object does not exist, and without s3:ListBucket S3 answers 403 instead of 404)`,
  };
}

function collect(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
