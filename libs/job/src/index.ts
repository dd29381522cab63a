import type { z } from 'zod';
import type { RecordId } from '@pipeline/records';

/**
 * A job: the one module a user writes to adapt the pipeline to their data.
 *
 * @example
 * export const job = defineJob({
 *   name: 'greetings',
 *   source: { format: 'ndjson' },
 *   input: z.object({ name: z.string() }),
 *   result: z.object({ greeting: z.string() }),
 *   transform: (row) => ({ greeting: `hello ${row.name}` }),
 * });
 */
export interface Job<Input = unknown, Result = unknown> {
  name: string;
  /** How source objects are parsed into rows. */
  source: SourceFormat;
  /** Validates one parsed row; a row that fails is dead-lettered as invalid-input. */
  input: z.ZodType<Input>;
  /** Validates what transform returns; a result that fails is dead-lettered as invalid-result. */
  result: z.ZodType<Result>;
  /**
   * Turns one input into one result. Throw `PermanentError` for a record that can never succeed
   * (it is dead-lettered); any other error is treated as transient and retried.
   */
  transform(input: Input, context: TransformContext): Result | Promise<Result>;
  /**
   * Transforms run at once within a batch (default DEFAULTS.transformConcurrency). Results still go
   * out in stream order; 1 runs them one after another. Keep it within what the services the
   * transform calls can bear, times the shards.
   */
  concurrency?: number;
  /**
   * How many dead letters a run may have and still complete (like Distributed Map's
   * ToleratedFailureCount/Percentage; either bound passing is enough). Absent: any number.
   * A run over it ends as failed; its successes are still collated.
   */
  toleratedFailures?: ToleratedFailures;
}

/** Dead letters a run may have: at most `count`, or at most `percentage` % of the records read. */
export interface ToleratedFailures {
  count?: number;
  percentage?: number;
}

export type SourceFormat =
  | { format: 'ndjson' }
  | {
      format: 'csv' /** Column names; when absent the object's first line is the header. */;
      columns?: string[];
      delimiter?: string;
    };

export interface TransformContext {
  id: RecordId;
}

/** A failure that retrying will not fix: the record is dead-lettered as transform-failed. */
export class PermanentError extends Error {
  override readonly name: string = 'PermanentError';
}

export function defineJob<Input, Result>(job: Job<Input, Result>): Job<Input, Result> {
  return job;
}
