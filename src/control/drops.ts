/**
 * `show phone-proxy drops` (the ASA's `show asp drop`): every drop counter of every service in
 * one table — area, reason, catalogue code, count — non-zero rows unless `--all`; and
 * `clear phone-proxy drops`. The services' counters only grow (the metrics read the same ones),
 * so a clear records a baseline here and the view shows the counts since then, as the ASA does.
 */
import type { DropCount, DropCounters, OperatorViews } from '../contracts/service';

export interface DropRow extends DropCount {
  area: string;
}

async function read(sources: readonly DropCounters[]): Promise<DropRow[]> {
  const rows: DropRow[] = [];
  for (const s of sources) for (const a of await s.areas()) for (const c of a.counts) rows.push({ area: a.area, ...c });
  return rows;
}

const key = (r: DropRow) => `${r.area}/${r.reason}`;

export function dropViews(sources: readonly DropCounters[], now: () => Date = () => new Date()): OperatorViews {
  let baseline = new Map<string, number>();
  let cleared: Date | null = null;
  const since = async () =>
    (await read(sources)).map((r) => ({ ...r, count: Math.max(0, r.count - (baseline.get(key(r)) ?? 0)) }));
  return {
    show: [
      {
        name: 'phone-proxy drops',
        help: 'what was dropped and refused, by area and reason, with its code (show asp drop) [--all: zero rows too]',
        async render(args) {
          const bad = args.filter((a) => a !== 'all' && a !== '--all');
          if (bad.length > 0) throw new Error(`show phone-proxy drops: unknown argument ${bad.join(' ')} (only --all)`);
          const all = args.length > 0;
          const rows = (await since()).filter((r) => all || r.count > 0);
          return {
            data: { lastCleared: cleared?.toISOString() ?? null, all, rows },
            lines: [
              `Last clearing: ${cleared ? cleared.toISOString() : 'never'}`,
              rows.length === 0 ? 'No drops.' : `${rows.length} ${all ? 'counters' : 'reasons with drops'}`,
            ],
            tables:
              rows.length === 0
                ? []
                : [
                    {
                      columns: ['Area', 'Reason', 'Code', 'Count'],
                      rows: rows.map((r) => [r.area, r.reason, r.code ?? '-', r.count]),
                    },
                  ],
          };
        },
      },
    ],
    clear: [
      {
        name: 'phone-proxy drops',
        help: 'start the counts of show phone-proxy drops again from zero (the metrics keep counting)',
        async run() {
          const rows = await read(sources);
          baseline = new Map(rows.map((r) => [key(r), r.count]));
          cleared = now();
          return `drop counters cleared (${rows.length} counters)`;
        },
      },
    ],
  };
}
