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
  // The functions' identities (access key id = function name) besides s3rver's own: the IAM gateway
  // in front decides what each may do; s3rver only has to know the keys.
  const { DUMMY_ACCOUNT } = require('s3rver/lib/models/account');
  for (const id of (process.env.LOCAL_S3_ACCESS_KEY_IDS || '').split(',').filter(Boolean))
    DUMMY_ACCOUNT.createKeyPair(id, 'S3RVER');
  const server = new S3rver({ address: LOOPBACK, port: 0, silent: true, directory: location, vhostBuckets: false });
  server.run().then(({ port }) => ready(port), fail);
} else {
  fail(new Error(`unknown server kind "${kind}"`));
}

// The parent going away, however it goes, stops the server at once: what it stored is on disk
// already, and a next process must be able to open the same data.
process.on('disconnect', () => process.exit(0));
