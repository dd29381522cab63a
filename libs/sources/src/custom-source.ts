import type { CustomSource } from '@pipeline/job';
import { planCustom, type CustomSlice } from '@pipeline/slices';
import { numberRows, type SliceSource, type SourceEnv } from './source';

/**
 * The job's own source: its `plan()` gives the slices (kept in the manifest as JSON, ids given in
 * plan order), its `read(slice)` their rows.
 */
export function customSource(source: CustomSource, env: SourceEnv): SliceSource<CustomSlice> {
  return {
    async plan() {
      return planCustom(await source.plan(env.context));
    },
    read(slice) {
      return numberRows(source.read(slice.params, env.context));
    },
  };
}
