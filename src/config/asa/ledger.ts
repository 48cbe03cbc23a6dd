/**
 * Bookkeeping of the import: every configuration line ends up either used (it shaped the
 * policy, or it has no effect by design) or unmapped with the reason, so nothing is dropped
 * without the operator seeing it.
 */
import type { ConfigLine } from './parse-config';

export interface UnmappedLine {
  line: number;
  text: string;
  reason: string;
}

export interface ImportWarning {
  /** The line the warning is about, when there is one. */
  line?: number;
  message: string;
}

export class Ledger {
  private readonly used = new Set<ConfigLine>();
  private readonly reasons = new Map<ConfigLine, string>();
  readonly warnings: ImportWarning[] = [];

  /** The line shaped the policy (or deliberately has no effect). */
  use(node: ConfigLine): void {
    this.used.add(node);
    this.reasons.delete(node);
  }

  /** The line and everything under it (certificate hex, sub-commands handled as a whole). */
  useAll(node: ConfigLine): void {
    this.use(node);
    for (const c of node.children) this.useAll(c);
  }

  isUsed(node: ConfigLine): boolean {
    return this.used.has(node);
  }

  /** Not mapped, with a reason more precise than the default. */
  unmapped(node: ConfigLine, reason: string): void {
    if (!this.used.has(node)) this.reasons.set(node, reason);
  }

  /** A line read (and marked used) that turns out not to fit the policy: reported after all. */
  drop(node: ConfigLine, reason: string): void {
    this.used.delete(node);
    this.reasons.set(node, reason);
  }

  warn(message: string, node?: ConfigLine): void {
    this.warnings.push(node ? { line: node.line, message } : { message });
  }

  /** Every line not used, in file order; `defaultReason` names what nobody explained. */
  collect(commands: ConfigLine[], defaultReason: (node: ConfigLine, parent?: ConfigLine) => string): UnmappedLine[] {
    const out: UnmappedLine[] = [];
    const walk = (node: ConfigLine, parent?: ConfigLine) => {
      if (!this.used.has(node)) {
        out.push({ line: node.line, text: node.text, reason: this.reasons.get(node) ?? defaultReason(node, parent) });
      }
      for (const c of node.children) walk(c, node);
    };
    for (const c of commands) walk(c);
    return out.sort((a, b) => a.line - b.line);
  }
}
