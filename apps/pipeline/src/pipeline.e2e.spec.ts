import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { KinesisStreamEvent } from 'aws-lambda';
import { exampleJob, exampleRow, type Customer } from '@pipeline/example-job';
import type { Job, TransformContext } from '@pipeline/job';
import type { KinesisEventHandler } from '@pipeline/local-stack';
import type { RunSummary } from '@pipeline/collation';
import { getJson } from '@pipeline/object-store';
import {
  decodeRecord,
  encodeEnvelope,
  LAYOUT,
  packLines,
  recordIdString,
  sealEnvelopeBytes,
  withoutSeal,
  type Envelope,
} from '@pipeline/records';
import type { ByteRangeSlice } from '@pipeline/slices';
import {
  LOCAL_RESOURCES,
  LocalPipeline,
  type LocalPipelineOptions,
  runJob,
  type RunReport,
} from '@pipeline/local-runner';
import { collate, listDeadLetters, outputDigest, pause, redrive, replay, runStatus, unpark } from './operations';
import { embeddedEnvironment } from './environment';
import {
  collatedLines,
  E2E_DATA as DATA,
  E2E_PIPELINE,
  expectedOutcome,
  tempDataDir,
} from '@pipeline/local-runner/testing';

interface Harness {
  pipeline: LocalPipeline;
  run(runId: string): Promise<RunReport>;
  close(): Promise<void>;
}

async function harness(options: Partial<LocalPipelineOptions> = {}): Promise<Harness> {
  const data = await tempDataDir();
  const pipeline = await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE, ...options });
  return {
    pipeline,
    async run(runId) {
      const report = await runJob({ runId, pipeline, data: DATA, timeoutMs: 120_000 });
      // IAM is enforced: every call each function made was one its synthesized role allows.
      expect(pipeline.deniedCalls()).toEqual([]);
      return report;
    },
    async close() {
      await pipeline.stop();
      await data.remove();
    },
  };
}

/** Which slice and position each source row has, from the run's manifest and the rows' byte offsets. */
async function rowPlacement(pipeline: LocalPipeline, runId: string) {
  const manifest = await pipeline.ledger.getManifest<ByteRangeSlice>(runId);
  const slices = manifest!.slices;
  const placement: { slice: string; pos: number }[] = [];
  let offset = 0;
  let k = 0;
  let pos = 0;
  for (let i = 0; i < DATA.records; i++) {
    while (offset >= slices[k].end) {
      k += 1;
      pos = 0;
    }
    placement.push({ slice: slices[k].id, pos: pos++ });
    offset += Buffer.byteLength(`${exampleRow(i, DATA)}\n`);
  }
  return (row: number) => placement[row];
}

/** Asserts the invariant of every run: exact conservation, and an output with no duplicate and no missing id. */
async function expectExactOutcome(h: Harness, report: RunSummary, deadLetterOverrides: Record<string, string> = {}) {
  const expected = expectedOutcome(report.runId, DATA, await rowPlacement(h.pipeline, report.runId));
  for (const [id, reason] of Object.entries(deadLetterOverrides)) {
    expected.results.delete(id);
    expected.deadLetters.set(id, reason);
  }
  const lines = await collatedLines(h.pipeline.store, report.runId);
  const ids = lines.map((l) => l.id);
  expect(report.complete).toBe(true);
  expect(report.read).toBe(DATA.records);
  expect(report.delivered).toBe(expected.results.size);
  expect(report.deadLettered).toBe(expected.deadLetters.size);
  expect(report.conserved).toBe(true);
  expect(new Set(ids).size).toBe(ids.length);
  expect(new Set(ids)).toEqual(new Set(expected.results.keys()));
  for (const line of lines) expect(line.result).toEqual(expected.results.get(line.id));
  const byReason: Record<string, number> = {};
  for (const reason of expected.deadLetters.values()) byReason[reason] = (byReason[reason] ?? 0) + 1;
  expect(report.deadLetteredByReason).toEqual(byReason);
  const listed = await listDeadLetters(embeddedEnvironment(h.pipeline), report.runId, undefined, 1_000);
  // Rejected markers and forged records are filed under the run they claimed, by origin: none is a record of the run.
  const records = listed.letters.filter((l) => !l.id.startsWith('origin:'));
  expect(new Map(records.map((l) => [l.id, l.reason]))).toEqual(expected.deadLetters);
}

