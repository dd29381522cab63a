import type { Context, KinesisStreamBatchResponse, KinesisStreamEvent } from 'aws-lambda';
import { createEventSourceMapping } from '../mapping';
import type { EventSourceMapping, EventSourceMappingOptions, KinesisEventHandler, OnFailureRecord } from '../types';
import { startTestKinesis, type TestKinesis } from './kinesis';

type Response = KinesisStreamBatchResponse | void | unknown;

/** What a recording handler saw, in call order. */
export interface Recorder {
  handler: KinesisEventHandler;
  events: KinesisStreamEvent[];
  contexts: Context[];
  /** Decoded data of each delivery's records. */
  deliveries: string[][];
}

/**
 * A handler that records every event and answers with `behaviour` (which may throw). `behaviour`
 * gets the decoded data of the batch and the 1-based call number.
 */
export function recorder(
  behaviour?: (data: string[], call: number, event: KinesisStreamEvent) => Response | Promise<Response>,
): Recorder {
  const rec: Recorder = {
    events: [],
    contexts: [],
    deliveries: [],
    handler: async (event, context) => {
      const data = decode(event);
      rec.events.push(event);
      rec.contexts.push(context);
      rec.deliveries.push(data);
      return (await behaviour?.(data, rec.deliveries.length, event)) as KinesisStreamBatchResponse | void;
    },
  };
  return rec;
}

export function decode(event: KinesisStreamEvent): string[] {
  return event.Records.map((r) => Buffer.from(r.kinesis.data, 'base64').toString('utf8'));
}

/** `count` records `record-<i>` with partition keys from `key`. */
export function records(
  count: number,
  key: (i: number) => string = (i) => `key-${i}`,
  from = 0,
): { key: string; data: string }[] {
  return Array.from({ length: count }, (_, n) => ({ key: key(from + n), data: `record-${from + n}` }));
}

/** An on-failure destination that keeps what it receives. */
export function destination(): { onFailure: (r: OnFailureRecord) => Promise<void>; received: OnFailureRecord[] } {
  const received: OnFailureRecord[] = [];
  return { received, onFailure: async (r) => void received.push(r) };
}

export const delay = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * One kinesalite server per spec file, a fresh stream per test, and every mapping a test creates
 * stopped after it.
 */
export function useHarness() {
  let kinesis: TestKinesis;
  let streams = 0;
  const mappings: EventSourceMapping[] = [];

  beforeAll(async () => {
    kinesis = await startTestKinesis();
  });
  afterEach(async () => {
    await Promise.all(mappings.splice(0).map((m) => m.stop()));
  });
  afterAll(async () => {
    await kinesis.close();
  });

  return {
    get kinesis(): TestKinesis {
      return kinesis;
    },
    async stream(shards = 1): Promise<{ name: string; arn: string }> {
      streams += 1;
      const name = `stream-${streams}`;
      return { name, arn: await kinesis.createStream(name, shards) };
    },
    /** A mapping with fast test defaults: 10 ms polls, retries without waiting, TRIM_HORIZON. */
    mapping(
      options: Partial<EventSourceMappingOptions> & Pick<EventSourceMappingOptions, 'streamName' | 'handler'>,
    ): EventSourceMapping {
      const mapping = createEventSourceMapping({
        kinesis: kinesis.client,
        startingPosition: 'TRIM_HORIZON',
        pollIntervalMs: 10,
        sleep: async () => undefined,
        ...options,
      });
      mappings.push(mapping);
      return mapping;
    },
  };
}
