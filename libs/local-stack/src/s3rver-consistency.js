// Makes s3rver as consistent as S3 (docs/aws-parity.md, "Amazon S3"): S3 answers a PUT only once the
// object is stored, and a GET returns the whole old object or the whole new one, never a part.
// s3rver 3 writes an object's bytes, its MD5 and its metadata in place, one after the other, and
// answers the PUT of an in-memory body before the bytes are on disk: a GET right after a PUT, or
// during one, can read a truncated body ("Unexpected end of JSON input" on a control object).
// Here every file of an object is written beside it and renamed into place once complete, the PUT
// answers after that, and a GET takes the length from the file it opened, not from the metadata.
//
// It also makes s3rver honour conditional writes as S3 does (docs/aws-parity.md): s3rver 3 ignores
// If-None-Match on PutObject and overwrites, so a put-if-absent would always "win" locally. Here
// `If-None-Match: *` answers 412 PreconditionFailed when the key exists, PUTs of one key are applied
// one at a time (of concurrent conditional PUTs exactly one writes), and any other If-None-Match
// value is refused as S3 refuses a header it does not implement (501 NotImplemented).
// `If-Match: <ETag>` writes only over the object whose ETag that is: 412 PreconditionFailed when the
// object has another ETag, 404 NoSuchKey when there is none (of concurrent PUTs that read one ETag,
// exactly one writes); `If-Match: *` is not an ETag and is refused with 501 as well.

const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');
const { Readable, Transform } = require('node:stream');
const { pipeline } = require('node:stream/promises');
const { pick, pickBy } = require('lodash');
const FilesystemStore = require('s3rver/lib/stores/filesystem');
const S3Object = require('s3rver/lib/models/object');
const S3Error = require('s3rver/lib/models/error');

let written = 0;

/** Writes `target` through a temporary file beside it, renamed into place once complete. */
async function writeWhole(target, write) {
  const temp = `${target}.${process.pid}-${written++}.partial`;
  try {
    await write(temp);
    await fs.promises.rename(temp, target);
  } catch (error) {
    await fs.promises.rm(temp, { force: true });
    throw error;
  }
}

FilesystemStore.prototype.putMetadata = async function putMetadata(bucket, key, metadata, md5) {
  const json = {
    ...pick(metadata, S3Object.ALLOWED_METADATA),
    ...pickBy(metadata, (_, name) => name.startsWith('x-amz-meta-')),
  };
  if (md5) await writeWhole(this.getResourcePath(bucket, key, 'object.md5'), (p) => fs.promises.writeFile(p, md5));
  await writeWhole(this.getResourcePath(bucket, key, 'metadata.json'), (p) =>
    fs.promises.writeFile(p, JSON.stringify(json, null, 2)),
  );
};

/** PUTs of one object, in the order they came: each waits for the one before it to be stored. */
const keyQueues = new Map();

async function oneAtATime(id, work) {
  const before = keyQueues.get(id) ?? Promise.resolve();
  let done;
  const finished = new Promise((resolve) => {
    done = resolve;
  });
  const mine = before.then(() => finished);
  keyQueues.set(id, mine);
  await before;
  try {
    return await work();
  } finally {
    done();
    if (keyQueues.get(id) === mine) keyQueues.delete(id);
  }
}

/** The request's conditional headers, when the body is a request (a PutObject); copies have none. */
function conditionsOf(object) {
  const headers = object.content && !Buffer.isBuffer(object.content) ? object.content.headers : undefined;
  return { ifNoneMatch: headers?.['if-none-match'], ifMatch: headers?.['if-match'] };
}

/** S3 compares ETags without their quotes. */
const unquoted = (etag) => etag.trim().replace(/^W\//, '').replace(/"/g, '');

/** The MD5 (s3rver's ETag) of the object as stored, or undefined when there is none. */
async function storedEtag(objectPath) {
  if (!(await exists(objectPath))) return undefined;
  try {
    return (await fs.promises.readFile(`${objectPath}.md5`, 'utf8')).trim();
  } catch (error) {
    if (error.code !== 'ENOENT') throw error;
    const md5 = crypto.createHash('md5');
    await pipeline(fs.createReadStream(objectPath), md5);
    return md5.digest('hex');
  }
}

const exists = (file) =>
  fs.promises.access(file).then(
    () => true,
    () => false,
  );

FilesystemStore.prototype.putObject = async function putObject(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  const { ifNoneMatch, ifMatch } = conditionsOf(object);
  const notImplemented = (header) =>
    new S3Error('NotImplemented', 'A header you provided implies functionality that is not implemented', {
      Header: header,
    });
  if (ifNoneMatch !== undefined && ifNoneMatch !== '*') throw notImplemented('If-None-Match');
  if (ifMatch !== undefined && unquoted(ifMatch) === '*') throw notImplemented('If-Match');
  const preconditionFailed = (condition) =>
    new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', {
      Condition: condition,
    });
  return oneAtATime(objectPath, async () => {
    if (ifNoneMatch === '*' && (await exists(objectPath))) throw preconditionFailed('If-None-Match');
    if (ifMatch !== undefined) {
      const current = await storedEtag(objectPath);
      if (current === undefined)
        throw new S3Error('NoSuchKey', 'The specified key does not exist.', { Key: object.key });
      if (unquoted(ifMatch) !== current) throw preconditionFailed('If-Match');
    }
    return putWhole.call(this, object, objectPath);
  });
};

async function putWhole(object, objectPath) {
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const md5 = crypto.createHash('md5');
  let size = 0;
  await writeWhole(objectPath, async (temp) => {
    const body = Buffer.isBuffer(object.content) ? Readable.from([object.content]) : object.content;
    const count = new Transform({
      transform(chunk, encoding, done) {
        md5.update(chunk, encoding);
        size += chunk.length;
        done(null, chunk);
      },
    });
    await pipeline(body, count, fs.createWriteStream(temp));
    // The metadata goes first: until the rename, a GET still finds the old object (or none).
    await this.putMetadata(object.bucket, object.key, object.metadata, md5.copy().digest('hex'));
  });
  return { size, md5: md5.digest('hex') };
}

const getObject = FilesystemStore.prototype.getObject;
FilesystemStore.prototype.getObject = async function getObjectWhole(bucket, key, options) {
  const objectPath = this.getResourcePath(bucket, key, 'object');
  let handle;
  try {
    handle = await fs.promises.open(objectPath, 'r');
  } catch (error) {
    if (error.code === 'ENOENT') return null;
    throw error;
  }
  try {
    // The length of the bytes this GET will send: the file opened, whatever a PUT renames over it now.
    const { size } = await handle.stat();
    const object = await getObject.call(this, bucket, key, options);
    if (!object) return null;
    object.metadata['content-length'] = size;
    if (object.content) object.content.destroy();
    const lastByte = Math.max(0, size - 1);
    const start = options?.start ?? 0;
    const end = Math.min(options?.end ?? Number.POSITIVE_INFINITY, lastByte);
    if (start < 0 || end < start) {
      object.content = null;
      return object;
    }
    if (object.range) object.range = { start, end };
    object.content = handle.createReadStream({ start, end, autoClose: true });
    handle = undefined;
    return object;
  } finally {
    await handle?.close();
  }
};
