import { spawn } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { LocalServerError, startLocalKinesis } from '@pipeline/local-stack';
import { DataDirInUseError, LocalPipeline } from './local-pipeline';
import { tempDataDir } from './testing';

/** Resolves once `check` holds, looking again on each turn of the event loop: waits for an event, not a time. */
async function until(check: () => boolean): Promise<void> {
  for (let turns = 0; !check(); turns++) {
    if (turns > 1_000_000) throw new Error('the condition never held');
    await new Promise((resolve) => setImmediate(resolve));
  }
}

describe("the embedded stack's failures, in the project's words", () => {
  jest.setTimeout(60_000);

  it('says which server died, how, and what to do; closing it afterwards does not throw', async () => {
    const data = await tempDataDir();
    const server = await startLocalKinesis({ path: join(data.dir, 'kinesis') });
    try {
      process.kill(server.pid!, 'SIGKILL');
      await until(() => server.failure?.() !== undefined);
      const failure = server.failure!()!;
      expect(failure).toBeInstanceOf(LocalServerError);
      expect(failure.message).toMatch(
        /the local Kinesis server \(kinesalite\) \(pid \d+\) stopped unexpectedly \(killed by SIGKILL\)/,
      );
      expect(failure.message).toMatch(/Run the same command again: the run resumes/);
      await expect(server.close()).resolves.toBeUndefined(); // was: "IPC channel is already disconnected"
    } finally {
      await data.remove();
    }
  });

  it("refuses a data folder another live command uses, naming it, and takes over a dead command's", async () => {
    const data = await tempDataDir();
    // A live process that is not this one holds the folder.
    const holder = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    try {
      await writeFile(
        join(data.dir, 'in-use.json'),
        JSON.stringify({ pid: holder.pid, command: 'cli.ts run --records 600', since: '2026-11-25T13:00:00.000Z' }),
      );
      const refused = LocalPipeline.start({ dataDir: data.dir, streamsInMemory: true });
      await expect(refused).rejects.toBeInstanceOf(DataDirInUseError);
      await expect(refused).rejects.toThrow(
        `the data folder ${data.dir} is in use by another command (pid ${holder.pid}, \`cli.ts run --records 600\``,
      );
      const exited = new Promise((resolve) => holder.once('exit', resolve));
      holder.kill('SIGKILL');
      await exited;
      const pipeline = await LocalPipeline.start({ dataDir: data.dir, streamsInMemory: true });
      await pipeline.stop();
    } finally {
      holder.kill('SIGKILL');
      await data.remove();
    }
  });

  it('reports a Kinesis data folder locked by another process without LevelDB trace', async () => {
    const data = await tempDataDir();
    const path = join(data.dir, 'kinesis');
    const first = await startLocalKinesis({ path });
    const written: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((text: string) => (written.push(String(text)), true)) as typeof process.stderr.write;
    try {
      await expect(startLocalKinesis({ path })).rejects.toThrow(
        `the Kinesis data in ${path} is locked by another process (LevelDB lock): another pipeline command is using the same data folder`,
      );
      expect(written.join('')).not.toMatch(/levelup|OpenError|LOCK/);
    } finally {
      process.stderr.write = write;
      await first.close();
      await data.remove();
    }
  });
});
