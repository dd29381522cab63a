import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { LAYOUT } from '@pipeline/records';
import { finishRun, type FinishDeps, type FinishOutcome } from '@pipeline/run-ledger';

export type FinisherDeps = Omit<FinishDeps, 'now'> & {
  now?: () => Date;
  log?: (message: string, fields?: Record<string, unknown>) => void;
  /**
   * What follows a run's end (complete, failed or stalled). In AWS nothing here: the collation state
   * machine starts on complete.json or failed.json's creation. The embedded stack collates and
   * announces the run here (collateEndedRun).
   */
  afterEnd?: (outcome: FinishOutcome) => Promise<void>;
};

/** Whether a run has ended for good: its message needs no further check. */
export const hasEnded = (outcome: FinishOutcome) => outcome.state === 'complete' || outcome.state === 'failed';

const DELIVERED_KEY = /^runs\/([^/]+)\/delivered\.json$/;

/**
 * The run a message is about: an EventBridge "Object Created" event for runs/<run>/delivered.json
 * in the results bucket (what the CDK app routes to the finisher's queue), or `{"runId": "..."}`
 * from an operator.
 */
export function runOfMessage(body: string, resultsBucket: string): string {
  let message: { runId?: unknown; detail?: { bucket?: { name?: unknown }; object?: { key?: unknown } } };
  try {
    message = JSON.parse(body);
  } catch {
    throw new Error('message is not JSON: expected an S3 Object Created event for runs/<run>/delivered.json');
  }
  if (typeof message.runId === 'string') return message.runId;
  const key = message.detail?.object?.key;
  const bucket = message.detail?.bucket?.name;
  const match = typeof key === 'string' ? DELIVERED_KEY.exec(key) : null;
  if (!match || bucket !== resultsBucket) {
    throw new Error(
      `message is not about a run's ${LAYOUT.deliveredKey('<run>')} in ${resultsBucket}: check the EventBridge rule's pattern`,
    );
  }
  return match[1];
}

/**
 * Handles the finisher queue's messages: each names a run whose output was handed to Firehose. A
 * run whose output is in S3 and conserved is completed; one still delivering (or stalled) is
 * reported as a failed item, so SQS delivers its message again after the visibility timeout —
 * a bounded number of times, then to the dead-letter queue, whose alarm says the run is stuck.
 */
export async function finishMessages(
  event: SQSEvent,
  deps: FinisherDeps,
): Promise<SQSBatchResponse & { outcomes: FinishOutcome[] }> {
  const failures: SQSBatchResponse['batchItemFailures'] = [];
  const outcomes: FinishOutcome[] = [];
  for (const record of event.Records) {
    try {
      const run = runOfMessage(record.body, deps.bucket);
      const outcome = await finishRun(run, { ...deps, now: (deps.now ?? (() => new Date()))() });
      outcomes.push(outcome);
      if (outcome.state !== 'running' && outcome.state !== 'delivering') await deps.afterEnd?.(outcome);
      if (!hasEnded(outcome)) {
        deps.log?.(`run ${run} is ${outcome.state}: its output is not all in S3 yet`, { outcome });
        failures.push({ itemIdentifier: record.messageId });
      }
    } catch (error) {
      deps.log?.('could not finish a run', { messageId: record.messageId, error: (error as Error).message });
      failures.push({ itemIdentifier: record.messageId });
    }
  }
  return { batchItemFailures: failures, outcomes };
}
