import { CreateDeliveryStreamCommand, FirehoseClient } from '@aws-sdk/client-firehose';
import { NodeHttpHandler } from '@smithy/node-http-handler';
import { firehoseDeliveryPort } from '@pipeline/delivery';
import { FIREHOSE } from '@pipeline/limits';
import { startLocalFirehose, type LocalFirehose } from '@pipeline/local-stack';
import { kinesisEvent, startTestStack, type TestStack } from '@pipeline/local-stack/testing';
import { getJson } from '@pipeline/object-store';
import {
  encodeEnvelope,
  LAYOUT,
  partitionKeyOf,
  type DeadLetterEnvelope,
  type Envelope,
  type RecordId,
} from '@pipeline/records';
import { ControlCache, RunLedger } from '@pipeline/run-ledger';
import { Spill } from '@pipeline/spill';
import { writeBatch, type WriterDeps } from './write-batch';

const RESULTS = 'results-bucket';
const SPILL = 'spill-bucket';
const STREAM = 'deliveries';
const RUN = 'run-w';
const pk = partitionKeyOf(RUN, 's000000');
const id = (pos: number): RecordId => ({ run: RUN, slice: 's000000', pos });
const result = (pos: number, body: unknown = { n: pos }) => ({
  data: encodeEnvelope({ v: 1, kind: 'result', id: id(pos), body }),
  partitionKey: pk,
});
const marker = (count: number) => ({
  data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: RUN, slice: 's000000', count }),
  partitionKey: pk,
});

