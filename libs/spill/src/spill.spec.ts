import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { S3Client } from '@aws-sdk/client-s3';
import { decodeEnvelope, encodeEnvelope, type DataEnvelope } from '@pipeline/records';
import { LOCAL_S3_CREDENTIALS, startLocalS3, type LocalServer } from '@pipeline/local-stack';
import { s3ObjectStore, type ObjectStore } from '@pipeline/object-store';
import { PointerError, sha256Hex, Spill } from './index';

const BUCKET = 'spill-bucket';
const OTHER_BUCKET = 'other-bucket';

function dataEnvelope(bodySize: number, pos = 0): DataEnvelope {
  return { v: 1, kind: 'data', id: { run: 'run-1', slice: 's000000', pos }, body: { text: 'x'.repeat(bodySize) } };
}

/** The body size that makes the encoded envelope exactly `bytes` long. */
function bodySizeFor(bytes: number): number {
  return bytes - encodeEnvelope(dataEnvelope(0)).byteLength;
}

describe('Spill (claim check) against a local S3 server', () => {
  let dir: string;
  let s3server: LocalServer;
  let store: ObjectStore;
  const threshold = 1024;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'spill-'));
    s3server = await startLocalS3({ directory: dir, buckets: [BUCKET, OTHER_BUCKET] });
    store = s3ObjectStore(
      new S3Client({
        endpoint: s3server.endpoint,
        region: 'us-east-1',
        forcePathStyle: true,
        credentials: LOCAL_S3_CREDENTIALS,
      }),
    );
  });
  afterAll(async () => {
    await s3server.close();
    await rm(dir, { recursive: true, force: true });
  });

  const spill = () => new Spill({ store, bucket: BUCKET, prefix: 'spill/', thresholdBytes: threshold });

  it('keeps an envelope exactly at the threshold inline', async () => {
    const envelope = dataEnvelope(bodySizeFor(threshold));
    const bytes = await spill().stage(envelope);
    expect(bytes.byteLength).toBe(threshold);
    expect(decodeEnvelope(bytes)).toEqual(envelope);
  });

  it('spills an envelope one byte over the threshold and resolves its pointer to the original', async () => {
    const s = spill();
    const envelope = dataEnvelope(bodySizeFor(threshold + 1), 1);
    const staged = decodeEnvelope(await s.stage(envelope));
    expect(staged).toMatchObject({
      kind: 'pointer',
      of: 'data',
      id: envelope.id,
      pointer: { bucket: BUCKET, size: threshold + 1 },
    });
    expect(s.spilled).toBe(1);
    expect(await s.resolve(staged)).toEqual(envelope);
  });

  it('stages into the scratch buffer at the threshold, and spills a copy over it, whatever is encoded meanwhile', async () => {
    const s = spill();
    const inline = dataEnvelope(bodySizeFor(threshold), 3);
    const bytes = s.stageScratch(inline);
    expect(bytes).not.toBeInstanceOf(Promise);
    expect(Buffer.from(bytes as Uint8Array).toString()).toBe(JSON.stringify(inline));
    const large = dataEnvelope(bodySizeFor(threshold + 1), 4);
    const pending = s.stageScratch(large);
    expect(pending).toBeInstanceOf(Promise);
    // Reuses the scratch buffer while the spilled object is still being put.
    s.stageScratch(dataEnvelope(bodySizeFor(threshold), 5));
    expect(await s.resolve(decodeEnvelope(await pending))).toEqual(large);
  });

  it('writes a deterministic key, so staging the same record twice overwrites one object', async () => {
    const envelope = dataEnvelope(5000, 2);
    const first = decodeEnvelope(await spill().stage(envelope));
    const second = decodeEnvelope(await spill().stage(envelope));
    expect(first).toEqual(second);
  });

  it('rejects a pointer to another bucket without reading it', async () => {
    const bytes = encodeEnvelope(dataEnvelope(10, 3));
    await store.put(OTHER_BUCKET, 'spill/run-1/s000000/3.data.json', bytes);
    const pointer = {
      bucket: OTHER_BUCKET,
      key: 'spill/run-1/s000000/3.data.json',
      size: bytes.byteLength,
      sha256: sha256Hex(bytes),
    };
    await expect(
      spill().resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0, 3).id, of: 'data', pointer }),
    ).rejects.toMatchObject({
      name: 'PointerError',
      reason: 'pointer-rejected',
    });
  });

  it('rejects a pointer outside the spill prefix, including one that climbs out with ..', async () => {
    const pointer = { bucket: BUCKET, key: 'spill/../results/x.json', size: 1, sha256: 'a'.repeat(64) };
    await expect(
      spill().resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0).id, of: 'data', pointer }),
    ).rejects.toMatchObject({
      reason: 'pointer-rejected',
    });
    await expect(
      spill().resolve({
        v: 1,
        kind: 'pointer',
        id: dataEnvelope(0).id,
        of: 'data',
        pointer: { ...pointer, key: 'elsewhere/x.json' },
      }),
    ).rejects.toMatchObject({ reason: 'pointer-rejected' });
  });

  it('reports a spilled object whose digest does not match as pointer-mismatch', async () => {
    const s = spill();
    const staged = decodeEnvelope(await s.stage(dataEnvelope(5000, 4)));
    if (staged.kind !== 'pointer') throw new Error('expected a pointer');
    const original = (await store.get(BUCKET, staged.pointer.key))!;
    const tampered = Uint8Array.from(original);
    tampered[tampered.length - 3] ^= 1;
    await store.put(BUCKET, staged.pointer.key, tampered);
    await expect(s.resolve(staged)).rejects.toThrow(/sha256/);
    await expect(s.resolve(staged)).rejects.toMatchObject({ reason: 'pointer-mismatch' });
  });

  it('reports a spilled object of the wrong size as pointer-mismatch', async () => {
    const s = spill();
    const staged = decodeEnvelope(await s.stage(dataEnvelope(5000, 5)));
    if (staged.kind !== 'pointer') throw new Error('expected a pointer');
    await expect(
      s.resolve({ ...staged, pointer: { ...staged.pointer, size: staged.pointer.size - 1 } }),
    ).rejects.toThrow(/bytes, its pointer says/);
  });

  it('reports a pointer whose object is gone as pointer-missing', async () => {
    const pointer = { bucket: BUCKET, key: 'spill/run-1/s000000/999.data.json', size: 10, sha256: 'b'.repeat(64) };
    await expect(
      spill().resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0, 999).id, of: 'data', pointer }),
    ).rejects.toBeInstanceOf(PointerError);
    await expect(
      spill().resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0, 999).id, of: 'data', pointer }),
    ).rejects.toMatchObject({
      reason: 'pointer-missing',
    });
  });

  it('refuses a pointer whose object holds another record', async () => {
    const s = spill();
    const staged = decodeEnvelope(await s.stage(dataEnvelope(5000, 6)));
    if (staged.kind !== 'pointer') throw new Error('expected a pointer');
    await expect(s.resolve({ ...staged, id: { ...staged.id!, pos: 7 } })).rejects.toMatchObject({
      reason: 'pointer-mismatch',
    });
  });

  it('checks a large object behind a pointer claiming a few bytes by its size, without reading its body', async () => {
    const key = 'spill/run-1/s000000/10.data.json';
    const large = new Uint8Array(2 * 1024 * 1024).fill(0x20);
    await store.put(BUCKET, key, large);
    const bounded: number[] = [];
    // A store that refuses whole downloads: resolving must go through the bounded read only.
    const guarded: ObjectStore = {
      ...store,
      get: () => Promise.reject(new Error('a pointer must not be downloaded whole')),
      getAtMost: (bucket, k, maxBytes) => {
        bounded.push(maxBytes);
        return store.getAtMost(bucket, k, maxBytes);
      },
    };
    const pointer = { bucket: BUCKET, key, size: 100, sha256: 'a'.repeat(64) };
    const resolving = new Spill({
      store: guarded,
      bucket: BUCKET,
      prefix: 'spill/',
      thresholdBytes: threshold,
    }).resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0, 10).id, of: 'data', pointer });
    await expect(resolving).rejects.toMatchObject({ reason: 'pointer-mismatch' });
    await expect(resolving).rejects.toThrow(`is ${large.byteLength} bytes, its pointer says 100`);
    expect(bounded).toEqual([100]);
  });

  it('rejects a pointer claiming more than a spilled record may have, before any request', async () => {
    const pointer = { bucket: BUCKET, key: 'spill/run-1/s000000/11.data.json', size: 2 ** 40, sha256: 'a'.repeat(64) };
    await expect(
      spill().resolve({ v: 1, kind: 'pointer', id: dataEnvelope(0, 11).id, of: 'data', pointer }),
    ).rejects.toMatchObject({ reason: 'pointer-rejected' });
  });

  it('passes envelopes that are not pointers through unchanged', async () => {
    const envelope = dataEnvelope(3, 8);
    expect(await spill().resolve(envelope)).toBe(envelope);
  });

  it('refuses a threshold too large for a Kinesis record', () => {
    expect(() => new Spill({ store, bucket: BUCKET, thresholdBytes: 1024 * 1024 })).toThrow(/cannot go on the stream/);
  });
});
