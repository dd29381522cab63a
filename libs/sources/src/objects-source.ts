import type { ObjectsSource } from '@pipeline/job';
import { planByteRanges, type ByteRangeSlice } from '@pipeline/slices';
import type { ObjectSource } from './object-source';
import { readCsvHeader, readSliceRows } from './rows';
import type { SliceSource } from './source';

/**
 * S3 objects under a prefix, cut into byte ranges, each range's lines parsed in the job's format.
 * A CSV object's header is read once per object, not once per slice.
 */
export function objectsSource(
  format: ObjectsSource,
  objects: ObjectSource,
  where: { bucket: string; prefix: string } | undefined,
  sliceBytes: number,
): SliceSource<ByteRangeSlice> {
  const headers = new Map<string, Promise<string[] | undefined>>();
  const headerOf = (slice: ByteRangeSlice) => {
    if (format.format !== 'csv') return Promise.resolve(undefined);
    const key = `${slice.bucket}/${slice.key}`;
    let header = headers.get(key);
    if (!header) {
      header = readCsvHeader(objects, slice.bucket, slice.key, format);
      headers.set(key, header);
    }
    return header;
  };
  return {
    async plan() {
      if (!where) throw new RangeError('no source: pass { source: { bucket, prefix } } or set SOURCE_BUCKET');
      const listed = [];
      for await (const object of objects.list(where.bucket, where.prefix)) listed.push(object);
      return planByteRanges(listed, { sliceBytes });
    },
    async *read(slice) {
      yield* readSliceRows(objects, slice, format, { header: await headerOf(slice) });
    },
  };
}
