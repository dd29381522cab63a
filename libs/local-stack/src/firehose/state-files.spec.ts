import { appendFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FirehoseStateFiles, StateFileError } from './state-files';

describe('FirehoseStateFiles', () => {
  let dir: string;
  let files: FirehoseStateFiles;

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'firehose-state-'));
    files = new FirehoseStateFiles(join(dir, 'nested', 'state.json'));
  });

  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('reads nothing before anything was written', async () => {
    expect(await files.loadStreams()).toEqual([]);
    expect(await files.loadJournal()).toEqual([]);
  });

  it('keeps the journal next to the state file', () => {
    expect(files.journalFile).toBe(join(dir, 'nested', 'state.json.buffers.ndjson'));
  });

  it('reads back appended journal entries in order', async () => {
    await files.append([{ s: 's', k: 'data', a: 1, d: 'YQ==' }]);
    await files.append([{ s: 's', k: 'data', a: 2, d: 'Yg==' }]);

    expect((await files.loadJournal()).map((entry) => entry.a)).toEqual([1, 2]);
  });

  it('skips a torn last line left by a process killed mid-append', async () => {
    await files.append([{ s: 's', k: 'data', a: 1, d: 'YQ==' }]);
    await appendFile(files.journalFile, '{"s":"s","k":"da');

    expect(await files.loadJournal()).toEqual([{ s: 's', k: 'data', a: 1, d: 'YQ==' }]);
  });

  it('replaces the journal on rewrite', async () => {
    await files.append([{ s: 's', k: 'data', a: 1, d: 'YQ==' }]);

    await files.rewrite([]);

    expect(await files.loadJournal()).toEqual([]);
  });

  it('refuses a state file that is not JSON, saying what to do', async () => {
    await files.saveStreams([]);
    await writeFile(files.stateFile, '{oops');

    await expect(files.loadStreams()).rejects.toThrow(StateFileError);
    await expect(files.loadStreams()).rejects.toThrow(/fix or delete it/);
  });
});
