/** The comparison table every bench prints: ours against a named baseline, with its target. */
import type { Summary } from './stats.ts';

export interface ComparisonRow {
  metric: string;
  ours?: Summary;
  baseline?: Summary;
  /** What the target says, in words, e.g. "p50 ≤ 8 ms and ≥ 5× faster". */
  target: string;
  /** Whether the target is met; undefined when the row has no target to judge. */
  met?: boolean;
}

/** p50 / p90 in ms, one decimal; "n/a" when there is nothing to show. */
export function formatSummary(summary: Summary | undefined): string {
  if (!summary) return 'n/a';
  return `${formatMs(summary.p50)} / ${formatMs(summary.p90)} (n=${summary.count})`;
}

export function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms.toFixed(1);
}

/** baseline p50 / ours p50: how many times faster ours is. */
export function speedup(row: Pick<ComparisonRow, 'ours' | 'baseline'>): number | undefined {
  if (!row.ours || !row.baseline || row.ours.p50 === 0) return undefined;
  return row.baseline.p50 / row.ours.p50;
}

/** A Markdown table, so the same text goes to the terminal and into the README. */
export function formatComparisonTable(rows: readonly ComparisonRow[], names: { ours: string; baseline: string }): string {
  const header = ['metric', `${names.ours} p50 / p90 ms`, `${names.baseline} p50 / p90 ms`, 'ratio (baseline/ours)', 'target', 'result'];
  const body = rows.map((row) => {
    const ratio = speedup(row);
    return [
      row.metric,
      formatSummary(row.ours),
      formatSummary(row.baseline),
      ratio === undefined ? '—' : `${ratio.toFixed(1)}×`,
      row.target,
      row.met === undefined ? '—' : row.met ? 'met' : '**missed**',
    ];
  });
  return formatMarkdownTable([header, ...body]);
}

/** Pads cells so the Markdown reads as a table in a terminal too. */
export function formatMarkdownTable(rows: readonly (readonly string[])[]): string {
  const widths: number[] = [];
  for (const row of rows) {
    for (const [i, cell] of row.entries()) widths[i] = Math.max(widths[i] ?? 3, cell.length);
  }
  const line = (cells: readonly string[]) => `| ${cells.map((cell, i) => cell.padEnd(widths[i]!)).join(' | ')} |`;
  const [header, ...body] = rows;
  if (!header) return '';
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}
