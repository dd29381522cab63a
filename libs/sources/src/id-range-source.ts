import type { IdRangeSource } from '@pipeline/job';
import { planNumberRange, type NumberRangeSlice } from '@pipeline/slices';
import { numberRows, resolveCount, type SliceSource, type SourceEnv } from './source';

/**
 * Ids `[from, to)` in slices of `sliceSize`; a slice's rows are what the job's `read({ from, to })`
 * returns for it (one query per slice, not one per id).
 *
 * @example
 * idRangeSource({ kind: 'ids', from: 1, to: 1001, sliceSize: 100, read: ({ from, to }, { http }) =>
 *   http.json(`http://users/?from=${from}&to=${to}`) }, env);
 */
export function idRangeSource(source: IdRangeSource, env: SourceEnv): SliceSource<NumberRangeSlice> {
  return {
    async plan() {
      const to = await resolveCount(source.to, env.context, 'upper id (to)');
      return planNumberRange({ from: source.from, to, sliceSize: source.sliceSize });
    },
    read(slice) {
      return numberRows(source.read({ from: slice.from, to: slice.to }, env.context));
    },
  };
}
