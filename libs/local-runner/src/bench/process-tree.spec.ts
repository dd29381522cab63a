import { parseStat, roleOf, statusKiB, treeOf } from './process-tree';

describe('process tree sampling', () => {
  it('reads the parent and CPU ticks of a stat line whose command name holds spaces and parentheses', () => {
    const stat = '4242 (node (bench) x) S 4000 4242 4000 0 -1 4194304 100 0 0 0 250 50 7 3 20 0 11 0';
    expect(parseStat(stat)).toEqual({ ppid: 4000, cpuTicks: 300 });
  });

  it('reads VmRSS and VmHWM in KiB, and 0 when a field is missing', () => {
    const status = 'Name:\tnode\nVmHWM:\t  204800 kB\nVmRSS:\t  102400 kB\n';
    expect(statusKiB(status, 'VmRSS')).toBe(102400);
    expect(statusKiB(status, 'VmHWM')).toBe(204800);
    expect(statusKiB('Name:\tnode\n', 'VmRSS')).toBe(0);
  });

  it('names the embedded servers by their command line', () => {
    const cmd = (...args: string[]) => args.join('\0');
    expect(roleOf(cmd('node', '/x/server-process.js', 'kinesis', '-'), false)).toBe('kinesalite');
    expect(roleOf(cmd('node', '--openssl-legacy-provider', '/x/server-process.js', 's3', '/tmp/s3'), false)).toBe(
      's3rver',
    );
    expect(roleOf(cmd('node', '--import', 'tsx', '/x/firehose-process.ts', 'state.json'), false)).toBe('firehose');
    expect(roleOf(cmd('node', '/x/server-process.js', 'kinesis', '-'), true)).toBe('runner');
    expect(roleOf(cmd('esbuild', '--service'), false)).toBe('other');
  });

  it('finds this process as the root of its own tree, with its memory', () => {
    const [root] = treeOf(process.pid);
    expect(root).toMatchObject({ pid: process.pid, role: 'runner' });
    expect(root.rssKiB).toBeGreaterThan(0);
    expect(root.hwmKiB).toBeGreaterThanOrEqual(root.rssKiB);
  });
});
