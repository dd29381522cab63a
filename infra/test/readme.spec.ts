import { readFileSync } from 'node:fs';
import * as path from 'node:path';
import { defaultConfig } from '../src/config';

const readme = readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8');
const rows = readme.split('\n').filter((line) => line.startsWith('| `'));

/** Every leaf of the default configuration, as `path` and value. */
function leaves(value: unknown, prefix: string[] = []): [string, unknown][] {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return [[prefix.join('.'), value]];
  return Object.entries(value).flatMap(([key, child]) => leaves(child, [...prefix, key]));
}

/** Settings that are unset by default. */
const OPTIONAL = [
  'alarmTopicArn',
  'source.bucketName',
  'processor.reservedConcurrency',
  'writer.reservedConcurrency',
  'replay.from',
  'replay.run',
  'replay.enabled',
  'alarms.iteratorAgeSeconds',
  'alarms.firehoseFreshnessSeconds',
];

describe('infra/README.md', () => {
  it.each(leaves(defaultConfig()))(
    'documents `%s` with its default, %j, in the configuration table',
    (setting, value) => {
      const row = rows.find((line) => line.split('|')[1]?.includes(`\`${setting}\``));

      expect(row).toBeDefined();
      if (value !== '')
        expect(row!.split('|')[2]).toContain(`\`${Array.isArray(value) ? JSON.stringify(value) : String(value)}\``);
    },
  );

  it.each(OPTIONAL)('documents the optional `%s`', (setting) => {
    expect(rows.some((line) => line.split('|')[1]?.includes(`\`${setting}\``))).toBe(true);
  });

  it.each([
    'Bootstrap',
    'First deploy',
    'Deploy app by app',
    'Configuration',
    'Replay in AWS',
    'Stopping',
    'Tear down',
  ])('has a section on %s', (title) => {
    expect(readme).toMatch(new RegExp(`^#{2,3} ${title}`, 'm'));
  });
});
