import type { CompareResult } from './processor-compare';
import type { PhaseStats } from './process-tree';
import { POWERTOOLS_MISSING } from './processor-compare';
import { type SizeOutcome, verdicts } from './report';
import type { SizeMeasures } from './size-run';

const phase = (runner: number, kinesalite: number): PhaseStats => ({
  seconds: 1,
  roles: { runner: { cpuSeconds: 1, peakMiB: runner }, kinesalite: { cpuSeconds: 1, peakMiB: kinesalite } },
  treePeakMiB: runner + kinesalite,
  peaksReset: true,
});

const size = (records: number, e2e: number, ceiling: number, e2ePhase: PhaseStats): SizeOutcome => ({
  records,
  ok: true,
  measures: {
    records,
    shards: 4,
    raw: {
      before: { envelopesPerSecond: ceiling * 1.1, records: 1, seconds: 1 },
      after: { envelopesPerSecond: ceiling * 0.9, records: 1, seconds: 1 },
    },
    e2e: {
      seconds: 1,
      envelopesPerSecond: e2e,
      read: records,
      delivered: records,
      deadLettered: 0,
      complete: true,
      conserved: true,
    },
    stages: { envelopes: records, reader: 1, processor: 1, writer: 1, invocations: { processor: 1, writer: 1 } },
  } satisfies SizeMeasures,
  phases: { e2e: e2ePhase },
});

const contender = (name: string, micros: number) => ({
  name,
  does: '',
  micros,
  rounds: [micros],
  perProcess: [micros],
  firstPass: 2 * micros,
  results: 100,
});
const compare = (processBatch: number, powertools?: number, floor?: number): CompareResult => ({
  envelopes: 100,
  envelopeBytes: 1100,
  records: 5,
  events: 1,
  readerMicros: 1,
  processes: 1,
  contenders: [
    contender('processBatch', processBatch),
    ...(powertools === undefined ? [] : [contender('Powertools', powertools)]),
    ...(floor === undefined ? [] : [contender('floor', floor)]),
  ],
  skipped: powertools === undefined ? [POWERTOOLS_MISSING] : [],
});

const find = (list: ReturnType<typeof verdicts>, start: string) => list.find((v) => v.name.startsWith(start));

describe('bench targets', () => {
  it('holds the end-to-end rate of the largest size against the mean of the ceilings before and after the run', () => {
    const sizes = [size(100, 10, 1000, phase(100, 100)), size(1000, 250, 1000, phase(100, 100))];
    expect(find(verdicts(sizes, undefined), 'end-to-end')).toMatchObject({ value: '0.25', pass: true });
    const slower = [size(100, 10, 1000, phase(100, 100)), size(1000, 249, 1000, phase(100, 100))];
    expect(find(verdicts(slower, undefined), 'end-to-end')).toMatchObject({ pass: false });
  });

  it('fails a process whose peak RSS grows more than 10% from the smallest size to the largest, and says why', () => {
    const list = verdicts([size(100, 1, 1, phase(200, 100)), size(1000, 1, 1, phase(220, 300))], undefined);
    expect(find(list, 'runner peak RSS')).toMatchObject({ value: '1.10', pass: true });
    expect(find(list, 'kinesalite peak RSS')).toMatchObject({ value: '3.00', pass: false });
    expect(find(list, 'kinesalite peak RSS')?.why).toMatch(/retention period/);
  });

  it('cannot judge growth from one size', () => {
    expect(find(verdicts([size(100, 1, 1, phase(200, 100))], undefined), 'runner peak RSS')).toMatchObject({
      pass: undefined,
    });
  });

  it('reports a size that stalled as a failure', () => {
    const stalled: SizeOutcome = { records: 1000, ok: false, reason: 'STALLED: no result after 60 s', phases: {} };
    expect(find(verdicts([stalled], undefined), '1,000 envelopes')).toMatchObject({ pass: false });
  });

  it('wants processBatch at half of Powertools’ CPU or less, and says so when Powertools is not installed', () => {
    expect(find(verdicts([], compare(10, 20)), 'processBatch')).toMatchObject({ value: '0.50', pass: true });
    expect(find(verdicts([], compare(11, 20)), 'processBatch')).toMatchObject({ pass: false });
    expect(find(verdicts([], compare(11)), 'processBatch')).toMatchObject({
      value: POWERTOOLS_MISSING,
      pass: undefined,
    });
  });

  it('says where the target lies against the floor, the mandatory work alone', () => {
    const below = find(verdicts([], compare(13, 20, 12)), 'processBatch');
    expect(below).toMatchObject({ value: '0.65', pass: false });
    expect(below?.why).toMatch(
      /floor .* is 0\.60 of Powertools, processBatch 1\.08× the floor: the target lies below the floor/,
    );
    const reachable = find(verdicts([], compare(13, 20, 8)), 'processBatch');
    expect(reachable?.why).toMatch(/is 0\.40 of Powertools/);
    expect(reachable?.why).not.toMatch(/lies below/);
  });

  it('wants an I/O-bound transform at least 25× faster at the default concurrency than one at a time', () => {
    const io = (speedup: number) => ({
      ...compare(10, 20),
      ioBound: {
        delayMs: 50,
        concurrency: 32,
        sequential: { records: 20, perSecond: 20 },
        parallel: { records: 640, perSecond: 20 * speedup },
        speedup,
      },
    });
    expect(find(verdicts([], io(25)), 'I/O-bound')).toMatchObject({ value: '25.00', pass: true });
    expect(find(verdicts([], io(24.9)), 'I/O-bound')).toMatchObject({ pass: false });
    expect(find(verdicts([], compare(10, 20)), 'I/O-bound')).toMatchObject({ value: 'not measured', pass: undefined });
  });
});
