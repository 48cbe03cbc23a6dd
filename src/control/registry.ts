/**
 * What each subsystem offers the operator: `show` views and `clear` actions, registered by
 * name when the subsystem starts. The control server and CLI only know this registry.
 */
export interface ViewTable {
  title?: string;
  columns: string[];
  rows: (string | number | boolean | null)[][];
}

/** A show view returns data (for --json) and how to print it ASA-like. */
export interface ViewResult {
  data: unknown;
  tables?: ViewTable[];
  /** Free text lines printed before the tables (counters, summaries). */
  lines?: string[];
}

export interface ShowView {
  /** Words after `show`, e.g. `phone-proxy secure-phones`. */
  name: string;
  help: string;
  render(args: string[]): ViewResult | Promise<ViewResult>;
}

export interface ClearAction {
  /** Words after `clear`, e.g. `phone-proxy secure-phones`. */
  name: string;
  help: string;
  /** Returns a one-line confirmation, e.g. `cleared 3 entries`. Throws on bad arguments. */
  run(args: string[]): string | Promise<string>;
}

export class ControlRegistry {
  private readonly views = new Map<string, ShowView>();
  private readonly clears = new Map<string, ClearAction>();

  addShow(view: ShowView): void {
    if (this.views.has(view.name)) throw new Error(`show view "${view.name}" registered twice`);
    this.views.set(view.name, view);
  }

  addClear(action: ClearAction): void {
    if (this.clears.has(action.name)) throw new Error(`clear action "${action.name}" registered twice`);
    this.clears.set(action.name, action);
  }

  /** Longest registered name that prefixes the words; the rest are the view's arguments. */
  private match<T>(map: Map<string, T>, words: string[]): { item: T; args: string[] } | undefined {
    for (let n = words.length; n > 0; n--) {
      const item = map.get(words.slice(0, n).join(' '));
      if (item) return { item, args: words.slice(n) };
    }
    return undefined;
  }

  findShow(words: string[]) {
    return this.match(this.views, words);
  }

  findClear(words: string[]) {
    return this.match(this.clears, words);
  }

  list(): { show: { name: string; help: string }[]; clear: { name: string; help: string }[] } {
    const brief = (x: { name: string; help: string }) => ({ name: x.name, help: x.help });
    return { show: [...this.views.values()].map(brief), clear: [...this.clears.values()].map(brief) };
  }
}
