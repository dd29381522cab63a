/** A redrive of the run that opened the streams again: it keeps the run active until it is through. */
export interface RedriveLease {
  /** The redrive's own slice: its end-of-slice marker says the writer has written its records. */
  slice: string;
  startedAt: string;
  /** Written by the redrive once it is through (or gave up); unset while its records travel. */
  endedAt?: string;
}

/** streams/opened/<run>.json: a run that opened the streams, and the redrive that opened them again, if any. */
export interface StreamsLease {
  runId: string;
  openedAt: string;
  redrive?: RedriveLease;
}

/**
 * When a run stops needing the streams, from its own end (complete.json or failed.json) and its
 * lease: a redrive not through yet keeps the run active (undefined), whatever the run's own end;
 * one through ends the run at the later of the two.
 *
 * @example leaseEnd(completedAt, lease, sliceDone) // undefined while the redrive's records travel
 */
export function leaseEnd(
  runEndedAt: Date | undefined,
  lease: StreamsLease | undefined,
  redriveSliceDoneAt?: Date,
): Date | undefined {
  const redrive = lease?.redrive;
  if (!redrive) return runEndedAt;
  const redriveEnd = redrive.endedAt ? new Date(redrive.endedAt) : redriveSliceDoneAt;
  if (!redriveEnd) return undefined;
  if (!runEndedAt) return undefined;
  return redriveEnd > runEndedAt ? redriveEnd : runEndedAt;
}
