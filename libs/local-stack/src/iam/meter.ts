/**
 * What the functions asked of the embedded services, counted where every call passes: at the IAM
 * gateways, once a call is allowed and forwarded. Calls by principal and IAM action; the records
 * of every put (Kinesis PutRecord(s), Firehose PutRecord(Batch)) by size in started KiB, which is
 * all their billing needs (Kinesis rounds to 1 KB or 25 KB, Firehose to 5 KB) with memory bounded
 * by the largest record size, whatever the number of records.
 */

/** Records put by one action: how many, their bytes, and how many of each size in started KiB. */
export interface PutSizes {
  records: number;
  bytes: number;
  /** Started KiB (ceil(bytes / 1024), at least 1) → records of that size. */
  byStartedKiB: Record<number, number>;
}

export interface MeterReading {
  /** Principal (as AWS names the caller) → IAM action → calls. */
  calls: Record<string, Record<string, number>>;
  /** IAM action of a put (`kinesis:PutRecords`, `firehose:PutRecordBatch`, …) → the records it carried. */
  puts: Record<string, PutSizes>;
}

export class CallMeter {
  private calls = new Map<string, Map<string, number>>();
  private puts = new Map<string, PutSizes>();
  /** Off by default (a run touches a key per spilled record): tests turn it on to count calls per key. */
  private resources?: Map<string, number>;

  /** Counts calls per resource too, from now on: `principal action resource` → calls. */
  keepResources(): void {
    this.resources ??= new Map();
  }

  /** Calls per principal, action and resource since keepResources() (empty before). */
  readResources(): { principal: string; action: string; resource: string; calls: number }[] {
    return [...(this.resources ?? [])].map(([key, calls]) => {
      const [principal, action, resource] = key.split(' ');
      return { principal, action, resource, calls };
    });
  }

  count(principal: string, action: string, resource?: string): void {
    if (this.resources && resource !== undefined) {
      const key = `${principal} ${action} ${resource}`;
      this.resources.set(key, (this.resources.get(key) ?? 0) + 1);
    }
    const actions = this.calls.get(principal) ?? new Map<string, number>();
    this.calls.set(principal, actions);
    actions.set(action, (actions.get(action) ?? 0) + 1);
  }

  /** Adds the records of one put call, by their sizes in bytes. */
  put(action: string, sizes: number[]): void {
    const entry = this.puts.get(action) ?? { records: 0, bytes: 0, byStartedKiB: {} };
    this.puts.set(action, entry);
    for (const bytes of sizes) {
      const kib = Math.max(1, Math.ceil(bytes / 1024));
      entry.records += 1;
      entry.bytes += bytes;
      entry.byStartedKiB[kib] = (entry.byStartedKiB[kib] ?? 0) + 1;
    }
  }

  read(): MeterReading {
    const calls: MeterReading['calls'] = {};
    for (const [principal, actions] of this.calls) calls[principal] = Object.fromEntries(actions);
    const puts: MeterReading['puts'] = {};
    for (const [action, sizes] of this.puts) puts[action] = { ...sizes, byStartedKiB: { ...sizes.byStartedKiB } };
    return { calls, puts };
  }

  reset(): void {
    this.calls.clear();
    this.puts.clear();
    this.resources?.clear();
  }
}

/** Bytes a base64 string decodes to, without decoding it. */
export function base64Bytes(text: string): number {
  const padding = text.endsWith('==') ? 2 : text.endsWith('=') ? 1 : 0;
  return Math.floor((text.length * 3) / 4) - padding;
}

const utf8Bytes = (text: unknown) => (typeof text === 'string' ? Buffer.byteLength(text, 'utf8') : 0);
const dataBytes = (data: unknown) => (typeof data === 'string' ? base64Bytes(data) : 0);

/**
 * The records a Kinesis or Firehose put carries, by size: a Kinesis record is its data and its
 * partition key (what its 1 MiB limit counts); a Firehose record its data. Undefined for any other call.
 */
export function putRecordSizes(action: string, body: Record<string, unknown>): number[] | undefined {
  const records = Array.isArray(body.Records) ? (body.Records as Record<string, unknown>[]) : [];
  switch (action) {
    case 'kinesis:PutRecords':
      return records.map((r) => dataBytes(r.Data) + utf8Bytes(r.PartitionKey));
    case 'kinesis:PutRecord':
      return [dataBytes(body.Data) + utf8Bytes(body.PartitionKey)];
    case 'firehose:PutRecordBatch':
      return records.map((r) => dataBytes(r.Data));
    case 'firehose:PutRecord':
      return [dataBytes((body.Record as Record<string, unknown> | undefined)?.Data)];
    default:
      return undefined;
  }
}
