// Runs s3rver in its own process for the tests. Node 20's OpenSSL 3 lacks the DES cipher s3rver uses
// for ListObjectsV2 continuation tokens (jamhall/s3rver#818): every truncated listing fails with a 500
// unless node runs with --openssl-legacy-provider, which only a new process can be given.
'use strict';
const S3rver = require('s3rver');

const directory = process.argv[2];
const server = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory });
server.run().then(
  ({ port }) => process.send({ port }),
  (error) => {
    console.error(error);
    process.exit(1);
  },
);
// The test process going away, however it goes, stops the server.
process.on('disconnect', () => {
  server.close().finally(() => process.exit(0));
});
