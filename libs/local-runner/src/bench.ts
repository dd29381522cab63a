import './local-env';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { bundleForNode, WORKSPACE } from './bench/bundle';
import { CLOCK_TICKS, describeLoad, describeMachine, machineCpuSeconds } from './bench/machine';
import { compareIoBound } from './bench/io-bound';
import { compareProcessors, type CompareResult } from './bench/processor-compare';
import { WARM_UP_PASSES } from './bench/processor-contenders';
import { type PhaseStats, TreeSampler } from './bench/process-tree';
import {
  compareTable,
  ioBoundLines,
  cpuTable,
  memoryTable,
  type SizeOutcome,
  throughputTable,
  verdictLines,
  verdicts,
} from './bench/report';
import { measureSize, type Phase, type SizeMeasures } from './bench/size-run';

export { benchData } from './bench/data';

/**
 * `npm run bench`: each size in a runner process of its own (no V8 heap cap), with its own embedded
 * stack; this process only samples that process tree from /proc and prints the figures. See the
 * README's "Benchmark" section for what each figure measures.
 */

const USAGE = `npm run bench -- [--sizes 100000,1000000] [--shards 4] [--compare 20000] [--rounds 5] [--processes 7] [--minutes-per-size N]`;

type ChildMessage =
  | { phase: Phase; edge: 'start' | 'end' }
  | { result: SizeMeasures | CompareResult }
  | { error: string };

/**
 * Runs this file as a child with `args` — bundled as the Lambda build bundles a function, so the
 * handlers in the runner run as deployed code, not through a run-time TypeScript loader; samples its
 * tree in the phases it announces; kills it at the deadline.
 */
function runChild<T>(
  runner: string,
  args: string[],
  deadlineMs: number,
): Promise<
  | { ok: true; result: T; phases: Partial<Record<Phase, PhaseStats>> }
  | { ok: false; reason: string; phases: Partial<Record<Phase, PhaseStats>> }
> {
  return new Promise((resolve) => {
    const child: ChildProcess = spawn(process.execPath, [runner, ...args], {
      // The handlers' logs go nowhere: the bench prints figures; progress comes on stderr.
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
    });
    const sampler = new TreeSampler(child.pid ?? 0);
    const phases: Partial<Record<Phase, PhaseStats>> = {};
    let current: Phase | undefined;
    let settled: { ok: true; result: T } | { ok: false; reason: string } | undefined;
    const started = Date.now();
    const timer = setTimeout(() => {
      settled = {
        ok: false,
        reason: `STALLED: no result after ${Math.round((Date.now() - started) / 1000)} s${current ? `, in phase ${current}` : ''}`,
      };
      if (current) phases[current] = sampler.end();
      child.kill('SIGKILL'); // its servers exit when it is gone (they watch their IPC channel)
    }, deadlineMs);
    child.on('message', (message: ChildMessage) => {
      if ('phase' in message) {
        if (message.edge === 'start') {
          current = message.phase;
          sampler.begin();
        } else {
          phases[message.phase] = sampler.end();
          current = undefined;
        }
        child.send('ack');
      } else if ('result' in message) settled = { ok: true, result: message.result as T };
      else settled = { ok: false, reason: `FAILED: ${message.error}` };
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      if (current) phases[current] ??= sampler.end();
      resolve({ ...(settled ?? { ok: false, reason: `FAILED: the runner exited with code ${code}` }), phases });
    });
  });
}

/** In the child: tell the parent a phase starts or ends, and wait until it has sampled. */
function announce(name: Phase, edge: 'start' | 'end'): Promise<void> {
  return new Promise((resolve) => {
    process.once('message', () => resolve());
    process.send?.({ phase: name, edge });
  });
}