/** A random() for fault injection that picks the first entry and every third after it. */
function everyThird(): () => number {
  let n = 0;
  return () => (n++ % 3 === 0 ? 0 : 1);
}

/** Rewrites the records a processor invocation sees (the fault is in the data, not in our code). */
/**
 * Changes envelopes on their way to the processor. A changed record is sealed again with its run's
 * key (`runKey`), as if its run's reader had put it so: what is tested is the change, not the seal.
 */
function tamper(
  change: (envelope: Envelope, data: Buffer) => Buffer | undefined,
  runKey: (run: string) => Promise<string | undefined>,
) {
  return (handler: KinesisEventHandler): KinesisEventHandler =>
    async (event, context) => {
      const Records = await Promise.all(
        event.Records.map(async (record) => {
          const data = Buffer.from(record.kinesis.data, 'base64');
          const decoded = decodeRecord(withoutSeal(data));
          const changed = decoded.map((line) => (line.ok ? change(line.envelope, Buffer.from(line.bytes)) : undefined));
          if (changed.every((c) => c === undefined)) return record;
          const lines = decoded.map((line, i) => changed[i] ?? line.bytes);
          const first = decoded.find((line) => line.ok && 'id' in line.envelope && line.envelope.id);
          const run = first?.ok && 'id' in first.envelope ? first.envelope.id?.run : undefined;
          const key = run === undefined ? undefined : await runKey(run);
          const packed = packLines(lines);
          const sealed = key === undefined ? packed : sealEnvelopeBytes(packed, key);
          return { ...record, kinesis: { ...record.kinesis, data: Buffer.from(sealed).toString('base64') } };
        }),
      );
      return handler({ Records }, context);
    };
}

