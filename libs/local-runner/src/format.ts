import type { RunReport } from './run-job';

const n = (value: number) => value.toLocaleString('en-US');

/** The human summary of a run, as `npm start` prints it. */
export function formatReport(report: RunReport): string {
  const reasons = Object.entries(report.deadLetteredByReason)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([reason, count]) => `${reason} ${n(count)}`)
    .join(' · ');
  const rows: [string, string][] = [
    [
      'records read',
      `${n(report.read)}   (${n(report.slices)} slices${report.dataSet ? `, ${(report.dataSet.bytes / 1e6).toFixed(1)} MB in ${report.dataSet.objects} objects` : ''})`,
    ],
    ['spilled', n(report.spilled)],
    ['delivered', n(report.delivered)],
    ['dead-lettered', `${n(report.deadLettered)}${reasons ? `   ${reasons}` : ''}`],
    ['duplicates dropped', n(report.duplicatesDropped)],
    ['conservation', `read ${report.conserved ? '=' : '≠'} delivered + dead-lettered ${report.conserved ? '✓' : '✗'}`],
    ['elapsed', `${(report.elapsedMs / 1000).toFixed(1)} s   (${n(report.recordsPerSecond)} records/s)`],
    ['output', `${report.outputUri}${report.outputDir ? `\n${' '.repeat(22)}${report.outputDir}` : ''}`],
  ];
  const head = `Run ${report.runId} ${report.complete ? 'complete' : `NOT complete (${report.state})`}`;
  return [head, ...rows.map(([k, v]) => `  ${k.padEnd(20)}${v}`)].join('\n');
}

/** The `--json` summary: one object, the fields scripts rely on first. */
export function jsonReport(report: RunReport): Record<string, unknown> {
  return {
    runId: report.runId,
    complete: report.complete,
    state: report.state,
    stalled: report.stalled,
    read: report.read,
    delivered: report.delivered,
    deadLettered: report.deadLettered,
    spilled: report.spilled,
    duplicatesDropped: report.duplicatesDropped,
    conserved: report.conserved,
    deadLetteredByReason: report.deadLetteredByReason,
    unattributed: report.unattributed,
    slices: report.slices,
    elapsedMs: report.elapsedMs,
    recordsPerSecond: report.recordsPerSecond,
    output: report.outputUri,
    outputDir: report.outputDir,
    dataSet: report.dataSet,
  };
}
