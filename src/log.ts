/**
 * Structured logs (pino) with the ASA's debug categories. Each category has one child
 * logger, created once; `debug <category> on|off` only flips that child's level, so a
 * disabled `log.debug(...)` costs a level comparison and nothing else.
 *
 * Formats (policy `logging.format`, `start --log-format`): JSON lines, or human-readable lines
 * (pino-pretty, in this thread: no transport worker) — by default the latter only when stderr is
 * a terminal. Optionally every line also goes to a syslog collector (src/syslog.ts). Warnings
 * and errors carry a message id (src/messages.ts): `msgId` in JSON, `%PPX-4-120003: ` before the
 * text in the human-readable and syslog forms.
 */
import pino from 'pino';
import { type SyslogStats, SyslogStream, type SyslogTarget } from './syslog';

export const DEBUG_CATEGORIES = ['tftp', 'signaling', 'media', 'events', 'errors'] as const;
export type DebugCategory = (typeof DEBUG_CATEGORIES)[number];

export function isDebugCategory(s: string): s is DebugCategory {
  return (DEBUG_CATEGORIES as readonly string[]).includes(s);
}

export const LOG_FORMATS = ['auto', 'json', 'pretty'] as const;
export type LogFormat = (typeof LOG_FORMATS)[number];

export interface LogOutputs {
  /** auto (default): pretty when the destination is stderr and stderr is a terminal, else JSON. */
  format?: LogFormat;
  syslog?: SyslogTarget;
}

/** Human-readable lines (stderr, or the given stream): time, level, category, `%PPX-…: `, the text, the fields. */
function prettyStream(destination?: pino.DestinationStream): pino.DestinationStream {
  // Loaded only when asked for: the JSON path never pays for it.
  const pretty = require('pino-pretty') as typeof import('pino-pretty');
  return pretty({
    destination: destination ?? 2,
    sync: true,
    // One event, one line: fields as JSON after the text, so grep and tail -f keep working.
    singleLine: true,
    colorize: destination === undefined && process.stderr.isTTY === true,
    translateTime: 'SYS:yyyy-mm-dd HH:MM:ss.l',
    ignore: 'pid,hostname,category,msgId',
    messageFormat: (log: Record<string, unknown>, key: string) =>
      `${typeof log.category === 'string' ? `[${log.category}] ` : ''}${typeof log.msgId === 'string' ? `%${log.msgId}: ` : ''}${String(log[key] ?? '')}`,
  });
}

export class Logs {
  readonly root: pino.Logger;
  private readonly children = new Map<DebugCategory, pino.Logger>();
  private baseLevel: pino.Level;
  /** What the lines look like on the main destination, once decided. */
  readonly format: 'json' | 'pretty';
  readonly syslog: SyslogStream | undefined;

  /** A destination given (tests) is written JSON unless the format says pretty. */
  constructor(level: pino.Level = 'info', destination?: pino.DestinationStream, outputs: LogOutputs = {}) {
    this.baseLevel = level;
    const want = outputs.format ?? 'auto';
    this.format = want === 'auto' ? (destination === undefined && process.stderr.isTTY ? 'pretty' : 'json') : want;
    const main = this.format === 'pretty' ? prettyStream(destination) : (destination ?? pino.destination(2));
    this.syslog = outputs.syslog ? new SyslogStream(outputs.syslog) : undefined;
    const stream = this.syslog
      ? pino.multistream([
          { level: 'trace', stream: main },
          { level: 'trace', stream: this.syslog },
        ])
      : main;
    // Secrets never reach the log: these keys are censored wherever they appear.
    this.root = pino(
      {
        level,
        redact: {
          paths: ['key', '*.key', 'keys', '*.keys', 'passphrase', '*.passphrase', 'token', '*.token'],
          censor: '[redacted]',
        },
      },
      stream,
    );
  }

  syslogStats(): (SyslogStats & { target: SyslogTarget }) | undefined {
    return this.syslog ? { ...this.syslog.stats, target: this.syslog.target } : undefined;
  }

  /** Flushes the main destination and closes the syslog socket (the daemon's stop). */
  close(): void {
    this.root.flush?.();
    this.syslog?.close();
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