describe('the pipeline end to end on the embedded stack', () => {
  jest.setTimeout(180_000);

  it('reads, processes and delivers every record once, dead-letters the bad ones with reasons, and counts balance', async () => {
    const h = await harness();
    try {
      const report = await h.run('run-e2e');
      expect(report.slices).toBeGreaterThan(3);
      expect(report.spilled).toBe(3); // rows 396, 793 and 1190 carry 40 KiB of notes
      await expectExactOutcome(h, report);
      expect(report.duplicatesDropped).toBe(0);
      // The spilled rows' results were spilled too and came back whole.
      const lines = await collatedLines(h.pipeline.store, 'run-e2e');
      expect(lines.filter((l) => (l.result as { notesBytes: number }).notesBytes === 40 * 1024)).toHaveLength(3);
    } finally {
      await h.close();
    }
  });

  it('is not complete, and fires no completion event, until its output is in S3 (Firehose buffering longer than the wait)', async () => {
    // A buffer interval far longer than the wait: nothing reaches S3 until the buffers are flushed.
    const h = await harness({ firehoseBufferIntervalMs: 10 * 60_000 });
    try {
      const waiting = await runJob({ runId: 'run-late', pipeline: h.pipeline, data: DATA, deliveryWaitMs: 500 });
      expect(waiting).toMatchObject({ complete: false, state: 'delivering', delivered: 0, conserved: false });
      expect(await getJson(h.pipeline.store, LOCAL_RESOURCES.resultsBucket, LAYOUT.completeKey('run-late'))).toBe(
        undefined,
      );
      expect(await runStatus(embeddedEnvironment(h.pipeline), 'run-late')).toMatchObject({
        state: 'delivering',
        complete: false,
      });

      await h.pipeline.localFirehose!.flush();

      expect(await runStatus(embeddedEnvironment(h.pipeline), 'run-late')).toMatchObject({
        state: 'complete',
        complete: true,
      });
      expect(
        await getJson(h.pipeline.store, LOCAL_RESOURCES.resultsBucket, LAYOUT.completeKey('run-late')),
      ).toMatchObject({ detail: { runId: 'run-late', read: DATA.records, conserved: true } });
      await expectExactOutcome(h, await collate(embeddedEnvironment(h.pipeline), 'run-late'));
    } finally {
      await h.close();
    }
  });

  it('triggering the same run again finds it complete and does not double the work', async () => {
    const h = await harness();
    try {
      const first = await h.run('run-twice');
      const [afterFirst] = h.pipeline.consumerStats();
      const second = await h.run('run-twice');
      expect(second).toMatchObject({
        read: first.read,
        delivered: first.delivered,
        deadLettered: first.deadLettered,
        duplicatesDropped: 0,
      });
      const [afterSecond] = h.pipeline.consumerStats();
      expect(afterSecond.recordsSucceeded).toBe(afterFirst.recordsSucceeded); // nothing was put on the stream again
    } finally {
      await h.close();
    }
  });

  describe('bad input ends dead-lettered with a reason, and nothing else is lost', () => {
    it('a pointer into another bucket, a tampered spill object and a missing one', async () => {
      const targets = new Map<number, 'elsewhere' | 'tamper' | 'delete'>();
      const h: Awaited<ReturnType<typeof harness>> = await harness({
        wrapProcessor: tamper(
          (envelope, _data) => {
            if (envelope.kind !== 'pointer' || !envelope.id) return undefined;
            const order = targets.get(envelope.id.pos) ?? (['elsewhere', 'tamper', 'delete'] as const)[targets.size];
            targets.set(envelope.id.pos, order);
            if (order === 'elsewhere')
              return Buffer.from(
                encodeEnvelope({
                  ...envelope,
                  pointer: { ...envelope.pointer, bucket: LOCAL_RESOURCES.resultsBucket },
                }),
              );
            if (order === 'tamper')
              return Buffer.from(
                encodeEnvelope({ ...envelope, pointer: { ...envelope.pointer, sha256: '0'.repeat(64) } }),
              );
            return Buffer.from(
              encodeEnvelope({ ...envelope, pointer: { ...envelope.pointer, key: `${envelope.pointer.key}.gone` } }),
            );
          },
          async (run) => (await h.pipeline.ledger.getManifest(run))?.runKey,
        ),
      });
      try {
        const report = await h.run('run-pointers');
        const place = await rowPlacement(h.pipeline, 'run-pointers');
        const id = (row: number) => recordIdString({ run: 'run-pointers', ...place(row) });
        const reasons = { elsewhere: 'pointer-rejected', tamper: 'pointer-mismatch', delete: 'pointer-missing' };
        const overrides: Record<string, string> = {};
        for (const row of [396, 793, 1190]) {
          const how = targets.get(place(row).pos);
          if (how) overrides[id(row)] = reasons[how];
        }
        expect(Object.values(overrides).sort()).toEqual(['pointer-mismatch', 'pointer-missing', 'pointer-rejected']);
        await expectExactOutcome(h, report, overrides);
      } finally {
        await h.close();
      }
    });

    it('bytes on the stream that are not an envelope', async () => {
      let injected = false;
      const h = await harness({
        wrapProcessor: (handler) => (event, context) => {
          if (injected || !event.Records.length) return handler(event, context);
          injected = true;
          // Someone put a broken record on the stream, beside the run's own records.
          const first = event.Records[0];
          const garbage = {
            ...first,
            kinesis: {
              ...first.kinesis,
              sequenceNumber: `${first.kinesis.sequenceNumber}0`,
              data: Buffer.from('{"v":1,"kind":"data"').toString('base64'),
            },
          };
          return handler({ Records: [garbage, ...event.Records] }, context);
        },
      });
      try {
        const report = await h.run('run-garbage');
        expect(report.unattributed).toBe(1);
        await expectExactOutcome(h, report);
        const [letter] = (await listDeadLetters(embeddedEnvironment(h.pipeline), 'unattributed')).letters;
        expect(letter).toMatchObject({ reason: 'invalid-envelope', stage: 'processor' });
        expect(letter.message).toMatch(/envelope is not JSON/);
      } finally {
        await h.close();
      }
    });
  });

  describe('nothing stray or forged ends a run early, wedges it, or changes its output', () => {
    it('forged end-of-slice markers, a record reusing a real id and a KPL-aggregated record', async () => {
      const runId = 'run-forged';
      let injected = false;
      let forgedMarkers = 0;
      const h = await harness({
        wrapProcessor: (handler) => async (event, context) => {
          if (injected || !event.Records.length) return handler(event, context);
          // Claimed before the await: the two shards' invocations run at the same time.
          injected = true;
          const manifest = await h.pipeline.ledger.getManifest(runId);
          if (!manifest) {
            injected = false;
            return handler(event, context);
          }
          const first = event.Records[0];
          let n = 0;
          const record = (data: Uint8Array, partitionKey: string) => ({
            ...first,
            kinesis: {
              ...first.kinesis,
              partitionKey,
              sequenceNumber: `${first.kinesis.sequenceNumber}${String(n++).padStart(4, '0')}`,
              data: Buffer.from(data).toString('base64'),
            },
          });
          // A stray producer: for every planned slice a marker claiming it is done with 0 records, on
          // its own partition key and on another; a record claiming row 0's id; a KPL-aggregated record.
          const forged = manifest.slices.flatMap((slice) => {
            const marker = encodeEnvelope({ v: 1, kind: 'end-of-slice', run: runId, slice: slice.id, count: 0 });
            return [record(marker, `${runId}/${slice.id}`), record(marker, 'stray')];
          });
          forgedMarkers = forged.length;
          const impostor = encodeEnvelope({
            v: 1,
            kind: 'data',
            id: { run: runId, slice: manifest.slices[0].id, pos: 0 },
            body: JSON.parse(exampleRow(1, DATA)),
          });
          const kpl = Buffer.concat([
            Buffer.from([0xf3, 0x89, 0x9a, 0xc2]),
            Buffer.from('\n\u0001\n'),
            Buffer.alloc(16),
          ]);
          const Records = [
            ...forged,
            record(impostor, `${runId}/${manifest.slices[0].id}`),
            record(kpl, 'kpl'),
            ...event.Records,
          ];
          return handler({ Records }, context);
        },
      });
      try {
        const report = await h.run(runId);
        expect(injected).toBe(true);
        // The run completed only when the reader's slices were done, with the reader's counts, and its
        // output holds row 0's own result, not the impostor's.
        await expectExactOutcome(h, report);
        const unattributed = (await listDeadLetters(embeddedEnvironment(h.pipeline), 'unattributed')).letters;
        expect(unattributed.map((l) => [l.reason, l.stage, l.message])).toEqual([
          ['invalid-envelope', 'processor', expect.stringMatching(/KPL-aggregated/)],
        ]); // the KPL record, dead-lettered once, whole
        const status = await runStatus(embeddedEnvironment(h.pipeline), runId);
        expect(status).toMatchObject({
          state: 'complete',
          read: DATA.records,
          rejectedMarkers: forgedMarkers,
          forgedRecords: 1,
        });
        for (const slice of (await h.pipeline.ledger.status(runId)).slices)
          expect(slice.done?.count).toBe(slice.read?.count);
      } finally {
        await h.close();
      }
    });

    it('a source line nested too deeply to encode is one dead letter; the run completes', async () => {
      const h = await harness();
      try {
        const depth = 200_000;
        const lines = [exampleRow(0, DATA), `${'['.repeat(depth)}${']'.repeat(depth)}`, exampleRow(1, DATA)];
        await h.pipeline.store.put(LOCAL_RESOURCES.sourceBucket, 'deep/a.ndjson', `${lines.join('\n')}\n`);
        const report = await runJob({
          runId: 'run-deep',
          pipeline: h.pipeline,
          source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix: 'deep/' },
          timeoutMs: 60_000,
        });
        expect(report).toMatchObject({
          complete: true,
          conserved: true,
          read: 3,
          delivered: 2,
          deadLettered: 1,
          deadLetteredByReason: { unencodable: 1 },
        });
      } finally {
        await h.close();
      }
    });

    it('a run with more dead letters than its job tolerates ends failed, says why, and its successes are still collated', async () => {
      const h = await harness({ job: { ...exampleJob, toleratedFailures: { count: 0 } } as Job });
      try {
        const lines = [exampleRow(0, DATA), '{"not": "a customer"', exampleRow(1, DATA)];
        await h.pipeline.store.put(LOCAL_RESOURCES.sourceBucket, 'tolerated/a.ndjson', `${lines.join('\n')}\n`);
        const report = await runJob({
          runId: 'run-over-threshold',
          pipeline: h.pipeline,
          source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix: 'tolerated/' },
          timeoutMs: 60_000,
        });
        expect(report).toMatchObject({ state: 'failed', complete: false, read: 3, delivered: 2, deadLettered: 1 });
        expect(await collatedLines(h.pipeline.store, 'run-over-threshold')).toHaveLength(2);
        const events = (await readFile(join(h.pipeline.dataDir, 'events.ndjson'), 'utf8'))
          .trim()
          .split('\n')
          .map((e) => JSON.parse(e))
          .filter((e) => e.detail.runId === 'run-over-threshold');
        expect(events.map((e) => e.detailType)).toEqual(['Run Started', 'Run Failed']);
        expect(events[1].detail).toMatchObject({
          reason: 'over-failure-threshold',
          read: 3,
          delivered: 2,
          deadLettered: 1,
          conserved: true,
        });
        expect(h.pipeline.deniedCalls()).toEqual([]);
      } finally {
        await h.close();
      }
    });

    it('an empty source completes at once with zero counts and its completion event', async () => {
      const h = await harness();
      try {
        await h.pipeline.store.put(LOCAL_RESOURCES.sourceBucket, 'empty/a.ndjson', '');
        const report = await runJob({
          runId: 'run-empty',
          pipeline: h.pipeline,
          source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix: 'empty/' },
        });
        expect(report).toMatchObject({
          complete: true,
          conserved: true,
          read: 0,
          delivered: 0,
          deadLettered: 0,
          slices: 0,
        });
        const events = (await readFile(join(h.pipeline.dataDir, 'events.ndjson'), 'utf8')).trim().split('\n');
        expect(events.map((e) => JSON.parse(e))).toContainEqual(
          expect.objectContaining({
            detailType: 'Run Completed',
            detail: expect.objectContaining({ runId: 'run-empty', read: 0 }),
          }),
        );
      } finally {
        await h.close();
      }
    });
  });

  describe('faults lose nothing and duplicate nothing', () => {
    it('the processor crashing mid-batch', async () => {
      let crashes = 0;
      const h = await harness({
        wrapProcessor: (handler) => async (event: KinesisStreamEvent, context) => {
          if (crashes < 3 && event.Records.length > 4) {
            crashes += 1;
            // Half the batch is handled (its results are on the stream), then the function dies.
            await handler({ Records: event.Records.slice(0, Math.floor(event.Records.length / 2)) }, context);
            throw new Error('function crashed');
          }
          return handler(event, context);
        },
      });
      try {
        const report = await h.run('run-crash');
        expect(crashes).toBe(3);
        expect(report.duplicatesDropped).toBeGreaterThan(0);
        await expectExactOutcome(h, report);
      } finally {
        await h.close();
      }
    });

    it('throttled PutRecords (a share of entries failing)', async () => {
      const h = await harness({ kinesisFaults: { throttleShare: 0.5, random: everyThird() } });
      try {
        const report = await h.run('run-throttled');
        expect(h.pipeline.faultProxy!.stats().entriesThrottled).toBeGreaterThan(10);
        await expectExactOutcome(h, report);
      } finally {
        await h.close();
      }
    });

    it('Firehose partial failures', async () => {
      const h = await harness();
      // Every third entry fails, the first one included: deterministic, however few records there are.
      h.pipeline.localFirehose!.setFaults({ failShare: 0.5, random: everyThird() });
      try {
        const report = await h.run('run-firehose');
        expect(h.pipeline.localFirehose!.stats().recordsFailed).toBeGreaterThan(0);
        await expectExactOutcome(h, report);
      } finally {
        await h.close();
      }
    });

    it('a poison pill is dead-lettered after bounded attempts, and redriven once its cause is fixed', async () => {
      let downstreamBroken = true;
      const POISON = 'c000000005';
      const job = {
        ...exampleJob,
        transform: (customer: Customer, context: TransformContext) => {
          if (downstreamBroken && customer.customerId === POISON) throw new Error('downstream unavailable');
          return exampleJob.transform(customer, context);
        },
      } as Job;
      const h = await harness({ job });
      try {
        const report = await h.run('run-poison');
        const poisonId = recordIdString({ run: 'run-poison', ...(await rowPlacement(h.pipeline, 'run-poison'))(5) });
        // The shard moved on: the run completed with the poison pill counted as a dead letter.
        await expectExactOutcome(h, report, { [poisonId]: 'retries-exhausted' });

        downstreamBroken = false;
        const redriven = await redrive(embeddedEnvironment(h.pipeline), 'run-poison', 'retries-exhausted');
        expect(redriven.redriven).toBe(1);
        await expectExactOutcome(h, { ...report, ...redriven.summary });
      } finally {
        await h.close();
      }
    });
  });

  it('a replay from the trim horizon leaves the same output and the same counts', async () => {
    const h = await harness();
    try {
      const before = await h.run('run-replay');
      const digest = await outputDigest(embeddedEnvironment(h.pipeline), 'run-replay');
      const after = await replay(embeddedEnvironment(h.pipeline), 'run-replay', 'trim-horizon');
      expect(after.replayed).toBeGreaterThan(before.slices); // every stream record of the run, markers included
      expect(after).toMatchObject({
        delivered: before.delivered,
        deadLettered: before.deadLettered,
        conserved: true,
        identical: true,
      });
      expect(after.duplicatesDropped).toBeGreaterThanOrEqual(before.delivered);
      expect(after.outputDigest).toBe(digest);
    } finally {
      await h.close();
    }
  });

  it('pause halts a run and resume continues it without loss', async () => {
    const runId = 'run-pause';
    let paused = false;
    const h = await harness({
      // The operator pauses the run just as the processor sees its first records.
      wrapProcessor: (handler) => async (event, context) => {
        if (!paused) {
          paused = true;
          await pause(embeddedEnvironment(h.pipeline), runId);
        }
        return handler(event, context);
      },
    });
    try {
      const halted = await h.run(runId);
      expect(halted.complete).toBe(false);
      const { unparked } = await unpark(embeddedEnvironment(h.pipeline), runId);
      expect(unparked).toBeGreaterThan(0);
      const resumed = await runJob({
        runId,
        pipeline: h.pipeline,
        source: { bucket: LOCAL_RESOURCES.sourceBucket, prefix: 'example/' },
        timeoutMs: 120_000,
      });
      await expectExactOutcome(h, resumed);
    } finally {
      await h.close();
    }
  });
});

