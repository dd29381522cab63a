import type { IoBoundResult } from './io-bound';
import type { CompareResult } from './processor-compare';
import type { PhaseStats, Role } from './process-tree';
import type { Phase, SizeMeasures } from './size-run';

/** What the bench prints: tables, ratios against baselines of the same run, and its targets. */

export const TARGETS = {
  /** End-to-end envelopes/s over the raw put ceiling, at the largest size. */
  e2eOverCeiling: 0.25,
  /** Peak RSS at the largest size over the smallest. */
  rssGrowth: 1.1,
  /** processBatch CPU per envelope over Powertools'. */
  processBatchOverPowertools: 0.5,
  /** Records/s of an I/O-bound transform at the default concurrency over one at a time. */
  parallelOverSequential: 25,
} as const;

export type SizeOutcome =
  | { records: number; ok: true; measures: SizeMeasures; phases: Partial<Record<Phase, PhaseStats>> }
  | { records: number; ok: false; reason: string; phases: Partial<Record<Phase, PhaseStats>> };

export interface Verdict {
  name: string;
  value: string;
  target: string;
  pass: boolean | undefined;
  why?: string;
}

const n = (value: number) => Math.round(value).toLocaleString('en-US');
const f = (value: number, digits = 2) => value.toFixed(digits);
const mib = (stats: PhaseStats | undefined, role: Role) => stats?.roles[role]?.peakMiB;
const passText = (pass: boolean | undefined) => (pass === undefined ? 'n/a' : pass ? 'PASS' : 'FAIL');

/** The ceiling the run is held against: the mean of the measurements before and after it. */
export const ceilingOf = (m: SizeMeasures) => (m.raw.before.envelopesPerSecond + m.raw.after.envelopesPerSecond) / 2;

export function throughputTable(sizes: SizeOutcome[]): string[] {
  return [
    '| envelopes | end-to-end env/s | ceiling before env/s | ceiling after env/s | end-to-end / mean ceiling | seconds | complete, conserved |',
    '|---:|---:|---:|---:|---:|---:|:---:|',
    ...sizes.map((s) =>
      s.ok
        ? `| ${n(s.records)} | ${n(s.measures.e2e.envelopesPerSecond)} | ${n(s.measures.raw.before.envelopesPerSecond)} | ${n(s.measures.raw.after.envelopesPerSecond)} | ${f(s.measures.e2e.envelopesPerSecond / ceilingOf(s.measures))} | ${f(s.measures.e2e.seconds, 1)} | ${s.measures.e2e.complete && s.measures.e2e.conserved ? 'yes' : 'NO'} |`
        : `| ${n(s.records)} | ${s.reason} | | | | | NO |`,
    ),
  ];
}

/** µs of CPU per envelope; each also as a multiple of the plain loop's, measured in the same run. */
export function cpuTable(sizes: SizeOutcome[], plainMicros: number | undefined): string[] {
  const cell = (micros: number | undefined) =>
    micros === undefined ? '' : `${f(micros, 1)}${plainMicros ? ` (${f(micros / plainMicros, 1)}×)` : ''}`;
  const rows = sizes.flatMap((s) => {
    if (!s.ok) return [];
    const e2e = s.phases.e2e;
    const per = (role: Role) => {
      const seconds = e2e?.roles[role]?.cpuSeconds;
      return seconds === undefined ? undefined : (seconds * 1e6) / s.measures.e2e.read;
    };
    const { reader, processor, writer } = s.measures.stages;
    const runner = per('runner');
    const rest = runner === undefined ? undefined : runner - reader - processor - writer;
    return [
      `| ${n(s.records)} | ${cell(reader)} | ${cell(processor)} | ${cell(writer)} | ${cell(runner)} | ${cell(rest)} | ${cell(per('kinesalite'))} | ${cell(per('s3rver'))} |`,
    ];
  });
  return [
    '| envelopes | reader | processor | writer | runner process, end to end | rest of the runner (derived) | kinesalite | s3rver |',
    '|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows,
  ];
}

export function memoryTable(sizes: SizeOutcome[]): string[] {
  const cell = (value: number | undefined) => (value === undefined ? '' : n(value));
  return [
    '| envelopes | runner | kinesalite | s3rver | other | whole tree (highest sampled sum) |',
    '|---:|---:|---:|---:|---:|---:|',
    ...sizes.map((s) => {
      const e2e = s.phases.e2e;
      return `| ${n(s.records)} | ${cell(mib(e2e, 'runner'))} | ${cell(mib(e2e, 'kinesalite'))} | ${cell(mib(e2e, 's3rver'))} | ${cell(mib(e2e, 'other'))} | ${cell(e2e?.treePeakMiB)} |`;
    }),
  ];
}

export function compareTable(compare: CompareResult): string[] {
  const plain = compare.contenders.find((c) => c.name === 'plain loop')?.micros;
  return [
    '| contender | CPU µs/envelope (median) | × plain loop | median of each process, µs/envelope | first pass (cold), µs/envelope | what it does per record |',
    '|---|---:|---:|---|---:|---|',
    ...compare.contenders.map(
      (c) =>
        `| ${c.name} | ${f(c.micros, 1)} | ${plain ? f(c.micros / plain, 2) : ''} | ${c.perProcess.map((r) => f(r, 1)).join(', ')} | ${f(c.firstPass, 1)} | ${c.does} |`,
    ),
  ];
}

