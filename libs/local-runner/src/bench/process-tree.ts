import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { CLOCK_TICKS } from './machine';

/**
 * Memory and CPU of a process and everything it started (the runner, kinesalite, s3rver, a local
 * Firehose), read from /proc: the servers run in processes of their own, so the runner's own
 * figures say nothing about them.
 */

export type Role = 'runner' | 'kinesalite' | 's3rver' | 'firehose' | 'other';

export interface ProcSample {
  pid: number;
  ppid: number;
  role: Role;
  rssKiB: number;
  /** Peak RSS (VmHWM) since the process started or since its peak was last reset. */
  hwmKiB: number;
  cpuSeconds: number;
}

/** The fields after the command name of /proc/<pid>/stat (the name may hold spaces and parentheses). */
export function parseStat(stat: string): { ppid: number; cpuTicks: number } {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is state (field 3); ppid is field 4, utime 14, stime 15.
  return { ppid: Number(fields[1]), cpuTicks: Number(fields[11]) + Number(fields[12]) };
}

/** A `Vm…:` line of /proc/<pid>/status, in KiB. */
export function statusKiB(status: string, field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return match ? Number(match[1]) : 0;
}

/** What a process of the tree is, from its command line. */
export function roleOf(cmdline: string, isRoot: boolean): Role {
  if (isRoot) return 'runner';
  if (/server-process\.js\0kinesis/.test(cmdline)) return 'kinesalite';
  if (/server-process\.js\0s3/.test(cmdline)) return 's3rver';
  if (cmdline.includes('firehose-process')) return 'firehose';
  return 'other';
}

function read(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined; // the process is gone
  }
}

/** The root and its descendants, now. */
export function treeOf(root: number): ProcSample[] {
  const parents = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const stat = read(`/proc/${entry}/stat`);
    if (!stat) continue;
    const { ppid } = parseStat(stat);
    parents.set(ppid, [...(parents.get(ppid) ?? []), Number(entry)]);
  }
  const samples: ProcSample[] = [];
  const queue = [root];
  for (let pid = queue.shift(); pid !== undefined; pid = queue.shift()) {
    const [stat, status, cmdline] = [
      read(`/proc/${pid}/stat`),
      read(`/proc/${pid}/status`),
      read(`/proc/${pid}/cmdline`),
    ];
    if (!stat || !status) continue;
    const { ppid, cpuTicks } = parseStat(stat);
    samples.push({
      pid,
      ppid,
      role: roleOf(cmdline ?? '', pid === root),
      rssKiB: statusKiB(status, 'VmRSS'),
      hwmKiB: statusKiB(status, 'VmHWM'),
      cpuSeconds: cpuTicks / CLOCK_TICKS,
    });
    queue.push(...(parents.get(pid) ?? []));
  }
  return samples;
}

/** Resets a process' peak RSS to its current RSS (Linux ≥ 4.0, own processes); false if it cannot. */
export function resetPeak(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

export interface RoleStats {
  /** CPU seconds the role's processes used in the phase. */
  cpuSeconds: number;
  /** Peak RSS in the phase, MiB (VmHWM after a reset at the phase's start, else the sampled peak). */
  peakMiB: number;
}

export interface PhaseStats {
  seconds: number;
  roles: Partial<Record<Role, RoleStats>>;
  /** Highest sampled sum of the tree's RSS, MiB: every process at once. */
  treePeakMiB: number;
  /** Whether peaks were reset at the start (else they count from each process' start). */
  peaksReset: boolean;
}

/** Samples a process tree every `intervalMs`, with phases the measured process announces. */
export class TreeSampler {
  private timer?: NodeJS.Timeout;
  private phase?: {
    started: number;
    cpuAtStart: Map<number, number>;
    last: Map<number, ProcSample>;
    peakKiB: Map<number, number>;
    treePeakKiB: number;
    peaksReset: boolean;
  };

  constructor(
    private readonly root: number,
    private readonly intervalMs = 200,
  ) {}

  begin(): void {
    const tree = treeOf(this.root);
    const peaksReset = tree.every((p) => resetPeak(p.pid));
    this.phase = {
      started: Date.now(),
      cpuAtStart: new Map(tree.map((p) => [p.pid, p.cpuSeconds])),
      last: new Map(),
      peakKiB: new Map(),
      treePeakKiB: 0,
      peaksReset,
    };
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
  }

  private sample(): void {
    const phase = this.phase;
    if (!phase) return;
    const tree = treeOf(this.root);
    let sum = 0;
    for (const p of tree) {
      phase.last.set(p.pid, p);
      const peak = phase.peaksReset ? p.hwmKiB : p.rssKiB;
      phase.peakKiB.set(p.pid, Math.max(phase.peakKiB.get(p.pid) ?? 0, peak, p.rssKiB));
      sum += p.rssKiB;
    }
    phase.treePeakKiB = Math.max(phase.treePeakKiB, sum);
  }

  end(): PhaseStats {
    this.sample();
    clearInterval(this.timer);
    const phase = this.phase;
    if (!phase) throw new Error('TreeSampler.end() without begin()');
    this.phase = undefined;
    const roles: PhaseStats['roles'] = {};
    for (const [pid, p] of phase.last) {
      const role = roles[p.role] ?? { cpuSeconds: 0, peakMiB: 0 };
      roles[p.role] = role;
      role.cpuSeconds += p.cpuSeconds - (phase.cpuAtStart.get(pid) ?? 0);
      role.peakMiB += (phase.peakKiB.get(pid) ?? 0) / 1024;
    }
    return {
      seconds: (Date.now() - phase.started) / 1000,
      roles,
      treePeakMiB: phase.treePeakKiB / 1024,
      peaksReset: phase.peaksReset,
    };
  }
}
