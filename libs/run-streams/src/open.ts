import { DEFAULTS } from '@pipeline/limits';
import type { MappingSpec, RunStreamsPlan, StreamSpec } from './plan';
import type { StreamState, StreamsPort } from './port';
import type { OpeningActivity } from './retire';

export interface WaitOptions {
  sleep: (ms: number) => Promise<void>;
  /** Total time to wait for one stream; default DEFAULTS.streamActiveWaitMs. */
  maxWaitMs?: number;
}

export const realSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export class StreamsNotReadyError extends Error {
  override readonly name = 'StreamsNotReadyError';
}

/** What opening did, for the run's log and the call-count tests. */
export interface OpenReport {
  created: string[];
  mappingsCreated: string[];
  /** Calls made, by API name. */
  calls: Record<string, number>;
}

type Counted = StreamsPort & { calls: Record<string, number> };

function counted(port: StreamsPort): Counted {
  const calls: Record<string, number> = {};
  const wrap =
    <A extends unknown[], R>(name: string, fn: (...args: A) => Promise<R>) =>
    (...args: A) => {
      calls[name] = (calls[name] ?? 0) + 1;
      return fn(...args);
    };
  return {
    calls,
    describeStream: wrap('DescribeStreamSummary', port.describeStream.bind(port)),
    createStream: wrap('CreateStream', port.createStream.bind(port)),
    increaseRetention: wrap('IncreaseStreamRetentionPeriod', port.increaseRetention.bind(port)),
    startEncryption: wrap('StartStreamEncryption', port.startEncryption.bind(port)),
    deleteStream: wrap('DeleteStream', port.deleteStream.bind(port)),
    listMappings: wrap('ListEventSourceMappings', port.listMappings.bind(port)),
    createMapping: wrap('CreateEventSourceMapping', port.createMapping.bind(port)),
    deleteMapping: wrap('DeleteEventSourceMapping', port.deleteMapping.bind(port)),
  };
}

/**
 * Polls the stream until `done` says so, with capped exponential backoff, at most `maxWaitMs` in all.
 * Kinesis' CreateStream, DeleteStream and StartStreamEncryption all return at once and finish later.
 */
async function waitFor(
  port: StreamsPort,
  name: string,
  done: (state: StreamState | undefined) => boolean,
  what: string,
  options: WaitOptions,
): Promise<StreamState | undefined> {
  const maxWaitMs = options.maxWaitMs ?? DEFAULTS.streamActiveWaitMs;
  let waited = 0;
  for (let attempt = 0; ; attempt++) {
    const state = await port.describeStream(name);
    if (done(state)) return state;
    if (waited >= maxWaitMs)
      throw new StreamsNotReadyError(
        `stream ${name} is still ${state?.status ?? 'missing'} after ${Math.round(waited / 1000)} s waiting for it to ${what}: ` +
          'look at it with `aws kinesis describe-stream-summary`, then trigger the run again (it resumes)',
      );
    const delay = Math.min(DEFAULTS.streamPollCapMs, DEFAULTS.streamPollBaseMs * 2 ** attempt);
    await options.sleep(delay);
    waited += delay;
  }
}

/** Makes one stream exist, ACTIVE, with its retention and encryption; returns whether this call created it. */
async function openStream(
  port: StreamsPort,
  spec: StreamSpec,
  options: WaitOptions,
): Promise<{ state: StreamState; created: boolean }> {
  let state = await port.describeStream(spec.name);
  if (state?.status === 'DELETING') {
    // A sweep retired it just now: the name is free once the deletion is done.
    state = await waitFor(port, spec.name, (s) => s === undefined || s.status !== 'DELETING', 'be deleted', options);
  }
  let created = false;
  if (!state) created = (await port.createStream(spec)) === 'created';
  const active = (s: StreamState | undefined) => s?.status === 'ACTIVE';
  if (!active(state)) state = await waitFor(port, spec.name, active, 'become ACTIVE', options);
  if (!state) throw new StreamsNotReadyError(`stream ${spec.name} vanished while it was opened`);
  // Another reader may be updating the stream too: an update refused as busy is waited out and looked at again.
  for (let attempt = 0; attempt < 3; attempt++) {
    if (state.retentionHours < spec.retentionHours) {
      await port.increaseRetention(spec.name, spec.retentionHours);
    } else if (spec.encryptionKeyId && !state.encrypted) {
      // Records put while the stream is UPDATING are written, but encrypted only once it is ACTIVE again.
      await port.startEncryption(spec.name, spec.encryptionKeyId);
    } else {
      return { state, created };
    }
    state = (await waitFor(port, spec.name, active, 'finish updating', options)) as StreamState;
  }
  return { state, created };
}