export function ioBoundLines(io: IoBoundResult): string[] {
  return [
    `The example job’s transform behind a wait of ${io.delayMs} ms (an API call), processBatch with in-memory ports on one shard’s events; wall time, as the waits are what overlaps.`,
    '',
    '| transforms at once | records | records/s | × sequential |',
    '|---:|---:|---:|---:|',
    `| 1 (sequential) | ${n(io.sequential.records)} | ${f(io.sequential.perSecond, 1)} | 1.00 |`,
    `| ${io.concurrency} (default) | ${n(io.parallel.records)} | ${f(io.parallel.perSecond, 1)} | ${f(io.speedup)} |`,
  ];
}

/** Peak RSS of a role at the largest size over the smallest; undefined with fewer than two sizes measured. */
function growth(sizes: SizeOutcome[], role: Role): { ratio: number; small: number; large: number } | undefined {
  const measured = sizes.flatMap((s) => {
    const peak = s.ok ? mib(s.phases.e2e, role) : undefined;
    return peak === undefined ? [] : [{ records: s.records, peak }];
  });
  if (measured.length < 2) return undefined;
  const [small, large] = [measured[0], measured[measured.length - 1]];
  return { ratio: large.peak / small.peak, small: small.records, large: large.records };
}

/** Why a server's memory is, or is not, bounded whatever the run's size. */
const BOUND_REASONS: Partial<Record<Role, { holds: string; fails: string }>> = {
  kinesalite: {
    holds: 'its LevelDB keeps records on disk with a bounded cache',
    fails:
      'kinesalite keeps every record of the retention period (24 h) in its LevelDB store, and its memory grows with the records on the streams; real Kinesis is not part of this process tree',
  },
  s3rver: {
    holds: 'it streams objects to and from files on disk, one request at a time',
    fails: 's3rver’s RSS grew with the run’s size; this bench does not explain why',
  },
};

export function verdicts(sizes: SizeOutcome[], compare: CompareResult | undefined): Verdict[] {
  const out: Verdict[] = [];
  const measured = sizes.filter((s): s is Extract<SizeOutcome, { ok: true }> => s.ok);
  const largest = measured[measured.length - 1];
  if (largest) {
    const ratio = largest.measures.e2e.envelopesPerSecond / ceilingOf(largest.measures);
    out.push({
      name: `end-to-end / raw put ceiling at ${n(largest.records)} envelopes`,
      value: f(ratio),
      target: `≥ ${TARGETS.e2eOverCeiling}, stated for 1,000,000`,
      pass: ratio >= TARGETS.e2eOverCeiling,
    });
  }
  for (const s of sizes)
    if (!s.ok) out.push({ name: `${n(s.records)} envelopes`, value: s.reason, target: 'completes', pass: false });
  for (const role of ['runner', 'kinesalite', 's3rver'] as const) {
    const g = growth(sizes, role);
    const name = `${role} peak RSS at ${g ? n(g.large) : 'the largest size'} / at ${g ? n(g.small) : 'the smallest'}`;
    if (!g) {
      out.push({ name, value: 'needs two sizes', target: `≤ ${TARGETS.rssGrowth}`, pass: undefined });
      continue;
    }
    const pass = g.ratio <= TARGETS.rssGrowth;
    const reason = BOUND_REASONS[role];
    out.push({
      name,
      value: f(g.ratio),
      target: `≤ ${TARGETS.rssGrowth}${role === 'runner' ? ', no heap cap' : ', bounded'}`,
      pass,
      why: reason && (pass ? reason.holds : reason.fails),
    });
  }
  out.push(processorVerdict(compare));
  const io = compare?.ioBound;
  out.push({
    name: `I/O-bound transform (${io ? `${io.delayMs} ms` : 'a wait'}), records/s at the default concurrency / sequential`,
    value: io ? f(io.speedup) : 'not measured',
    target: `≥ ${TARGETS.parallelOverSequential}`,
    pass: io ? io.speedup >= TARGETS.parallelOverSequential : undefined,
  });
  return out;
}

/**
 * processBatch against Powertools; with the floor (the mandatory work alone) measured too, a miss
 * says where the target lies against it.
 */
function processorVerdict(compare: CompareResult | undefined): Verdict {
  const name = 'processBatch / Powertools, CPU per envelope';
  const target = `≤ ${TARGETS.processBatchOverPowertools}`;
  const of = (contender: string) => compare?.contenders.find((c) => c.name === contender)?.micros;
  const [pb, pt, floor] = [of('processBatch'), of('Powertools'), of('floor')];
  if (pb === undefined || pt === undefined)
    return { name, value: compare?.skipped[0] ?? 'not measured', target, pass: undefined };
  const pass = pb / pt <= TARGETS.processBatchOverPowertools;
  const why =
    floor === undefined
      ? undefined
      : `the floor (the mandatory work alone: base64, seal, parse, zod, transform, encode) is ${f(floor / pt)} of Powertools, processBatch ${f(pb / floor)}× the floor${!pass && floor / pt > TARGETS.processBatchOverPowertools ? ': the target lies below the floor' : ''}`;
  return { name, value: f(pb / pt), target, pass, ...(why ? { why } : {}) };
}

export function verdictLines(list: Verdict[]): string[] {
  return list.map(
    (v) => `- ${passText(v.pass)} ${v.name}: ${v.value} (target ${v.target})${v.why ? ` — ${v.why}` : ''}`,
  );
}