/** CPU seconds of this process and of its children that have exited (and theirs). */
function ownTreeCpuSeconds(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8');
  const rest = fields.slice(fields.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14–17 (rest[11..14]).
  return rest.slice(11, 15).reduce((sum, v) => sum + Number(v), 0) / CLOCK_TICKS;
}

async function child(values: Record<string, string | boolean | undefined>): Promise<void> {
  const send = (message: ChildMessage) => new Promise<void>((resolve) => process.send?.(message, () => resolve()));
  try {
    const result = values.child
      ? await measureSize({
          records: Number(values.child),
          shards: Number(values.shards),
          timeoutMs: Number(values['deadline-ms']),
          streamsInMemory: process.env.BENCH_MEMORY === '1',
          phase: announce,
          progress: (line) => process.stderr.write(`  ${line}\n`),
        })
      : {
          ...(await compareProcessors({
            envelopes: Number(values['compare-child']),
            rounds: Number(values.rounds),
            processes: Number(values.processes),
          })),
          ioBound: await compareIoBound(),
        };
    await send({ result });
  } catch (error) {
    await send({ error: (error as Error).stack ?? String(error) });
  }
  process.disconnect();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      'compare-child': { type: 'string' },
      'deadline-ms': { type: 'string' },
      sizes: { type: 'string', default: '100000,1000000' },
      shards: { type: 'string', default: '4' },
      compare: { type: 'string', default: '20000' },
      rounds: { type: 'string', default: '5' },
      processes: { type: 'string', default: '7' },
      'minutes-per-size': { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.child || values['compare-child']) return child(values);
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return;
  }
  const sizes = values.sizes.split(',').map(Number);
  if (sizes.some((s) => !Number.isInteger(s) || s <= 0))
    throw new RangeError(`--sizes takes positive integers: ${USAGE}`);
  const shards = values.shards;
  // Enough for a loaded machine; a size that stalls is reported and the bench moves on.
  const deadlineMs = (records: number) =>
    values['minutes-per-size'] ? Number(values['minutes-per-size']) * 60_000 : Math.max(10 * 60_000, records * 3);

  const startLoad = describeLoad();
  const startCpu = machineCpuSeconds();
  const log = (line: string) => process.stderr.write(`${line}\n`);
  log(`bench: ${describeMachine()}; load ${startLoad}`);

  // The runner, bundled inside the workspace (its packages are required from node_modules).
  const runner = await bundleForNode({
    entry: __filename,
    outfile: join(WORKSPACE, 'tmp', 'bench', 'runner.js'),
    packages: 'external',
  });

  // The processor comparison first: small and quick, and on no server.
  log(`bench: processor CPU on ${values.compare} envelopes, ${values.rounds} rounds…`);
  const compared = await runChild<CompareResult>(
    runner,
    ['--compare-child', values.compare, '--rounds', values.rounds, '--processes', values.processes],
    deadlineMs(Number(values.compare)),
  );
  const compare = compared.ok ? compared.result : undefined;
  if (!compared.ok) log(`bench: processor comparison ${compared.reason}`);

  const outcomes: SizeOutcome[] = [];
  for (const records of sizes) {
    log(`bench: ${records} envelopes of about 1.1 KB, ${shards} shards…`);
    const deadline = deadlineMs(records);
    const run = await runChild<SizeMeasures>(
      runner,
      ['--child', String(records), '--shards', shards, '--deadline-ms', String(deadline)],
      deadline,
    );
    outcomes.push(run.ok ? { records, ok: true, measures: run.result, phases: run.phases } : { records, ...run });
  }

  const endCpu = machineCpuSeconds();
  const ours = ownTreeCpuSeconds();
  const plain = compare?.contenders.find((c) => c.name === 'plain loop')?.micros;
  const lines = [
    `# Benchmark — ${describeMachine()}`,
    '',
    `Load average (1, 5, 15 min): ${startLoad} at the start, ${describeLoad()} at the end.`,
    ...(startCpu && endCpu
      ? [
          (() => {
            const busy = endCpu.busy - startCpu.busy;
            const capacity = endCpu.total - startCpu.total;
            const others = Math.max(0, busy - ours);
            return `CPU time during the bench: this bench ${ours.toFixed(0)} s, other processes ${others.toFixed(0)} s, of ${capacity.toFixed(0)} s the machine had (${((100 * others) / capacity).toFixed(0)}% used by others${others / capacity > 0.1 ? ': a loaded machine, figures not comparable with a quiet run' : ''}).`;
          })(),
        ]
      : []),
    '',
    `Each size runs in a runner process of its own (no V8 heap cap; the bench bundled as the Lambda build bundles a function, no run-time TypeScript loader) with its own embedded stack: kinesalite and s3rver in child processes, the local Firehose and the event source mappings in the runner. Envelopes of about ${compare ? Math.round(compare.envelopeBytes).toLocaleString('en-US') : '1,100'} bytes, packed as the reader packs them; ${shards} shards.`,
    'Order per size: raw ceiling → end-to-end run → raw ceiling again → each stage alone. The ceiling before the run meets an empty server, the one after it a server holding the run’s records as the run ends; the run is held against their mean, so neither the server’s state nor the order favours the ceiling.',
    '',
    '## Throughput',
    '',
    ...throughputTable(outcomes),
    '',
    `## CPU per envelope, µs${plain ? ` (× the plain loop’s ${plain.toFixed(1)} µs, same run)` : ''}`,
    '',
    ...cpuTable(outcomes, plain),
    '',
    'reader, processor, writer: CPU inside each handler’s invocations, stage by stage over a run of their own after the end-to-end run, on a quiet event loop (no consumer running; batches fetched before the clock starts; the local Firehose moved to a process of its own), SDK calls and logging included. Runner process: all of the runner’s CPU during the end-to-end run; the rest of the runner is that minus the three stages: the pollers, the local Firehose, the run’s progress polling and collation. kinesalite, s3rver: their processes’ CPU during the end-to-end run.',
    '',
    '## Peak RSS during the end-to-end run, MiB',
    '',
    ...memoryTable(outcomes),
    '',
    'Per process, VmHWM reset at the run’s start (else the highest sample), so a peak counts from what the process held then — kinesalite’s includes what it kept of the ceiling before the run; the whole tree is the highest sum of the processes’ RSS sampled every 200 ms.',
    '',
    '## Processor CPU per envelope on identical events, in memory',
    '',
    ...(compare
      ? [
          `${compare.envelopes.toLocaleString('en-US')} envelopes in ${compare.records.toLocaleString('en-US')} packed records (the reader’s own output, in-memory ports) in ${compare.events} events cut as the event source mapping cuts them; ports in memory (PutRecords and S3). The reader itself took ${compare.readerMicros.toFixed(1)} µs per envelope there.`,
          `Each contender ran in ${compare.processes} processes of its own, taking turns, from one bundle built as the Lambda build bundles a function (no run-time TypeScript loader), passes back to back as a warm function takes batches; the figure is the median of its passes after ${WARM_UP_PASSES} warm-up passes (${(WARM_UP_PASSES * compare.envelopes).toLocaleString('en-US')} envelopes: the processor’s code is optimized after 3 or 4), the first pass shown apart as the cold cost.`,
          '',
          ...compareTable(compare),
          ...(compare.skipped.length ? ['', ...compare.skipped] : []),
        ]
      : [compared.ok ? '' : `not measured: ${compared.reason}`]),
    '',
    '## I/O-bound transforms, records/s per shard, in memory',
    '',
    ...(compare?.ioBound ? ioBoundLines(compare.ioBound) : ['not measured']),
    '',
    '## Targets',
    '',
    ...verdictLines(verdicts(outcomes, compare)),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module)
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  });
