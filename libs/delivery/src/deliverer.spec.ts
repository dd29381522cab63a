/**
 * Deliverer with a fake DeliveryPort that keeps what it accepts. No Firehose-compatible server is
 * available to this lib's tests yet; once libs/local-stack serves one, the limit tests belong there.
 */
import { ItemTooLargeError, type EntryFailure } from '@pipeline/batching';
import { DEFAULTS, FIREHOSE } from '@pipeline/limits';
import { Deliverer, DeliveryError } from './deliverer';
import type { DeliveryPort } from './port';

const noWait = (): Promise<void> => Promise.resolve();
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const asText = (r: Uint8Array): string => new TextDecoder().decode(r);

/**
 * Accepts every record unless `reject(record, call)` says otherwise, then answers as Firehose does
 * for a throttled entry. Counts calls and keeps accepted records in arrival order.
 */
function fakePort(reject: (record: Uint8Array, call: number) => boolean = () => false) {
  const calls: number[] = [];
  const delivered: Uint8Array[] = [];
  const port: DeliveryPort = {
    async putRecordBatch(_name, records) {
      calls.push(records.length);
      const failures: EntryFailure[] = [];
      records.forEach((record, index) => {
        if (reject(record, calls.length))
          failures.push({ index, code: 'ServiceUnavailableException', message: 'Slow down.' });
        else delivered.push(record);
      });
      return failures;
    },
  };
  return { port, calls, delivered };
}

const small = (count: number): Uint8Array[] => Array.from({ length: count }, (_, i) => text(`result-${i}`));

/** Records of at most 1,000 KiB adding up to exactly 4 MiB; with `extraByte`, the last one is a byte larger. */
function recordsFillingOneBatch(extraByte = 0): Uint8Array[] {
  const records: Uint8Array[] = [];
  for (let left = FIREHOSE.maxBytesPerBatch; left > 0; ) {
    const size = Math.min(left, FIREHOSE.maxRecordBytes);
    left -= size;
    records.push(new Uint8Array(size + (left === 0 ? extraByte : 0)).fill(records.length));
  }
  return records;
}