/**
 * Creates the mapping unless one for this function and stream is there (or was created first by
 * another caller); true when this call created it. Lambda refuses a second mapping of a function
 * and stream with a conflict, and a deleted mapping stays `Deleting` for some seconds: a conflict
 * with no live mapping listed is waited out and the create tried again, a bounded number of times.
 */
export async function ensureMapping(
  port: StreamsPort,
  spec: MappingSpec,
  streamArn: string,
  options: Pick<WaitOptions, 'sleep'> = { sleep: realSleep },
): Promise<boolean> {
  for (let attempt = 0; attempt < DEFAULTS.mappingCreateAttempts; attempt++) {
    const live = (await port.listMappings(spec.functionName, streamArn)).filter((m) => m.state !== 'Deleting');
    if (live.length) return false;
    if ((await port.createMapping(spec, streamArn)) === 'created') return true;
    await options.sleep(Math.min(DEFAULTS.streamPollCapMs, DEFAULTS.streamPollBaseMs * 2 ** attempt));
  }
  throw new StreamsNotReadyError(
    `the mapping of ${spec.functionName} on ${streamArn} could not be created: Lambda answers that one exists, yet none is listed but a mapping being deleted; ` +
      'look at it with `aws lambda list-event-source-mappings --function-name ' +
      spec.functionName +
      '`, then trigger the run again (it resumes)',
  );
}

/**
 * Opens a run's streams: each stream made to exist and ACTIVE (created if missing, waited for if
 * being deleted), then each event source mapping made to exist with the plan's settings. Safe to
 * call from two readers at once: a stream or mapping the other created first counts as there.
 *
 * Calls when the streams are open already: one DescribeStreamSummary per stream and one
 * ListEventSourceMappings per mapping (4 with the default plan). When they are not: per stream
 * CreateStream, StartStreamEncryption and a few DescribeStreamSummary polls; per mapping one
 * CreateEventSourceMapping more.
 *
 * @example await openStreams(plan, awsStreamsPort(kinesis, lambda), { sleep: realSleep });
 */
export async function openStreams(plan: RunStreamsPlan, port: StreamsPort, options: WaitOptions): Promise<OpenReport> {
  const calls = counted(port);
  const report: OpenReport = { created: [], mappingsCreated: [], calls: calls.calls };
  const arns = new Map<string, string>();
  for (const spec of plan.streams) {
    const { state, created } = await openStream(calls, spec, options);
    arns.set(spec.name, state.arn);
    if (created) report.created.push(spec.name);
  }
  for (const mapping of plan.mappings) {
    const arn = arns.get(mapping.streamName);
    if (!arn)
      throw new StreamsNotReadyError(
        `the mapping of ${mapping.functionName} reads ${mapping.streamName}, which the plan does not open`,
      );
    if (await ensureMapping(calls, mapping, arn, options)) report.mappingsCreated.push(mapping.functionName);
  }
  return report;
}

/**
 * What the reader calls when a run starts, before it puts any record: the run's lease first (so a
 * sweep running meanwhile sees an active run), then, if a sweep had already marked the streams as
 * being retired, a wait for that sweep to end (it may be deleting them: records put now would be
 * lost), then the streams. See retireStreams for why the lease-then-mark order is enough.
 */
export async function openRunStreams(
  plan: RunStreamsPlan,
  port: StreamsPort,
  activity: OpeningActivity,
  runId: string,
  options: WaitOptions & { now: Date },
): Promise<OpenReport> {
  await activity.opened(runId, options.now);
  // A sweep that was retiring the streams may have forgotten the lease as it ended: take it again.
  while (await waitForSweep(activity, options)) await activity.opened(runId, options.now);
  return openStreams(plan, port, options);
}

/** Waits while a sweep's mark is there; true if there was one. */
async function waitForSweep(activity: OpeningActivity, options: WaitOptions): Promise<boolean> {
  const maxWaitMs = options.maxWaitMs ?? DEFAULTS.streamActiveWaitMs;
  let waited = 0;
  for (let attempt = 0; ; attempt++) {
    const since = await activity.retiringSince();
    if (since === undefined) return attempt > 0;
    if (waited >= maxWaitMs)
      throw new StreamsNotReadyError(
        `a sweep has been retiring the streams since ${since.toISOString()} and is not done after ${Math.round(waited / 1000)} s: ` +
          'trigger the run again (it resumes); a sweep that died leaves its mark for at most the longest Lambda invocation',
      );
    const delay = Math.min(DEFAULTS.streamPollCapMs, DEFAULTS.streamPollBaseMs * 2 ** attempt);
    await options.sleep(delay);
    waited += delay;
  }
}
