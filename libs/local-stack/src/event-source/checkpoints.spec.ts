import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileCheckpointStore, memoryCheckpointStore } from './checkpoints';
import { CheckpointFileError } from './errors';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'checkpoints-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('memoryCheckpointStore', () => {
  it('returns what was saved', async () => {
    const store = memoryCheckpointStore();
    await store.save('shardId-000000000000', '42');

    expect(await store.load()).toEqual({ 'shardId-000000000000': '42' });
  });
});

describe('fileCheckpointStore', () => {
  it('loads nothing when the file does not exist yet', async () => {
    expect(await fileCheckpointStore(join(dir, 'none.json')).load()).toEqual({});
  });

  it('keeps checkpoints for a new store on the same file', async () => {
    const path = join(dir, 'nested', 'cp.json');
    const store = fileCheckpointStore(path);
    await store.save('shardId-000000000000', '1');
    await store.save('shardId-000000000001', '2');

    expect(await fileCheckpointStore(path).load()).toEqual({
      'shardId-000000000000': '1',
      'shardId-000000000001': '2',
    });
  });

  it('applies concurrent saves in call order and leaves no temporary file', async () => {
    const path = join(dir, 'cp.json');
    const store = fileCheckpointStore(path);

    await Promise.all(Array.from({ length: 20 }, (_, i) => store.save('shardId-000000000000', String(i))));

    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ 'shardId-000000000000': '19' });
    expect(await readdir(dir)).toEqual(['cp.json']);
  });

  it('rejects a file that is not a checkpoint map', async () => {
    const path = join(dir, 'cp.json');
    await writeFile(path, '[1,2]');

    await expect(fileCheckpointStore(path).load()).rejects.toThrow(CheckpointFileError);
  });
});