describe('Deliverer', () => {
  it('delivers exactly 500 records in one PutRecordBatch call', async () => {
    const { port, calls, delivered } = fakePort();

    await new Deliverer({ deliveryStreamName: 'results', port }).deliverAll(small(FIREHOSE.maxRecordsPerBatch));

    expect(calls).toEqual([FIREHOSE.maxRecordsPerBatch]);
    expect(delivered).toHaveLength(FIREHOSE.maxRecordsPerBatch);
  });

  it('delivers 501 records in two calls, in order', async () => {
    const { port, calls, delivered } = fakePort();
    const records = small(FIREHOSE.maxRecordsPerBatch + 1);

    await new Deliverer({ deliveryStreamName: 'results', port }).deliverAll(records);

    expect(calls).toEqual([FIREHOSE.maxRecordsPerBatch, 1]);
    expect(delivered.map(asText)).toEqual(records.map(asText));
  });

  it('delivers records totalling exactly 4 MiB in one call', async () => {
    const { port, calls } = fakePort();
    const records = recordsFillingOneBatch();
    expect(records.reduce((sum, r) => sum + r.byteLength, 0)).toBe(FIREHOSE.maxBytesPerBatch);

    await new Deliverer({ deliveryStreamName: 'results', port }).deliverAll(records);

    expect(calls).toEqual([records.length]);
  });

  it('delivers records totalling 4 MiB + 1 byte in two calls', async () => {
    const { port, calls, delivered } = fakePort();
    const records = recordsFillingOneBatch(1);
    expect(records.reduce((sum, r) => sum + r.byteLength, 0)).toBe(FIREHOSE.maxBytesPerBatch + 1);

    await new Deliverer({ deliveryStreamName: 'results', port }).deliverAll(records);

    expect(calls).toEqual([records.length - 1, 1]);
    expect(delivered).toEqual(records);
  });

  it('accepts a record of exactly 1,000 KiB', async () => {
    const { port, calls } = fakePort();

    await new Deliverer({ deliveryStreamName: 'results', port }).deliverAll([new Uint8Array(FIREHOSE.maxRecordBytes)]);

    expect(calls).toEqual([1]);
  });

  it('throws ItemTooLargeError for a record one byte over 1,000 KiB, before any call', async () => {
    const { port, calls } = fakePort();
    const deliverer = new Deliverer({ deliveryStreamName: 'results', port });

    await expect(deliverer.add(new Uint8Array(FIREHOSE.maxRecordBytes + 1))).rejects.toThrow(ItemTooLargeError);
    await deliverer.flush();
    expect(calls).toEqual([]);
  });

  it('re-sends only the rejected entries until every record is delivered exactly once', async () => {
    const position = (record: Uint8Array): number => Number(asText(record).split('-')[1]);
    // Every third record is rejected in each of the first three calls (all in the first batch).
    const { port, calls, delivered } = fakePort((record, call) => call <= 3 && position(record) % 3 === 0);
    const records = small(1_200);
    const rejectedPerCall = Math.ceil(FIREHOSE.maxRecordsPerBatch / 3);
    const deliverer = new Deliverer({ deliveryStreamName: 'results', port, sleep: noWait });

    await deliverer.deliverAll(records);

    expect(delivered.map(asText).sort()).toEqual(records.map(asText).sort());
    expect(calls).toEqual([
      FIREHOSE.maxRecordsPerBatch,
      rejectedPerCall,
      rejectedPerCall,
      rejectedPerCall,
      FIREHOSE.maxRecordsPerBatch,
      records.length - 2 * FIREHOSE.maxRecordsPerBatch,
    ]);
    expect(deliverer.stats).toEqual({
      sent: records.length,
      failed: 0,
      batches: 3,
      calls: 6,
      retried: 3 * rejectedPerCall,
    });
  });

  it('throws DeliveryError naming the stream, the count and the codes after the bounded attempts', async () => {
    const attempts = 3;
    const { port, calls, delivered } = fakePort((record) => asText(record).startsWith('bad'));
    const deliverer = new Deliverer({ deliveryStreamName: 'results', port, attempts, sleep: noWait });

    const error = await deliverer.deliverAll([...small(2), text('bad-1'), text('bad-2')]).catch((e: unknown) => e);

    expect(error).toBeInstanceOf(DeliveryError);
    const { failed, message } = error as DeliveryError;
    expect(failed.map((f) => asText(f.item))).toEqual(['bad-1', 'bad-2']);
    expect(message).toContain(
      `delivery stream results: 2 records not delivered after ${attempts} attempts (ServiceUnavailableException x2)`,
    );
    expect(calls).toHaveLength(attempts);
    expect(delivered.map(asText)).toEqual(['result-0', 'result-1']);
  });

  it('uses DEFAULTS.putAttempts when no attempts are given', async () => {
    const { port, calls } = fakePort(() => true);

    await expect(
      new Deliverer({ deliveryStreamName: 'results', port, sleep: noWait }).deliverAll(small(1)),
    ).rejects.toThrow(DeliveryError);
    expect(calls).toHaveLength(DEFAULTS.putAttempts);
  });

  it('throws DeliveryError with the cause when the last call fails as a whole', async () => {
    const unavailable = Object.assign(new Error('Service unavailable'), { name: 'ServiceUnavailableException' });
    const port: DeliveryPort = { putRecordBatch: async () => Promise.reject(unavailable) };
    const deliverer = new Deliverer({ deliveryStreamName: 'results', port, attempts: 2, sleep: noWait });

    const error = (await deliverer.deliverAll(small(2)).catch((e: unknown) => e)) as DeliveryError;

    expect(error).toBeInstanceOf(DeliveryError);
    expect(error.failed).toHaveLength(2);
    expect(error.cause).toBe(unavailable);
  });
});
