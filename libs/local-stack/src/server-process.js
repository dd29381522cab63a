// Runs one local AWS API server in a process of its own, so that:
// - s3rver gets --openssl-legacy-provider: Node 20's OpenSSL 3 lacks the DES cipher s3rver uses for
//   ListObjectsV2 continuation tokens (jamhall/s3rver#818), so every truncated listing would fail;
// - the servers' work runs beside the pipeline's, not on its event loop.
// Usage (forked): server-process.js kinesis <path|-> | s3 <directory>

const [kind, location] = process.argv.slice(2);
const LOOPBACK = '127.0.0.1';

function ready(port) {
  process.send({ port });
}

function fail(error) {
  console.error(error);
  process.exit(1);
}

if (kind === 'kinesis') {
  const kinesalite = require('kinesalite');
  const server = kinesalite({
    path: location === '-' ? undefined : location,
    createStreamMs: 0,
    deleteStreamMs: 0,
    updateStreamMs: 0,
    shardLimit: 100,
  });
  server.on('error', fail);
  withStreamEncryption(server);
  server.listen(0, LOOPBACK, () => ready(server.address().port));
} else if (kind === 's3') {
  const S3rver = require('s3rver');
  require('./s3rver-consistency');
  // Any access key is accepted, as LocalStack does: with some services external (docs/aws-parity.md),
  // the SDK signs every request with the user's credentials, and s3rver knows only its own key.
  const AWSAccount = require('s3rver/lib/models/account');
  const registered = AWSAccount.registry.get.bind(AWSAccount.registry);
  AWSAccount.registry.get = (accessKeyId) => registered(accessKeyId) ?? AWSAccount.DUMMY_ACCOUNT;
  const server = new S3rver({ address: LOOPBACK, port: 0, silent: true, directory: location, vhostBuckets: false });
  server.run().then(({ port }) => ready(port), fail);
} else {
  fail(new Error(`unknown server kind "${kind}"`));
}

/**
 * kinesalite has no StartStreamEncryption / StopStreamEncryption, and its DescribeStream(Summary)
 * answers carry no EncryptionType. This adds them in front of its handler, as Kinesis documents
 * them (API_StartStreamEncryption): only an ACTIVE stream takes it (else ResourceInUseException),
 * a missing one is ResourceNotFoundException; the stream then describes as EncryptionType KMS with
 * its KeyId. The state is kept in this process (a persisted stream describes as unencrypted after
 * a restart, and is encrypted again by whoever opens it); records are not actually encrypted.
 */
function withStreamEncryption(server) {
  const keys = new Map();
  const [original] = server.listeners('request');
  server.removeAllListeners('request');
  const operationOf = (req) => String(req.headers['x-amz-target'] || '').split('.')[1];
  const collect = (req) =>
    new Promise((resolve) => {
      const chunks = [];
      req.on('data', (c) => chunks.push(c));
      req.on('end', () => resolve(Buffer.concat(chunks)));
    });
  const nameOf = (body) => {
    try {
      const data = JSON.parse(body.toString('utf8'));
      return (
        data.StreamName ||
        String(data.StreamARN || '')
          .split('/')
          .pop() ||
        undefined
      );
    } catch {
      return undefined;
    }
  };
  const json = (res, status, data) => {
    const body = JSON.stringify(data);
    res.writeHead(status, { 'Content-Type': 'application/x-amz-json-1.1', 'Content-Length': Buffer.byteLength(body) });
    res.end(body);
  };
  /** Asks kinesalite itself for the stream's summary, over loopback. */
  const describe = (req, name) =>
    new Promise((resolve, reject) => {
      const body = JSON.stringify({ StreamName: name });
      const headers = {
        ...req.headers,
        'x-amz-target': 'Kinesis_20131202.DescribeStreamSummary',
        'content-length': Buffer.byteLength(body),
      };
      const out = require('node:http').request(
        { host: LOOPBACK, port: server.address().port, method: 'POST', path: '/', headers },
        (reply) => {
          const chunks = [];
          reply.on('data', (c) => chunks.push(c));
          reply.on('end', () =>
            resolve({ status: reply.statusCode, body: JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') }),
          );
        },
      );
      out.on('error', reject);
      out.end(body);
    });
  server.on('request', (req, res) => {
    const operation = operationOf(req);
    if (operation === 'StartStreamEncryption' || operation === 'StopStreamEncryption') {
      collect(req).then(async (body) => {
        const name = nameOf(body);
        const found = await describe(req, name);
        if (found.status !== 200) return json(res, found.status, found.body);
        const status = found.body.StreamDescriptionSummary?.StreamStatus;
        if (status !== 'ACTIVE')
          return json(res, 400, {
            __type: 'ResourceInUseException',
            message: `Stream ${name} is ${status}, not ACTIVE`,
          });
        const data = JSON.parse(body.toString('utf8'));
        if (operation === 'StartStreamEncryption') {
          if (data.EncryptionType !== 'KMS' || !data.KeyId)
            return json(res, 400, {
              __type: 'ValidationException',
              message: 'EncryptionType must be KMS and KeyId is required',
            });
          keys.set(name, data.KeyId);
        } else keys.delete(name);
        return json(res, 200, {});
      }, fail);
      return;
    }
    if (operation === 'DeleteStream' || operation === 'DescribeStreamSummary' || operation === 'DescribeStream') {
      // Read the stream name beside kinesalite, then add EncryptionType to its answer.
      let name;
      collect(req).then((body) => {
        name = nameOf(body);
        if (operation === 'DeleteStream' && name) keys.delete(name);
      });
      if (operation !== 'DeleteStream') {
        const end = res.end.bind(res);
        const setHeader = res.setHeader.bind(res);
        res.setHeader = (header, value) =>
          String(header).toLowerCase() === 'content-length' ? res : setHeader(header, value);
        res.end = (body) => {
          let out = body;
          try {
            const data = JSON.parse(String(body));
            const described = data.StreamDescriptionSummary || data.StreamDescription;
            if (res.statusCode === 200 && described) {
              const key = keys.get(name);
              described.EncryptionType = key ? 'KMS' : 'NONE';
              if (key) described.KeyId = key;
              out = JSON.stringify(data);
            }
          } catch {
            // Not JSON (CBOR or an error page): as kinesalite answered.
          }
          if (out != null) setHeader('Content-Length', Buffer.byteLength(out));
          return end(out);
        };
      }
    }
    original.call(server, req, res);
  });
}

// The parent going away, however it goes, stops the server at once: what it stored is on disk
// already, and a next process must be able to open the same data.
process.on('disconnect', () => process.exit(0));