describe('writeBatch: the writer against real S3 and the local Firehose endpoint', () => {
  let stack: TestStack;
  let firehose: LocalFirehose;
  let client: FirehoseClient;
  let deps: WriterDeps;

  const delivered = async (): Promise<{ id: string; run: string; result?: unknown; resultKey?: string }[]> => {
    await firehose.flush();
    const lines = [];
    for await (const object of stack.store.list(RESULTS, LAYOUT.resultsPrefix(RUN))) {
      const body = Buffer.from((await stack.store.get(RESULTS, object.key))!).toString('utf8');
      lines.push(
        ...body
          .split('\n')
          .filter(Boolean)
          .map((l) => JSON.parse(l)),
      );
    }
    return lines;
  };

  beforeAll(async () => {
    stack = await startTestStack({ buckets: [RESULTS, SPILL] });
    firehose = await startLocalFirehose({ s3: stack.s3, bufferOverride: { intervalMs: 60_000 } });
    client = new FirehoseClient({
      endpoint: firehose.endpoint,
      region: 'us-east-1',
      credentials: { accessKeyId: 'x', secretAccessKey: 'x' },
      requestHandler: new NodeHttpHandler(),
    });
    await client.send(
      new CreateDeliveryStreamCommand({
        DeliveryStreamName: STREAM,
        ExtendedS3DestinationConfiguration: {
          RoleARN: 'arn:aws:iam::000000000000:role/delivery',
          BucketARN: `arn:aws:s3:::${RESULTS}`,
          Prefix: 'results/run=!{partitionKeyFromQuery:run}/',
          ErrorOutputPrefix: 'delivery-errors/!{firehose:error-output-type}/',
          DynamicPartitioningConfiguration: { Enabled: true },
          ProcessingConfiguration: {
            Enabled: true,
            Processors: [
              { Type: 'RecordDeAggregation', Parameters: [{ ParameterName: 'SubRecordType', ParameterValue: 'JSON' }] },
              {
                Type: 'MetadataExtraction',
                Parameters: [
                  { ParameterName: 'MetadataExtractionQuery', ParameterValue: '{run: .run}' },
                  { ParameterName: 'JsonParsingEngine', ParameterValue: 'JQ-1.6' },
                ],
              },
              { Type: 'AppendDelimiterToRecord' },
            ],
          },
        },
      }),
    );
    const ledger = new RunLedger(stack.store, RESULTS);
    deps = {
      deliver: firehoseDeliveryPort(client),
      deliveryStream: STREAM,
      store: stack.store,
      resultsBucket: RESULTS,
      ledger,
      spill: { store: stack.store, bucket: SPILL, prefix: 'spill/', thresholdBytes: 1024 },
      control: new ControlCache(ledger, 0),
    };
    // The reader planned RUN and finished its slice s000000 with 5 records.
    await ledger.createManifest({
      runId: RUN,
      job: 'job',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices: [{ id: 's000000' }, { id: 's000001' }],
    });
    await ledger.markSliceRead({ run: RUN, slice: 's000000', count: 5, malformed: 0, spilled: 0, at: 'now' });
  });
  afterAll(async () => {
    client.destroy();
    await firehose.close();
    await stack.close();
  });

  it('delivers results as one line each, packed several to a Firehose record', async () => {
    const before = firehose.stats().recordsAccepted;
    const response = await writeBatch(kinesisEvent([result(0), result(1), result(2)]), deps);
    expect(response).toMatchObject({ batchItemFailures: [], counts: { delivered: 3 } });
    expect(firehose.stats().recordsAccepted - before).toBe(1);
    expect(await delivered()).toEqual(
      expect.arrayContaining([0, 1, 2].map((pos) => ({ id: `${RUN}/s000000/${pos}`, run: RUN, result: { n: pos } }))),
    );
  });

  it(`packs at most ${FIREHOSE.maxDeaggregatedRecords} lines into one Firehose record, which Firehose splits`, async () => {
    const limit = FIREHOSE.maxDeaggregatedRecords;
    const before = firehose.stats();
    await writeBatch(kinesisEvent(Array.from({ length: limit }, (_, i) => result(1_000 + i))), deps);
    const atLimit = firehose.stats();
    expect(atLimit.recordsAccepted - before.recordsAccepted).toBe(1);

    await writeBatch(kinesisEvent(Array.from({ length: limit + 1 }, (_, i) => result(2_000 + i))), deps);
    const overLimit = firehose.stats();
    expect(overLimit.recordsAccepted - atLimit.recordsAccepted).toBe(2);

    const ids = new Set((await delivered()).map((line) => line.id));
    for (let i = 0; i < limit; i++) expect(ids.has(`${RUN}/s000000/${1_000 + i}`)).toBe(true);
    for (let i = 0; i <= limit; i++) expect(ids.has(`${RUN}/s000000/${2_000 + i}`)).toBe(true);
    expect(firehose.stats().errorRecordsDelivered).toBe(before.errorRecordsDelivered);
  });

  it('stores a dead letter under its run and reason, with the reason, the stage and the record', async () => {
    const letter: DeadLetterEnvelope = {
      v: 1,
      kind: 'dead-letter',
      id: id(3),
      stage: 'processor',
      reason: 'invalid-input',
      message: 'email: invalid',
      payload: { email: 'x' },
    };
    await writeBatch(kinesisEvent([{ data: encodeEnvelope(letter), partitionKey: pk }]), deps);
    const stored = await getJson<DeadLetterEnvelope & { recordedAt: string }>(
      stack.store,
      RESULTS,
      `dead-letters/run=${RUN}/reason=invalid-input/s000000/3.json`,
    );
    expect(stored).toMatchObject({ ...letter, recordedAt: expect.any(String) });
  });

  it('records a slice as done when its marker arrives, after the results before it are delivered', async () => {
    await writeBatch(kinesisEvent([result(4), marker(5)]), deps);
    expect(await getJson(stack.store, RESULTS, LAYOUT.sliceDoneKey(RUN, 's000000'))).toMatchObject({
      run: RUN,
      slice: 's000000',
      count: 5,
    });
    expect((await delivered()).map((l) => l.id)).toContain(`${RUN}/s000000/4`);
  });

  it('resolves a spilled result and delivers it whole', async () => {
    const spill = new Spill(deps.spill);
    const body = { text: 'r'.repeat(5000) };
    const bytes = await spill.stage({ v: 1, kind: 'result', id: id(6), body });
    await writeBatch(kinesisEvent([{ data: bytes, partitionKey: pk }]), deps);
    expect((await delivered()).find((l) => l.id === `${RUN}/s000000/6`)).toEqual({
      id: `${RUN}/s000000/6`,
      run: RUN,
      result: body,
    });
  });

  it('stores a result too large for a Firehose record whole and delivers a line that points at it', async () => {
    const spill = new Spill(deps.spill);
    const body = { text: 'L'.repeat(FIREHOSE.maxRecordBytes) };
    await writeBatch(
      kinesisEvent([{ data: await spill.stage({ v: 1, kind: 'result', id: id(7), body }), partitionKey: pk }]),
      deps,
    );
    const line = (await delivered()).find((l) => l.id === `${RUN}/s000000/7`);
    expect(line).toEqual({ id: `${RUN}/s000000/7`, run: RUN, resultKey: LAYOUT.largeResultKey(id(7)) });
    expect(await getJson(stack.store, RESULTS, line!.resultKey!)).toEqual(body);
  });

  it('dead-letters a pointer whose spilled object was tampered with, at the writer stage', async () => {
    const spill = new Spill(deps.spill);
    const pointer = JSON.parse(
      Buffer.from(await spill.stage({ v: 1, kind: 'result', id: id(8), body: { t: 'q'.repeat(3000) } })).toString(),
    ) as Envelope;
    if (pointer.kind !== 'pointer') throw new Error('expected a pointer');
    await stack.store.put(SPILL, pointer.pointer.key, 'tampered');
    await writeBatch(kinesisEvent([{ data: encodeEnvelope(pointer), partitionKey: pk }]), deps);
    expect(
      await getJson(stack.store, RESULTS, `dead-letters/run=${RUN}/reason=pointer-mismatch/s000000/8.json`),
    ).toMatchObject({ stage: 'writer' });
  });

  it('dead-letters bytes that are not an envelope, named by where they were on the stream', async () => {
    const event = kinesisEvent([{ data: 'garbage', partitionKey: pk }]);
    const response = await writeBatch(event, deps);
    expect(response.counts.deadLettered).toBe(1);
    const keys = [];
    for await (const o of stack.store.list(RESULTS, 'dead-letters/run=unattributed/reason=invalid-envelope/'))
      keys.push(o.key);
    expect(keys.some((k) => k.endsWith(`-${event.Records[0].kinesis.sequenceNumber}.json`))).toBe(true);
  });

  it('dead-letters a data envelope, which does not belong on the results stream', async () => {
    await writeBatch(
      kinesisEvent([{ data: encodeEnvelope({ v: 1, kind: 'data', id: id(9), body: {} }), partitionKey: pk }]),
      deps,
    );
    expect(
      await getJson(stack.store, RESULTS, `dead-letters/run=${RUN}/reason=invalid-envelope/s000000/9.json`),
    ).toMatchObject({ stage: 'writer' });
  });

  it('records that a run was handed to Firehose when the marker of its last planned slice arrives, and does not complete it', async () => {
    const run = 'run-done';
    const slices = ['s000000', 's000001'].map((sliceId) => ({ id: sliceId }));
    await deps.ledger.createManifest({
      runId: run,
      job: 'job',
      createdAt: 'now',
      source: { bucket: 'in', prefix: '' },
      slices,
    });
    const mark = (slice: string) => ({
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run, slice, count: 3 }),
      partitionKey: partitionKeyOf(run, slice),
    });
    for (const slice of ['s000000', 's000001'])
      await deps.ledger.markSliceRead({ run, slice, count: 3, malformed: 0, spilled: 1, at: 'now' });
    const handedAt = new Date('2026-11-25T10:00:00.000Z');

    await writeBatch(kinesisEvent([mark('s000000')]), { ...deps, now: () => handedAt });
    expect(await getJson(stack.store, RESULTS, LAYOUT.deliveredKey(run))).toBeUndefined();

    await writeBatch(kinesisEvent([mark('s000001')]), { ...deps, now: () => handedAt });
    expect(await getJson(stack.store, RESULTS, LAYOUT.deliveredKey(run))).toEqual({
      runId: run,
      handedAt: handedAt.toISOString(),
    });
    // Complete means the output is in S3: only the finisher, which checks it, completes a run.
    expect(await getJson(stack.store, RESULTS, LAYOUT.completeKey(run))).toBeUndefined();
  });

  describe('markers are claims, checked', () => {
    const forgedRun = 'run-forged';
    const mark = (slice: string, count: number, partitionKey = partitionKeyOf(forgedRun, slice)) => ({
      data: encodeEnvelope({ v: 1, kind: 'end-of-slice', run: forgedRun, slice, count }),
      partitionKey,
    });
    const rejected = async () => {
      const keys: string[] = [];
      for await (const o of stack.store.list(RESULTS, LAYOUT.deadLettersPrefix(forgedRun, 'rejected-marker')))
        keys.push(o.key);
      return keys;
    };

    beforeAll(async () => {
      await deps.ledger.createManifest({
        runId: forgedRun,
        job: 'job',
        createdAt: 'now',
        source: { bucket: 'in', prefix: '' },
        slices: [{ id: 's000000' }, { id: 's000001' }],
      });
    });

    it('does not complete a run from markers of slices the reader has not finished', async () => {
      const response = await writeBatch(
        kinesisEvent([mark('s000000', 0), mark('s000001', 0), mark('s000001', 0, 'any-key')]),
        deps,
      );
      expect(response.counts).toMatchObject({ slicesDone: 0, rejectedMarkers: 3, deadLettered: 3 });
      expect(await getJson(stack.store, RESULTS, LAYOUT.completeKey(forgedRun))).toBeUndefined();
      expect(await deps.ledger.getSliceDone(forgedRun, 's000000')).toBeUndefined();
      expect(await rejected()).toHaveLength(3);
    });

    it('keeps the first true marker of a slice: a later one with another count cannot rewrite it', async () => {
      await deps.ledger.markSliceRead({
        run: forgedRun,
        slice: 's000000',
        count: 4,
        malformed: 0,
        spilled: 0,
        at: 'a',
      });
      await writeBatch(kinesisEvent([mark('s000000', 4)]), deps);
      const first = await deps.ledger.getSliceDone(forgedRun, 's000000');
      expect(first).toMatchObject({ count: 4 });
      const again = await writeBatch(kinesisEvent([mark('s000000', 9), mark('s000000', 4)]), deps);
      expect(again.counts).toMatchObject({ slicesDone: 0, rejectedMarkers: 1 });
      expect(await deps.ledger.getSliceDone(forgedRun, 's000000')).toEqual(first);
      expect(await deps.ledger.status(forgedRun)).toMatchObject({ read: 4 });
    });
  });

  it('stores a dead letter too deeply nested to encode again as unencodable, with its line as text, and goes on', async () => {
    const depth = 200_000;
    const line = `{"v":1,"kind":"dead-letter","id":{"run":"${RUN}","slice":"s000000","pos":50},"stage":"processor","reason":"invalid-input","message":"deep","payload":${'['.repeat(depth)}${']'.repeat(depth)}}`;
    const response = await writeBatch(kinesisEvent([{ data: line, partitionKey: pk }, result(51)]), deps);
    expect(response).toMatchObject({ batchItemFailures: [], counts: { delivered: 1, deadLettered: 1 } });
    const stored = await getJson<DeadLetterEnvelope>(
      stack.store,
      RESULTS,
      `dead-letters/run=${RUN}/reason=unencodable/s000000/50.json`,
    );
    expect(stored).toMatchObject({ stage: 'writer', reason: 'unencodable' });
    expect(stored!.payload === line).toBe(true);
  });

  it('stores a KPL-aggregated record as one dead letter with all its bytes', async () => {
    const kpl = Buffer.concat([Buffer.from([0xf3, 0x89, 0x9a, 0xc2]), Buffer.from('\n{}\n{}\n'), Buffer.alloc(16)]);
    const event = kinesisEvent([{ data: kpl, partitionKey: pk }]);
    const response = await writeBatch(event, deps);
    expect(response.counts.deadLettered).toBe(1);
    const key = LAYOUT.deadLetterKey({
      v: 1,
      kind: 'dead-letter',
      stage: 'writer',
      reason: 'invalid-envelope',
      message: '',
      payload: undefined,
      origin: { partitionKey: pk, sequenceNumber: event.Records[0].kinesis.sequenceNumber },
    });
    expect(await getJson(stack.store, RESULTS, key)).toMatchObject({ payload: kpl.toString('base64') });
  });

  it('parks the records of a paused run instead of delivering them', async () => {
    await deps.ledger.setControl('run-paused', { state: 'paused', at: new Date().toISOString() });
    const paused = {
      data: encodeEnvelope({ v: 1, kind: 'result', id: { run: 'run-paused', slice: 's000000', pos: 0 }, body: {} }),
      partitionKey: 'run-paused/s000000',
    };
    const response = await writeBatch(kinesisEvent([paused]), deps);
    expect(response.counts).toMatchObject({ parked: 1, delivered: 0 });
  });
});
