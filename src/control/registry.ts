/**
 * What each subsystem offers the operator: `show` views and `clear` actions, registered by
 * name when the subsystem starts. The control server and CLI only know this registry.
 */
import type { ClearAction, CommandAction, DropCounters, OperatorViews, ShowView } from '../contracts/service';

export type { ClearAction, CommandAction, ShowView, ViewResult, ViewTable } from '../contracts/service';

export class ControlRegistry {
  private readonly views = new Map<string, ShowView>();
  private readonly clears = new Map<string, ClearAction>();
  /** The services' drop counters, in registration order (`show phone-proxy drops`). */
  readonly drops: DropCounters[] = [];
  private readonly commands = new Map<string, CommandAction>();

  addShow(view: ShowView): void {
    if (this.views.has(view.name)) throw new Error(`show view "${view.name}" registered twice`);
    this.views.set(view.name, view);
  }

  /** A service's views and actions, as the composition root hands them over. */
  addAll(views: OperatorViews): void {
    for (const v of views.show) this.addShow(v);
    for (const c of views.clear) this.addClear(c);
    if (views.drops) this.drops.push(views.drops);
    for (const c of views.commands ?? []) this.addCommand(c);
  }

  addCommand(action: CommandAction): void {
    if (this.commands.has(action.name)) throw new Error(`command "${action.name}" registered twice`);
    this.commands.set(action.name, action);
  }

  findCommand(words: string[]) {
    return this.match(this.commands, words);
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

  list(): {
    show: { name: string; help: string }[];
    clear: { name: string; help: string }[];
    command: { name: string; help: string }[];
  } {
    const brief = (x: { name: string; help: string }) => ({ name: x.name, help: x.help });
    return {
      show: [...this.views.values()].map(brief),
      clear: [...this.clears.values()].map(brief),
      command: [...this.commands.values()].map(brief),
    };
  }
}
