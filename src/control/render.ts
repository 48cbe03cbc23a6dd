/** Prints a view the way an ASA prints `show` output: a few summary lines, then aligned tables. */
import type { ViewResult, ViewTable } from './registry';

function cell(v: string | number | boolean | null): string {
  return v === null ? '-' : String(v);
}

export function renderTable(t: ViewTable): string {
  const rows = t.rows.map((r) => r.map(cell));
  const widths = t.columns.map((c, i) => Math.max(c.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i] ?? 0))
      .join('  ')
      .trimEnd();
  const out: string[] = [];
  if (t.title) out.push(t.title);
  out.push(line(t.columns), line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) out.push(line(r));
  if (rows.length === 0) out.push('(none)');
  return out.join('\n');
}

export function renderView(v: ViewResult): string {
  const parts: string[] = [];
  if (v.lines?.length) parts.push(v.lines.join('\n'));
  for (const t of v.tables ?? []) parts.push(renderTable(t));
  if (parts.length === 0) parts.push(JSON.stringify(v.data, null, 2));
  return `${parts.join('\n\n')}\n`;
}
