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
  return [head, ...rows.map(([k, v]) => `  ${k.padEnd(20)}${v}`), ...costRows(report.cost)].join('\n');
}

const usd = (value: number) => `$${value < 0.01 && value > 0 ? value.toPrecision(2) : value.toFixed(2)}`;

/** The modeled bill under the summary: the total, each priced line, and the idle month beside it. */
function costRows(cost: RunReport['cost']): string[] {
  if (!cost) return [`  ${'modeled AWS cost'.padEnd(20)}not metered (IAM enforcement off)`];
  if ('error' in cost) return [`  ${'modeled AWS cost'.padEnd(20)}${cost.error}`];
  const indent = ' '.repeat(22);
  return [
    `  ${'modeled AWS cost'.padEnd(20)}${usd(cost.totalUsd)} this run (${cost.region} list prices as of ${cost.pricesAsOf}; ${usd(cost.unconfirmedUsd)} of it from third-party or unverified prices)`,
    ...cost.lines.map(
      (l) =>
        `${indent}${`${l.service} ${l.item}`.padEnd(34)}${usd(l.usd).padStart(10)}   ${n(Math.round(l.quantity * 1000) / 1000)} ${l.unit}`,
    ),
    `  ${'idle cost'.padEnd(20)}${usd(cost.idlePerMonth.totalUsd)} a month ${cost.idleBasis} (${cost.idlePerMonth.lines.map((l) => `${n(Math.round(l.quantity * 10) / 10)} ${l.unit}`).join(', ')})`,
  ];
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
    cost: report.cost,
  };
}