describe('a local run killed with SIGKILL', () => {
  jest.setTimeout(180_000);

  it('resumes from where it was and ends with exact counts and no duplicate', async () => {
    const data = await tempDataDir();
    const runId = 'run-killed';
    try {
      const child = spawn(
        process.execPath,
        ['--import', 'tsx', join(__dirname, '../../../libs/local-runner/src/kill-fixture.ts'), data.dir, runId],
        {
          stdio: ['ignore', 'ignore', 'pipe'],
          env: { ...process.env, NODE_OPTIONS: '' },
        },
      );
      const exited = new Promise((resolve) => child.once('exit', resolve));
      // Kill it once some slices are read and some written, before the run completes.
      await new Promise<void>((resolve, reject) => {
        let seen = '';
        child.stderr!.on('data', (chunk: Buffer) => {
          seen += chunk.toString();
          if (seen.includes('KILL ME NOW')) {
            child.kill('SIGKILL');
            resolve();
          }
        });
        child.once('exit', () => reject(new Error(`the run exited before it could be killed:\n${seen}`)));
      });
      await exited;

      const h: Harness = {
        pipeline: await LocalPipeline.start({ dataDir: data.dir, ...E2E_PIPELINE }),
        run: undefined as never,
        close: async () => undefined,
      };
      try {
        const before = await h.pipeline.ledger.status(runId);
        expect(before.complete).toBe(false);
        const report = await runJob({ runId, pipeline: h.pipeline, data: DATA, timeoutMs: 120_000 });
        await expectExactOutcome(h, report);
      } finally {
        await h.pipeline.stop();
      }
    } finally {
      await data.remove();
    }
  });
});
