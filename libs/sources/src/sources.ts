import type { JobSource, SourceLoad } from '@pipeline/job';
import type { SliceSpec } from '@pipeline/slices';
import { cursorSource } from './cursor-source';
import { customSource } from './custom-source';
import { boundedHttp, type HttpEvent } from './http';
import { idRangeSource } from './id-range-source';
import { SOURCE_LIMITS } from './limits';
import type { ObjectSource } from './object-source';
import { objectsSource } from './objects-source';
import { pagesSource } from './pages-source';
import { invocationShare } from './rate';
import { isObjectsSource, type SliceSource } from './source';

export interface SourceForOptions {
  run: string;
  objects: ObjectSource;
  /** S3 sources: where the run's objects are. */
  where?: { bucket: string; prefix: string };
  sliceBytes: number;
  /** Requests in flight at once when the job sets no `load.concurrency`. */
  defaultConcurrency: number;
  /**
   * How many reader invocations may read this run at once: each gets this share of the job's
   * `requestsPerSecond`, so the run as a whole stays under it.
   */
  invocations: number;
  fetch?: typeof fetch;
  onHttpEvent?: (event: HttpEvent) => void;
}

/** The kind of a job's source, for the manifest and logs. */
export function sourceKind(source: JobSource): 'objects' | 'ids' | 'pages' | 'cursor' | 'custom' {
  return isObjectsSource(source) ? 'objects' : source.kind;
}

/**
 * The one place a job's source becomes a {@link SliceSource}: add a kind here and in its own file.
 *
 * @throws RangeError for a source of no known kind.
 */
export function sourceFor(source: JobSource, options: SourceForOptions): SliceSource {
  if (isObjectsSource(source))
    return objectsSource(source, options.objects, options.where, options.sliceBytes) as SliceSource;
  const load: SourceLoad = source.load ?? {};
  const http = boundedHttp({
    load: {
      concurrency: load.concurrency ?? options.defaultConcurrency,
      attempts: load.attempts ?? SOURCE_LIMITS.httpAttempts,
      requestsPerSecond:
        load.requestsPerSecond === undefined ? undefined : invocationShare(load.requestsPerSecond, options.invocations),
    },
    fetch: options.fetch,
    onEvent: options.onHttpEvent,
  });
  const env = { context: { http, run: options.run } };
  switch (source.kind) {
    case 'ids':
      return idRangeSource(source, env) as SliceSource;
    case 'pages':
      return pagesSource(source, env) as SliceSource;
    case 'cursor':
      return cursorSource(source, env) as SliceSource;
    case 'custom':
      return customSource(source, env) as SliceSource;
    default:
      throw new RangeError(
        `the job's source ${JSON.stringify(source)} is of no known kind: give a format ('ndjson', 'csv') or kind 'ids', 'pages', 'cursor' or 'custom'`,
      );
  }
}

export type { SliceSpec };
