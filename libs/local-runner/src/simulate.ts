import { alternatives, type Cost, defaultScaleInput, modelRun, type ScaleModel } from '@pipeline/cost';
import { DEFAULTS, S3 } from '@pipeline/limits';
import { countingMemoryStore, type StoreCalls } from '@pipeline/object-store';
import { finishRun, markRunDelivered, RunLedger } from '@pipeline/run-ledger';
import { planByteRanges } from '@pipeline/slices';

/**
 * A run of any size on paper and in simulation: the plan, manifest, markers, completion checks and
 * the finisher's check run for real against an in-memory S3 that counts its requests (the records
 * themselves are not simulated: nothing per record is kept or called), then the counts are checked
 * against the README's formulas and the run is modeled on AWS.
 */
export interface SimulateOptions {
  records: number;
  recordBytes?: number;
  sliceBytes?: number;
  /** Source objects of this size (the last one smaller). */
  objectBytes?: number;
  /** Concurrent writers (results shards × parallelization factor): each keeps its own warm ledger. */
  writers?: number;
  /** Slices whose end-of-slice markers one writer batch carries. */
  slicesPerBatch?: number;
  /** Shard counts to model the run on AWS with. */
  shards?: number[];
}

export interface Phase {
  name: string;
  calls: StoreCalls;
  /** The README's formula for the phase, evaluated: each count must be within it. */
  formula: { put: number; get: number; list: number };
  holds: boolean;
}

export interface Simulation {
  records: number;
  slices: number;
  checks: number;
  phases: Phase[];
  peakHeapBytes: number;
  heapBytesPerSlice: number;
  models: ScaleModel[];
  alternatives: Cost[];
}

const diff = (a: StoreCalls, b: StoreCalls): StoreCalls => ({
  put: a.put - b.put,
  get: a.get - b.get,
  list: a.list - b.list,
  delete: a.delete - b.delete,
});

export async function simulate(options: SimulateOptions): Promise<Simulation> {
  const recordBytes = options.recordBytes ?? 1024;
  const objectBytes = options.objectBytes ?? 1024 ** 3;
  const writers = options.writers ?? DEFAULTS.shardCount;
  const slicesPerBatch = options.slicesPerBatch ?? 2;
  const totalBytes = options.records * recordBytes;
  const heapAtStart = process.memoryUsage().heapUsed;
  let peakHeap = 0;
  const sample = () => {
    peakHeap = Math.max(peakHeap, process.memoryUsage().heapUsed - heapAtStart);
  };

  const objects = Array.from({ length: Math.ceil(totalBytes / objectBytes) }, (_, i) => ({
    bucket: 'source',
    key: `data/part-${String(i).padStart(5, '0')}.ndjson`,
    size: Math.min(objectBytes, totalBytes - i * objectBytes),
  }));
  const slices = planByteRanges(objects, { sliceBytes: options.sliceBytes ?? DEFAULTS.sliceBytes });
  const S = slices.length;
  const run = 'run-simulated';
  const bucket = 'results';
  const store = countingMemoryStore();
  const phases: Phase[] = [];
  let mark = { ...store.calls };
  const phase = (name: string, formula: Phase['formula']) => {
    const calls = diff(store.calls, mark);
    mark = { ...store.calls };
    sample();
    const holds = calls.put <= formula.put && calls.get <= formula.get && calls.list <= formula.list;
    phases.push({ name, calls, formula, holds });
  };

  // Reader: plans once, then one read marker per slice.
  const reader = new RunLedger(store, bucket);
  await reader.createManifest({
    runId: run,
    job: 'simulated',
    createdAt: new Date(0).toISOString(),
    source: { bucket: 'source', prefix: 'data/' },
    slices,
  });
  phase('plan: the manifest', { put: 1, get: 1, list: 0 });
  const perSlice = Math.ceil(options.records / S);
  for (const slice of slices)
    await reader.markSliceRead({ run, slice: slice.id, count: perSlice, malformed: 0, spilled: 0, at: 'now' });
  phase('reader: read markers', { put: S, get: 0, list: 0 });

  // Writers: each slice's marker reaches the writer of its shard; the first true one wins, and each batch that
  // finished a slice checks completion from the resume point.
  const ledgers = Array.from({ length: writers }, () => new RunLedger(store, bucket));
  let checks = 0;
  let complete = false;
  for (let i = 0; i < S; i += slicesPerBatch) {
    const ledger = ledgers[(i / slicesPerBatch) % writers];
    for (const slice of slices.slice(i, i + slicesPerBatch)) {
      if (!(await ledger.getSliceDone(run, slice.id)))
        await ledger.markSliceDone({ run, slice: slice.id, count: perSlice, at: 'now' });
    }
    checks += 1;
    complete = await ledger.allSlicesDone(run);
    if (i % (slicesPerBatch * 500) === 0) sample();
  }
  if (!complete) throw new Error('the simulated run never completed: the completion check is wrong');
  await markRunDelivered(store, bucket, run, new Date(0));
  const M = checks;
  phase('writer: done markers, completion checks, delivered marker', {
    put: S + M + 1,
    // First-wins check S, resume points M, markers read on from them S + M, a manifest per warm writer, delivered 1.
    get: S + M + (S + M) + writers + 1,
    list: 0,
  });

  // Finisher (output check stubbed: it lists the run's output, ceil(objects / 1,000) pages more).
  await finishRun(run, {
    store,
    bucket,
    ledger: new RunLedger(store, bucket),
    checkOutput: async (_runId, expected) => ({
      conserved: true,
      read: expected.reduce((sum, e) => sum + e.read, 0),
      delivered: expected.reduce((sum, e) => sum + e.read, 0),
      deadLettered: 0,
      unexpected: 0,
      slices: expected.map((e) => ({ slice: e.slice, read: e.read, found: e.read, missing: [] })),
    }),
    bufferIntervalSeconds: 60,
    now: new Date(0),
  });
  phase('finisher: one check', {
    put: 1,
    // complete?, failed?, delivered, then status: manifest, control, the four end and delivery markers
    // (complete, failed, stalled, delivered) and every marker.
    get: 3 + 6 + 2 * S,
    list: Math.ceil((2 * S + 1) / S3.maxKeysPerList),
  });

  const bookkeeping = phases.reduce(
    (sum, p) => ({ tier1: sum.tier1 + p.calls.put + p.calls.list, tier2: sum.tier2 + p.calls.get }),
    { tier1: 0, tier2: 0 },
  );
  const models = (options.shards ?? [DEFAULTS.shardCount, 8]).map((shards) =>
    modelRun({ ...defaultScaleInput(options.records, S, shards), recordBytes, resultBytes: recordBytes, bookkeeping }),
  );
  return {
    records: options.records,
    slices: S,
    checks: M,
    phases,
    peakHeapBytes: peakHeap,
    heapBytesPerSlice: Math.round(peakHeap / S),
    models,
    alternatives: alternatives(options.records),
  };
}

