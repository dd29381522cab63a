import { gzipSync } from 'node:zlib';
import { LAYOUT } from '@pipeline/records';

/**
 * One small run's output as S3 holds it, for comparing collations: two delivered objects that
 * overlap (Firehose delivering a batch again), one of them GZIP as Firehose writes with compression,
 * and dead letters of two reasons, one of them later redriven into the output.
 */
export function runOutputFixture(run: string): { key: string; body: string | Buffer }[] {
  const line = (slice: string, pos: number) =>
    `{"id":"${run}/${slice}/${pos}","run":"${run}","result":{"pos":${pos},"text":"a|b\\tc"}}\n`;
  const lines = (slice: string, positions: number[]) => positions.map((p) => line(slice, p)).join('');
  return [
    { key: `${LAYOUT.resultsPrefix(run)}2026/11/25/10/delivery-1`, body: lines('s0', [0, 1, 2, 3]) },
    { key: `${LAYOUT.resultsPrefix(run)}2026/11/25/10/delivery-2.gz`, body: gzipSync(lines('s0', [2, 3, 4, 6])) },
    { key: `${LAYOUT.resultsPrefix(run)}2026/11/25/11/delivery-3`, body: lines('s1', [0, 1, 1]) },
    { key: `${LAYOUT.deadLettersPrefix(run, 'invalid-input')}s0/5.json`, body: '{"kind":"dead-letter"}\n' },
    { key: `${LAYOUT.deadLettersPrefix(run, 'retries-exhausted')}s0/6.json`, body: '{"kind":"dead-letter"}\n' },
    { key: `${LAYOUT.deadLettersPrefix(run, 'transform-failed')}s1/2.json`, body: '{"kind":"dead-letter"}\n' },
  ];
}

/**
 * What the fixture's run read: s0 positions 0..6, s1 positions 0..2. Collated: 8 records delivered
 * (s0/6 redriven from its dead letter), 3 copies dropped, 2 dead-lettered (invalid-input s0/5,
 * transform-failed s1/2).
 */
export const FIXTURE_READ = 10;
