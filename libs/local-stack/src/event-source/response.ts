/**
 * How Lambda reads a stream function's response when `ReportBatchItemFailures` is on
 * (services-kinesis-batchfailurereporting / with-kinesis.html, "Success and failure conditions"):
 * - complete success: a null or empty response, or a null or empty `batchItemFailures` list;
 * - complete failure: an `itemIdentifier` that is null, an empty string, or missing (a bad key name);
 * - partial failure: Lambda checkpoints just before the lowest failed sequence number and retries
 *   every record from it, successes after it included.
 * Two cases the documentation leaves open are read conservatively, so no record is ever skipped:
 * a response that cannot be read as `{batchItemFailures: [...]}` (a string, a number, a list that is
 * not an array) and an `itemIdentifier` naming no record of the batch are complete failures.
 */
export type BatchOutcome =
  | { kind: 'success' }
  /** Records before `firstFailedIndex` succeeded; it and everything after it are retried. */
  | { kind: 'partial'; firstFailedIndex: number }
  /** The whole batch failed: the handler threw or the response breaks the rules above. */
  | { kind: 'failure'; reason: string; functionError: boolean };

/**
 * Classifies what the handler returned for a batch whose sequence numbers are `sequenceNumbers`
 * (in batch order). Without ReportBatchItemFailures any return value means success, as Lambda
 * ignores the response unless the feature is on.
 *
 * @example
 * ```ts
 * readBatchResponse({ batchItemFailures: [{ itemIdentifier: '2' }] }, ['1', '2', '3'], true);
 * // { kind: 'partial', firstFailedIndex: 1 }
 * ```
 */
export function readBatchResponse(
  response: unknown,
  sequenceNumbers: readonly string[],
  reportBatchItemFailures: boolean,
): BatchOutcome {
  if (!reportBatchItemFailures || response === undefined || response === null) return { kind: 'success' };
  if (typeof response !== 'object' || Array.isArray(response)) {
    return invalid(
      `the response is ${Array.isArray(response) ? 'an array' : typeof response}, not {batchItemFailures: [...]}`,
    );
  }
  const failures = (response as { batchItemFailures?: unknown }).batchItemFailures;
  if (failures === undefined || failures === null) return { kind: 'success' };
  if (!Array.isArray(failures)) return invalid('batchItemFailures is not an array');
  if (failures.length === 0) return { kind: 'success' };

  const positions = new Map(sequenceNumbers.map((seq, index) => [seq, index]));
  let first = Number.POSITIVE_INFINITY;
  for (const failure of failures) {
    const id: unknown =
      typeof failure === 'object' && failure !== null
        ? (failure as { itemIdentifier?: unknown }).itemIdentifier
        : undefined;
    if (typeof id !== 'string' || id === '')
      return invalid(`a batchItemFailures entry has no itemIdentifier (got ${JSON.stringify(failure)})`);
    const index = positions.get(id);
    if (index === undefined) return invalid(`itemIdentifier ${id} is not the sequence number of a record in the batch`);
    first = Math.min(first, index);
  }
  return { kind: 'partial', firstFailedIndex: first };
}

function invalid(reason: string): BatchOutcome {
  return { kind: 'failure', reason, functionError: false };
}