const n = (v: number) => Math.round(v).toLocaleString('en-US');
const usd = (v: number) => `$${v < 0.01 && v > 0 ? v.toPrecision(2) : v.toFixed(2)}`;

export function formatSimulation(sim: Simulation): string {
  const out: string[] = [
    `Simulated run: ${n(sim.records)} records, ${n(sim.slices)} slices, ${n(sim.checks)} writer completion checks`,
    '',
    'Bookkeeping S3 requests, counted (formula bound in brackets):',
  ];
  for (const p of sim.phases)
    out.push(
      `  ${p.holds ? '✓' : '✗'} ${p.name.padEnd(58)} PUT ${n(p.calls.put)} [${n(p.formula.put)}]  GET ${n(p.calls.get)} [${n(p.formula.get)}]  LIST ${n(p.calls.list)} [${n(p.formula.list)}]`,
    );
  out.push(
    `  peak heap growth ${(sim.peakHeapBytes / 1e6).toFixed(1)} MB (${n(sim.heapBytesPerSlice)} bytes a slice: the manifest and markers, nothing per record)`,
    '',
  );
  for (const m of sim.models) {
    out.push(`On AWS with ${m.input.shards} shards a stream (modeled, us-east-1 list prices):`);
    out.push(`  duration ≈ ${m.hours.toFixed(1)} h, limited by ${m.limitedBy.name} (raise: ${m.limitedBy.raise})`);
    for (const l of m.limits) out.push(`    ${(l.bytesPerSecond / 1024 ** 2).toFixed(1).padStart(8)} MiB/s  ${l.name}`);
    out.push(`  run cost ${usd(m.cost.totalUsd)}; idle ${usd(m.idlePerMonth.totalUsd)} a month`);
    for (const l of m.cost.lines.filter((x) => x.usd > 0))
      out.push(`    ${`${l.service} ${l.item}`.padEnd(36)}${usd(l.usd).padStart(10)}   ${n(l.quantity)} ${l.unit}`);
  }
  out.push('', 'The same items through the designs we mean to beat (third-party prices, see README):');
  const names = ['SQS + DynamoDB tracker', 'Step Functions Distributed Map, Express children of one item'];
  for (const [i, alt] of sim.alternatives.entries()) {
    out.push(`  ${names[i]}: ${usd(alt.totalUsd)}`);
    for (const l of alt.lines) out.push(`    ${l.item.padEnd(52)}${usd(l.usd).padStart(12)}`);
  }
  return out.join('\n');
}

async function main(argv: string[]): Promise<number> {
  const arg = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const records = Number(arg('records') ?? 1_000_000);
  if (!Number.isSafeInteger(records) || records <= 0) {
    process.stderr.write('--records takes a whole number of records, e.g. --records 100000000\n');
    return 2;
  }
  const shards = arg('shards')?.split(',').map(Number);
  const sim = await simulate({ records, shards });
  process.stdout.write(`${argv.includes('--json') ? JSON.stringify(sim, null, 2) : formatSimulation(sim)}\n`);
  return sim.phases.every((p) => p.holds) ? 0 : 1;
}

if (require.main === module) main(process.argv.slice(2)).then((code) => process.exit(code));
