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

// The parent going away, however it goes, stops the server at once: what it stored is on disk
// already, and a next process must be able to open the same data.
process.on('disconnect', () => process.exit(0));
