/**
 * A log line as an RFC 5424 syslog message (RFC 5424 §6):
 *   <PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID - MSG
 * PRI is facility × 8 + severity (§6.2.1); MSGID is the line's message tag (`PPX-4-120003`,
 * src/messages.ts) or `-`; no structured data (an SD-ID of our own would need an enterprise
 * number); MSG is the text with the `%PPX-…: ` prefix an ASA puts there, then the line's other
 * fields as JSON. Pure: the entry in, the bytes out.
 */

/** Facility names and numbers (RFC 5424 §6.2.1, table 1). */
export const SYSLOG_FACILITIES = {
  kern: 0,
  user: 1,
  mail: 2,
  daemon: 3,
  auth: 4,
  syslog: 5,
  lpr: 6,
  news: 7,
  uucp: 8,
  cron: 9,
  authpriv: 10,
  ftp: 11,
  local0: 16,
  local1: 17,
  local2: 18,
  local3: 19,
  local4: 20,
  local5: 21,
  local6: 22,
  local7: 23,
} as const;
export type SyslogFacility = keyof typeof SYSLOG_FACILITIES;

/** pino's level numbers to syslog severities (§6.2.1, table 2): trace and debug are 7, fatal 2. */
export function syslogSeverity(pinoLevel: number): number {
  if (pinoLevel >= 60) return 2;
  if (pinoLevel >= 50) return 3;
  if (pinoLevel >= 40) return 4;
  if (pinoLevel >= 30) return 6;
  return 7;
}

export interface SyslogHeader {
  facility: SyslogFacility;
  hostname: string;
  appName: string;
  procId: number;
}

/** What pino wrote for one line (its JSON, parsed). */
export type LogEntry = Record<string, unknown> & { level?: unknown; time?: unknown; msg?: unknown; msgId?: unknown };

/** Header fields are PRINTUSASCII (33–126) and bounded (§6): anything else becomes `_`, empty `-`. */
function headerField(s: string, max: number): string {
  const clean = s.replace(/[^\x21-\x7e]/g, '_').slice(0, max);
  return clean === '' ? '-' : clean;
}

/** Keys pino adds or that the header already carries: not repeated in MSG. */
const HEADER_KEYS = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'msgId']);

export function formatRfc5424(entry: LogEntry, h: SyslogHeader): string {
  const level = typeof entry.level === 'number' ? entry.level : 30;
  const pri = SYSLOG_FACILITIES[h.facility] * 8 + syslogSeverity(level);
  const time = typeof entry.time === 'number' ? new Date(entry.time) : new Date();
  const msgId = typeof entry.msgId === 'string' ? headerField(entry.msgId, 32) : '-';
  const text = typeof entry.msg === 'string' ? entry.msg : '';
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entry)) if (!HEADER_KEYS.has(k)) rest[k] = v;
  const fields = Object.keys(rest).length > 0 ? ` ${JSON.stringify(rest)}` : '';
  // One datagram is one message: line breaks in a text would split it in a receiver's file.
  const msg = `${msgId === '-' ? '' : `%${msgId}: `}${text}${fields}`.replace(/[\r\n]+/g, ' ');
  const header = [
    `<${pri}>1`,
    time.toISOString(),
    headerField(h.hostname, 255),
    headerField(h.appName, 48),
    headerField(String(h.procId), 128),
    msgId,
    '-',
  ].join(' ');
  return `${header} ${msg}`;
}

/** The message as a datagram of at most maxBytes, cut on a UTF-8 character boundary. */
export function syslogDatagram(message: string, maxBytes: number): Buffer {
  const buf = Buffer.from(message, 'utf8');
  if (buf.length <= maxBytes) return buf;
  let end = maxBytes;
  // Back off continuation bytes (10xxxxxx) so the cut does not split a character.
  while (end > 0 && ((buf[end] ?? 0) & 0xc0) === 0x80) end--;
  return buf.subarray(0, end);
}
