import { s3ObjectSource, ObjectRangeError, type ObjectSource } from './object-source';
import { collect } from './test/data';
import { startLocalS3, type LocalS3 } from './test/local-s3';

const BUCKET = 'source-bucket';
const decoder = new TextDecoder();

async function readRange(source: ObjectSource, key: string, start: number, endInclusive: number): Promise<string> {
  const chunks = await collect(await source.getRange(BUCKET, key, start, endInclusive));
  return chunks.map((c) => decoder.decode(c, { stream: true })).join('') + decoder.decode();
}

describe('s3ObjectSource', () => {
  let s3: LocalS3;
  let source: ObjectSource;

  beforeAll(async () => {
    s3 = await startLocalS3();
    await s3.createBucket(BUCKET);
    for (const name of ['a', 'b', 'c', 'd', 'e']) await s3.put(BUCKET, `in/${name}.ndjson`, `${name}\n`.repeat(3));
    await s3.put(BUCKET, 'other/x.ndjson', 'x\n');
    await s3.put(BUCKET, 'digits.txt', '0123456789');
    source = s3ObjectSource(s3.client, { pageSize: 2 });
  });

  afterAll(() => s3.stop());

  it('lists every object under the prefix with its size, across pages', async () => {
    const listed = await collect(source.list(BUCKET, 'in/'));

    expect(listed).toEqual(['a', 'b', 'c', 'd', 'e'].map((n) => ({ bucket: BUCKET, key: `in/${n}.ndjson`, size: 6 })));
  });

  it('lists nothing under a prefix that holds nothing', async () => {
    expect(await collect(source.list(BUCKET, 'nothing/'))).toEqual([]);
  });

  it('streams exactly the bytes of the range, both ends included', async () => {
    expect(await readRange(source, 'digits.txt', 2, 5)).toBe('2345');
  });

  it('cuts a range that runs past the end at the end', async () => {
    expect(await readRange(source, 'digits.txt', 7, 100)).toBe('789');
  });

  it('yields no bytes for a range that starts at the end', async () => {
    expect(await readRange(source, 'digits.txt', 10, 20)).toBe('');
  });

  it('refuses a reversed range', async () => {
    await expect(source.getRange(BUCKET, 'digits.txt', 5, 4)).rejects.toThrow(ObjectRangeError);
  });

  it('passes on a missing object as the SDK error', async () => {
    await expect(source.getRange(BUCKET, 'missing.txt', 0, 1)).rejects.toThrow(/NoSuchKey|does not exist/);
  });
});

describe('s3ObjectSource when a range body breaks off', () => {
  /** A stand-in client (the edge case cannot be made to happen on demand against a real server). */
  function flakyClient(text: string, breaksAfter: number[]) {
    const ranges: string[] = [];
    const client = {
      async send(command: { input: { Range: string } }) {
        ranges.push(command.input.Range);
        const [from, to] = /bytes=(\d+)-(\d+)/.exec(command.input.Range)!.slice(1).map(Number);
        const bytes = Buffer.from(text).subarray(from, to + 1);
        const cut = breaksAfter.shift();
        return {
          Body: (async function* (): AsyncGenerator<Uint8Array> {
            if (cut === undefined) {
              yield bytes;
              return;
            }
            yield bytes.subarray(0, cut);
            throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
          })(),
        };
      },
    };
    return { source: s3ObjectSource(client as never), ranges };
  }

  it('asks for the rest from the first byte not yet read, and yields every byte once', async () => {
    const { source, ranges } = flakyClient('0123456789', [3, 2]);
    const chunks = await collect(await source.getRange('b', 'k', 1, 8));
    expect(Buffer.concat(chunks).toString()).toBe('12345678');
    expect(ranges).toEqual(['bytes=1-8', 'bytes=4-8', 'bytes=6-8']);
  });

  it('gives up after its bounded attempts with the error that broke the body', async () => {
    const { source } = flakyClient('0123456789', [1, 1, 1, 1]);
    await expect(collect(await source.getRange('b', 'k', 0, 9))).rejects.toThrow('aborted');
  });
});
