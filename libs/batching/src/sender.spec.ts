import { DEFAULTS } from '@pipeline/limits';
import { ItemTooLargeError } from './packer';
import type { EntryFailure, FailedItem } from './retry';
import { BatchSender, type BatchSenderOptions } from './sender';

class GaveUpError extends Error {
  constructor(
    readonly failed: FailedItem<number>[],
    readonly attempts: number,
    override readonly cause?: unknown,
  ) {
    super(`${failed.length} failed after ${attempts}`);
  }
}

const limits = { maxCount: 3, maxBytes: 100, maxItemBytes: 50 };

function sender(
  send: (items: number[]) => Promise<EntryFailure[]>,
  attempts: number = DEFAULTS.putAttempts,
): BatchSender<number> {
  const opts: BatchSenderOptions<number> = {
    limits,
    measure: (n) => n,
    send,
    retry: { attempts, baseMs: DEFAULTS.backoffBaseMs, capMs: DEFAULTS.backoffCapMs, sleep: () => Promise.resolve() },
    failure: (failed, calls, cause) => new GaveUpError(failed, calls, cause),
  };
  return new BatchSender(opts);
}

/** A send that accepts everything and remembers each call's items. */
function recording(): { calls: number[][]; send: (items: number[]) => Promise<EntryFailure[]> } {
  const calls: number[][] = [];
  return { calls, send: async (items) => (calls.push(items), []) };
}

describe('BatchSender', () => {
  it('sends nothing until a batch is full', async () => {
    const { calls, send } = recording();
    const s = sender(send);

    for (const n of [1, 2, 3]) await s.add(n);

    expect(calls).toEqual([]);
  });

  it('sends the full batch when the next item does not fit, and the rest on flush', async () => {
    const { calls, send } = recording();
    const s = sender(send);

    for (const n of [1, 2, 3, 4]) await s.add(n);
    await s.flush();

    expect(calls).toEqual([[1, 2, 3], [4]]);
  });

  it('makes no call when flushing an empty buffer', async () => {
    const { calls, send } = recording();

    await sender(send).flush();

    expect(calls).toEqual([]);
  });

  it('sends every item of an async iterable with sendAll', async () => {
    const { calls, send } = recording();
    async function* source(): AsyncGenerator<number> {
      for (let i = 1; i <= 7; i++) yield i;
    }

    await sender(send).sendAll(source());

    expect(calls).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('throws ItemTooLargeError from add before any call', async () => {
    const { calls, send } = recording();

    await expect(sender(send).add(limits.maxItemBytes + 1)).rejects.toThrow(ItemTooLargeError);
    expect(calls).toEqual([]);
  });

  it('keeps batches in order when callers do not await add', async () => {
    const calls: number[][] = [];
    // The first call is slow, so an unordered sender would let the second overtake it.
    const send = async (items: number[]): Promise<EntryFailure[]> => {
      if (items[0] === 1) await new Promise((resolve) => setTimeout(resolve, 20));
      calls.push(items);
      return [];
    };
    const s = sender(send);

    const adds = [1, 2, 3, 4, 5, 6, 7].map((n) => s.add(n));
    await Promise.all([...adds, s.flush()]);

    expect(calls).toEqual([[1, 2, 3], [4, 5, 6], [7]]);
  });

  it('throws the failure error with the entries still failing after the last attempt', async () => {
    const send = async (items: number[]): Promise<EntryFailure[]> =>
      items.flatMap((n, index) => (n === 2 ? [{ index, code: 'InternalFailure', message: 'boom' }] : []));
    const s = sender(send, 3);
    for (const n of [1, 2, 3]) await s.add(n);

    const error = await s.flush().catch((e: unknown) => e);

    expect(error).toBeInstanceOf(GaveUpError);
    expect((error as GaveUpError).failed).toEqual([{ item: 2, code: 'InternalFailure', message: 'boom' }]);
    expect((error as GaveUpError).attempts).toBe(3);
  });

  it('reports the entries of a last call that failed as a whole, with its error as cause', async () => {
    let call = 0;
    const throttling = Object.assign(new Error('Rate exceeded'), { name: 'ThrottlingException' });
    const send = async (items: number[]): Promise<EntryFailure[]> => {
      call += 1;
      if (call === 1)
        return items.flatMap((n, index) => (n === 1 ? [] : [{ index, code: 'InternalFailure', message: '' }]));
      throw throttling;
    };
    const s = sender(send, 2);
    for (const n of [1, 2, 3]) await s.add(n);

    const error = (await s.flush().catch((e: unknown) => e)) as GaveUpError;

    expect(error.failed).toEqual([
      { item: 2, code: 'ThrottlingException', message: 'Rate exceeded' },
      { item: 3, code: 'ThrottlingException', message: 'Rate exceeded' },
    ]);
    expect(error.cause).toBe(throttling);
    expect(s.stats).toMatchObject({ sent: 1, failed: 2 });
  });

  it('counts items sent, failed, batches, calls and retried entries', async () => {
    let call = 0;
    // The first call of each batch fails its first entry once.
    const send = async (): Promise<EntryFailure[]> =>
      ++call % 2 === 1 ? [{ index: 0, code: 'InternalFailure', message: '' }] : [];
    const s = sender(send);

    await s.sendAll([1, 2, 3, 4, 5]);

    expect(s.stats).toEqual({ sent: 5, failed: 0, batches: 2, calls: 4, retried: 2 });
  });

  it('lets a port bug (an index outside the call) through unchanged', async () => {
    const s = sender(async () => [{ index: 9, code: 'InternalFailure', message: '' }]);
    await s.add(1);

    await expect(s.flush()).rejects.toThrow(RangeError);
  });
});
