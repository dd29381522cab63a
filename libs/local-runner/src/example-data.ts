import { exampleLines, type ExampleDataOptions } from '@pipeline/example-job';
import { MiB } from '@pipeline/limits';
import { getJson, putJson, type ObjectStore } from '@pipeline/object-store';

/** Bytes per generated source object: a data set of many objects, each built in memory on its own. */
const OBJECT_BYTES = 16 * MiB;

/**
 * Writes the example data set to `bucket/prefix` as NDJSON objects, unless the same data set is
 * already there (a marker object records the options it was generated with).
 */
export async function loadExampleData(
  store: ObjectStore,
  bucket: string,
  prefix: string,
  options: ExampleDataOptions,
): Promise<{ objects: number; bytes: number; reused: boolean }> {
  // Beside the prefix, not under it: the reader must not take the marker for data.
  const markerKey = `${prefix.replace(/\/$/, '')}.dataset.json`;
  const marker = await getJson<{ options: ExampleDataOptions; objects: number; bytes: number }>(
    store,
    bucket,
    markerKey,
  );
  if (marker && JSON.stringify(marker.options) === JSON.stringify(options))
    return { objects: marker.objects, bytes: marker.bytes, reused: true };
  for await (const object of store.list(bucket, prefix)) await store.delete(bucket, object.key);

  let objects = 0;
  let bytes = 0;
  let parts: string[] = [];
  let size = 0;
  const flush = async () => {
    if (!parts.length) return;
    await store.put(
      bucket,
      `${prefix}customers-${String(objects).padStart(5, '0')}.ndjson`,
      Buffer.from(parts.join('')),
      'application/x-ndjson',
    );
    objects += 1;
    bytes += size;
    parts = [];
    size = 0;
  };
  for (const line of exampleLines(options)) {
    parts.push(line);
    size += Buffer.byteLength(line);
    if (size >= OBJECT_BYTES) await flush();
  }
  await flush();
  await putJson(store, bucket, markerKey, { options, objects, bytes });
  return { objects, bytes, reused: false };
}
