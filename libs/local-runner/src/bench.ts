import './local-env';
import { spawn } from 'node:child_process';
import { cpus, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { CreateStreamCommand, DescribeStreamSummaryCommand } from '@aws-sdk/client-kinesis';
import { exampleRow, type ExampleDataOptions } from '@pipeline/example-job';
import { DEFAULTS, KINESIS } from '@pipeline/limits';
import { encodeEnvelope, partitionKeyOf } from '@pipeline/records';
import { kinesisPutRecordsPort, StreamProducer, type StreamRecord } from '@pipeline/stream-producer';
import { LocalPipeline } from './local-pipeline';
import { runJob } from './run-job';
import { tempDataDir } from './testing';

/**
 * `npm run bench`: the pipeline on the embedded stack at two sizes, each in a process of its own
 * (so peak RSS is that size's), against the raw put ceiling of the same local Kinesis server.
 */

/** About 1 KB records, no spills or bad rows: the steady state a benchmark should measure. */
export const benchData = (records: number): ExampleDataOptions => ({
  records,
  recordBytes: 1_000,
  largeEvery: 0,
  malformedEvery: 0,
  invalidEvery: 0,
  rejectedEvery: 0,
});

const HEAP_CAP_MIB = 384;

interface SizeResult {
  records: number;
  rawPutPerSecond: number;
  endToEndPerSecond: number;
  elapsedSeconds: number;
  processorCpuMicrosPerRecord: number;
  peakRssMiB: number;
  conserved: boolean;
  complete: boolean;
}

/** Pre-encoded records put with PutRecords only, at the reader's concurrency: the stream's ceiling here. */
async function rawPutCeiling(pipeline: LocalPipeline, records: number, shards: number): Promise<number> {
  const stream = `bench-raw-${Date.now()}`;
  await pipeline.kinesis.send(new CreateStreamCommand({ StreamName: stream, ShardCount: shards }));
  while (
    (await pipeline.kinesis.send(new DescribeStreamSummaryCommand({ StreamName: stream }))).StreamDescriptionSummary
      ?.StreamStatus !== 'ACTIVE'
  ) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const encoded: StreamRecord[] = [];
  const lanes = DEFAULTS.readerConcurrency;
  for (let i = 0; i < Math.min(records, KINESIS.maxRecordsPerPut * 20); i++) {
    const id = { run: 'bench-raw', slice: `s${String(i % lanes).padStart(6, '0')}`, pos: i };
    encoded.push({
      data: encodeEnvelope({ v: 1, kind: 'data', id, body: JSON.parse(exampleRow(i, benchData(records))) }),
      partitionKey: partitionKeyOf(id.run, id.slice),
    });
  }
  const started = process.hrtime.bigint();
  let sent = 0;
  await Promise.all(
    Array.from({ length: lanes }, async (_, lane) => {
      const producer = new StreamProducer({ streamName: stream, port: kinesisPutRecordsPort(pipeline.kinesis) });
      for (let i = lane; i < records; i += lanes) {
        await producer.add(encoded[i % encoded.length]);
        sent += 1;
      }
      await producer.flush();
    }),
  );
  return sent / (Number(process.hrtime.bigint() - started) / 1e9);
}

/** One size, in this process: raw ceiling, the run, then the processor alone over a replay of the run. */
async function measureSize(records: number, shards: number): Promise<SizeResult> {
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({
    dataDir: data.dir,
    shardCount: shards,
    streamsInMemory: process.env.BENCH_MEMORY === '1',
  });
  try {
    const rawPutPerSecond = await rawPutCeiling(pipeline, Math.min(records, 100_000), shards);
    const report = await runJob({
      runId: 'bench',
      pipeline,
      data: benchData(records),
      timeoutMs: 60 * 60_000,
      progress: (l) => process.stderr.write(`${l}\n`),
    });
    // The processor's CPU per record: replay the run with the writer stopped, so the processor is
    // the only stage working in this process (the servers run in processes of their own).
    await pipeline.stopConsumers();
    const cpuBefore = process.cpuUsage();
    await replayProcessorOnly(pipeline);
    const cpu = process.cpuUsage(cpuBefore);
    // Stream records are packed: the processor handled every record read once more.
    const replayed = report.read;
    return {
      records,
      rawPutPerSecond: Math.round(rawPutPerSecond),
      endToEndPerSecond: Math.round(report.read / (report.elapsedMs / 1000)),
      elapsedSeconds: Math.round(report.elapsedMs / 100) / 10,
      processorCpuMicrosPerRecord: Math.round(((cpu.user + cpu.system) / replayed) * 10) / 10,
      peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
      conserved: report.conserved,
      complete: report.complete,
    };
  } finally {
    await pipeline.stop();
    await data.remove();
  }
}

async function replayProcessorOnly(pipeline: LocalPipeline): Promise<void> {
  const { createEventSourceMapping, memoryCheckpointStore } = await import('@pipeline/local-stack');
  const { handler } = await import('@apps/processor');
  const mapping = createEventSourceMapping({
    kinesis: pipeline.kinesis,
    streamName: 'pipeline-records',
    startingPosition: 'TRIM_HORIZON',
    batchSize: DEFAULTS.batchSize,
    functionResponseTypes: ['ReportBatchItemFailures'],
    pollIntervalMs: 50,
    checkpoints: memoryCheckpointStore(),
    handler,
  });
  mapping.start();
  await mapping.drain({ idleMs: 200, timeoutMs: 60 * 60_000 });
  await mapping.stop();
}

function runChild(records: number, shards: number): Promise<SizeResult> {
  return new Promise((resolve, reject) => {
    // The same V8 heap cap at every size, as a Lambda function's memory would set it: peak RSS then
    // shows what a run holds, not how long V8 lets garbage pile up in a long run.
    const child = spawn(
      process.execPath,
      [
        `--max-old-space-size=${HEAP_CAP_MIB}`,
        '--import',
        'tsx',
        __filename,
        '--child',
        String(records),
        '--shards',
        String(shards),
      ],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.once('exit', (code) =>
      code === 0
        ? resolve(JSON.parse(out.trim().split('\n').pop()!))
        : reject(new Error(`bench of ${records} records exited with ${code}`)),
    );
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      child: { type: 'string' },
      sizes: { type: 'string', default: '100000,1000000' },
      shards: { type: 'string', default: '4' },
    },
  });
  const shards = Number(values.shards);
  if (values.child) {
    process.stdout.write(`${JSON.stringify(await measureSize(Number(values.child), shards))}\n`);
    return;
  }
  const sizes = values.sizes!.split(',').map(Number);
  const machine = `${cpus().length} × ${cpus()[0]?.model.trim()}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
  process.stderr.write(`machine: ${machine}\n`);
  const results: SizeResult[] = [];
  for (const size of sizes) {
    process.stderr.write(`bench: ${size} records of about 1 KB, ${shards} shards…\n`);
    results.push(await runChild(size, shards));
  }
  const lines = [
    `Benchmark — ${machine}; records of about 1 KB; ${shards} shards; embedded stack (kinesalite, s3rver, local Firehose); V8 heap capped at ${HEAP_CAP_MIB} MiB per size`,
    '',
    '| records | end-to-end records/s | raw PutRecords ceiling records/s | end-to-end / ceiling | processor CPU µs/record | peak RSS MiB | complete, conserved |',
    '|---:|---:|---:|---:|---:|---:|:---:|',
    ...results.map(
      (r) =>
        `| ${r.records.toLocaleString('en-US')} | ${r.endToEndPerSecond.toLocaleString('en-US')} | ${r.rawPutPerSecond.toLocaleString('en-US')} | ${(r.endToEndPerSecond / r.rawPutPerSecond).toFixed(2)} | ${r.processorCpuMicrosPerRecord} | ${r.peakRssMiB} | ${r.complete && r.conserved ? 'yes' : 'NO'} |`,
    ),
  ];
  if (results.length >= 2) {
    const [small, large] = [results[0], results[results.length - 1]];
    lines.push(
      '',
      `peak RSS at ${large.records.toLocaleString('en-US')} / at ${small.records.toLocaleString('en-US')}: ${(large.peakRssMiB / small.peakRssMiB).toFixed(2)} (target ≤ 1.10)`,
    );
  }
  const minRatio = Math.min(...results.map((r) => r.endToEndPerSecond / r.rawPutPerSecond));
  lines.push(`lowest end-to-end / ceiling: ${minRatio.toFixed(2)} (target ≥ 0.25)`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

if (require.main === module)
  main().catch((error) => {
    process.stderr.write(`${(error as Error).stack}\n`);
    process.exit(1);
  });
