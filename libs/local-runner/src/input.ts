import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { CommandError } from './command-error';

/** Where a run reads its records: a bucket and a key prefix. */
export interface RunSource {
  bucket: string;
  prefix: string;
}

/** S3 takes at most 5 GiB in one PutObject. */
const MAX_PUT_BYTES = 5 * 1024 ** 3;

/** What `--input` names: objects already in S3, or local files to copy there. */
export type InputPlan =
  | { kind: 's3'; source: RunSource }
  | { kind: 'files'; prefix: string; files: { path: string; key: string; size: number }[] };

/**
 * Reads what the user's `--input` names, before anything starts: `s3://bucket/prefix` is read where
 * it is; a file, or every file under a folder, is to be copied under `input/<name>/`.
 *
 * @example await planInput('data/users.ndjson'); // { kind: 'files', prefix: 'input/users.ndjson/', files: [...] }
 */
export async function planInput(input: string): Promise<InputPlan> {
  const uri = /^s3:\/\/([^/]+)\/?(.*)$/.exec(input);
  if (uri) return { kind: 's3', source: { bucket: uri[1], prefix: uri[2] } };
  const path = resolve(input);
  const info = await stat(path).catch(() => undefined);
  if (!info) throw new CommandError(`--input ${input}: no such file or folder (or give s3://bucket/prefix)`);
  const paths = info.isDirectory() ? await filesUnder(path) : [path];
  if (paths.length === 0) throw new CommandError(`--input ${input}: the folder holds no files`);
  const prefix = `input/${basename(path)}/`;
  const files = [];
  for (const file of paths) {
    const { size } = await stat(file);
    if (size > MAX_PUT_BYTES)
      throw new CommandError(`--input ${file} is over 5 GiB: split it, or upload it to S3 and pass s3://…`);
    const name = info.isDirectory() ? relative(path, file).split('\\').join('/') : basename(file);
    files.push({ path: file, key: prefix + name, size });
  }
  return { kind: 'files', prefix, files };
}

/** Makes a planned input the run's source: local files are streamed to `bucket`, one object per file. */
export async function stageInput(s3: S3Client, plan: InputPlan, bucket: string): Promise<RunSource> {
  if (plan.kind === 's3') return plan.source;
  for (const file of plan.files) {
    const body = createReadStream(file.path);
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: file.key, Body: body, ContentLength: file.size }));
  }
  return { bucket, prefix: plan.prefix };
}

async function filesUnder(folder: string): Promise<string[]> {
  const entries = await readdir(folder, { withFileTypes: true, recursive: true });
  return entries
    .filter((e) => e.isFile() && !e.name.startsWith('.'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}
