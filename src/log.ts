/**
 * Structured logs (pino) with the ASA's debug categories. Each category has one child
 * logger, created once; `debug <category> on|off` only flips that child's level, so a
 * disabled `log.debug(...)` costs a level comparison and nothing else.
 */
import pino from 'pino';

export const DEBUG_CATEGORIES = ['tftp', 'signaling', 'media', 'events', 'errors'] as const;
export type DebugCategory = (typeof DEBUG_CATEGORIES)[number];

export function isDebugCategory(s: string): s is DebugCategory {
  return (DEBUG_CATEGORIES as readonly string[]).includes(s);
}

export class Logs {
  readonly root: pino.Logger;
  private readonly children = new Map<DebugCategory, pino.Logger>();
  private baseLevel: pino.Level;

  constructor(level: pino.Level = 'info', destination: pino.DestinationStream = pino.destination(2)) {
    this.baseLevel = level;
    // Secrets never reach the log: these keys are censored wherever they appear.
    this.root = pino(
      {
        level,
        redact: {
          paths: ['key', '*.key', 'keys', '*.keys', 'passphrase', '*.passphrase', 'token', '*.token'],
          censor: '[redacted]',
        },
      },
      destination,
    );
  }

  for(category: DebugCategory): pino.Logger {
    let child = this.children.get(category);
    if (!child) {
      child = this.root.child({ category });
      child.level = this.baseLevel;
      this.children.set(category, child);
    }
    return child;
  }

  /** Live reload of logging.level: categories under `debug ... on` stay at debug. */
  setLevel(level: pino.Level): void {
    const debugging = this.debugState();
    this.baseLevel = level;
    this.root.level = level;
    for (const [c, child] of this.children) child.level = debugging[c] ? 'debug' : level;
  }

  setDebug(category: DebugCategory, on: boolean): void {
    this.for(category).level = on ? 'debug' : this.baseLevel;
  }

  debugState(): Record<DebugCategory, boolean> {
    const out = {} as Record<DebugCategory, boolean>;
    for (const c of DEBUG_CATEGORIES) out[c] = this.for(c).isLevelEnabled('debug');
    return out;
  }
}
