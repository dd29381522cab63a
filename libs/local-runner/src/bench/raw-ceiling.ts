import {
  CreateStreamCommand,
  DeleteStreamCommand,
  DescribeStreamSummaryCommand,
  type KinesisClient,
} from '@aws-sdk/client-kinesis';
import { exampleRow } from '@pipeline/example-job';
import { DEFAULTS } from '@pipeline/limits';
import { encodeEnvelope, partitionKeyOf } from '@pipeline/records';
import { kinesisPutRecordsPort, StreamProducer, type StreamRecord } from '@pipeline/stream-producer';
import { benchData } from './data';
import { memoryPutRecordsPort } from './memory';

/** Envelopes in the pool of packed records the ceiling puts over and over (about 11 MB). */
const POOL_ENVELOPES = 10_000;

export async function createActiveStream(kinesis: KinesisClient, name: string, shards: number): Promise<void> {
  await kinesis.send(new CreateStreamCommand({ StreamName: name, ShardCount: shards }));
  for (;;) {
    const { StreamDescriptionSummary } = await kinesis.send(new DescribeStreamSummaryCommand({ StreamName: name }));
    if (StreamDescriptionSummary?.StreamStatus === 'ACTIVE') return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Packed {
  record: StreamRecord;
  envelopes: number;
}

/**
 * Kinesis records shaped like the pipeline's: the bench's envelopes of one slice, packed by the
 * reader's own producer (`aggregateBytes`) into records of up to 24 KiB, one pool per reader lane.
 */
export async function packedPool(envelopes: number, lanes: number): Promise<Packed[][]> {
  const data = benchData(envelopes);
  const pools: Packed[][] = [];
  for (let lane = 0; lane < lanes; lane++) {
    const port = memoryPutRecordsPort({ keep: true });
    const id = { run: 'bench-raw', slice: `s${String(lane).padStart(6, '0')}` };
    const producer = new StreamProducer({ streamName: 'pool', port, aggregateBytes: DEFAULTS.aggregateBytes });
    for (let pos = lane; pos < Math.min(envelopes, POOL_ENVELOPES); pos += lanes) {
      const envelope = {
        v: 1 as const,
        kind: 'data' as const,
        id: { ...id, pos },
        body: JSON.parse(exampleRow(pos, data)),
      };
      await producer.add({ data: encodeEnvelope(envelope), partitionKey: partitionKeyOf(id.run, id.slice) });
    }
    await producer.flush();
    pools.push(port.records.map((record) => ({ record, envelopes: countLines(record.data) })));
  }
  return pools;
}

function countLines(data: Uint8Array): number {
  let lines = 1;
  for (const byte of data) if (byte === 0x0a) lines += 1;
  return lines;
}

/**
 * The put ceiling of this Kinesis server for the pipeline's records: `envelopes` envelopes, packed
 * as the reader packs them, put with PutRecords only (no reading, no handlers) at the reader's
 * concurrency, into a stream of its own that is deleted afterwards. Envelopes per second.
 */
export async function rawPutCeiling(
  kinesis: KinesisClient,
  options: { envelopes: number; shards: number; tag: string },
): Promise<{ envelopesPerSecond: number; records: number; seconds: number }> {
  const stream = `bench-raw-${options.tag}`;
  await createActiveStream(kinesis, stream, options.shards);
  const lanes = DEFAULTS.readerConcurrency;
  const pools = await packedPool(options.envelopes, lanes);
  let records = 0;
  let envelopes = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    pools.map(async (pool, lane) => {
      const quota = Math.floor(options.envelopes / lanes) + (lane < options.envelopes % lanes ? 1 : 0);
      const producer = new StreamProducer({ streamName: stream, port: kinesisPutRecordsPort(kinesis) });
      for (let sent = 0, i = 0; sent < quota; i++) {
        const packed = pool[i % pool.length];
        await producer.add(packed.record);
        sent += packed.envelopes;
        envelopes += packed.envelopes;
        records += 1;
      }
      await producer.flush();
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  // The server keeps what it is given: let it drop this stream before the next measurement.
  await kinesis.send(new DeleteStreamCommand({ StreamName: stream }));
  return { envelopesPerSecond: envelopes / seconds, records, seconds };
}
