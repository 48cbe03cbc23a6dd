/**
 * SIP message model (RFC 3261 §7): start line, headers in order with their names as sent, and
 * the body as bytes, so a body the appliance does not understand (remotecc XML, DTMF, ...)
 * is forwarded byte-for-byte. Headers are re-serialized `Name: value`; only the headers the
 * inspector changes differ from what the peer sent.
 */
import { SipParseError } from '../errors';

export interface SipHeader {
  name: string;
  value: string;
}

export interface SipRequestLine {
  kind: 'request';
  method: string;
  uri: string;
}

export interface SipStatusLine {
  kind: 'response';
  status: number;
  reason: string;
}

export interface SipMessage {
  start: SipRequestLine | SipStatusLine;
  headers: SipHeader[];
  body: Buffer;
}

/** RFC 3261 §7.3.3 compact forms, plus the ones later RFCs added that Cisco phones send. */
const COMPACT: Record<string, string> = {
  i: 'call-id',
  m: 'contact',
  e: 'content-encoding',
  l: 'content-length',
  c: 'content-type',
  f: 'from',
  s: 'subject',
  k: 'supported',
  t: 'to',
  v: 'via',
  r: 'refer-to',
  b: 'referred-by',
  o: 'event',
  x: 'session-expires',
  u: 'allow-events',
};

/**
 * Names as peers spell them → canonical, so the few dozen names in use are lowered once, not at
 * every lookup (the inspector looks headers up by name several times per message; bench:sip).
 * Bounded: names come from the Internet; past the bound they are computed each time.
 */
const CANONICAL = new Map<string, string>();
const MAX_CANONICAL = 256;

/** Lower-case full header name, compact forms expanded. */
export function canonicalName(name: string): string {
  const known = CANONICAL.get(name);
  if (known !== undefined) return known;
  const lower = name.toLowerCase();
  const canonical = COMPACT[lower] ?? lower;
  if (CANONICAL.size < MAX_CANONICAL) CANONICAL.set(name, canonical);
  return canonical;
}

/**
 * `head`: the start line and headers as the framer decoded them (latin1, up to the blank line),
 * so they are not searched for and decoded twice.
 */
export function parseSipMessage(data: Buffer, head?: string): SipMessage {
  const end = head !== undefined ? head.length : data.indexOf('\r\n\r\n');
  if (end < 0) throw new SipParseError('no end of headers');
  // latin1 keeps every byte as one char, so re-serializing is lossless for any header bytes.
  const lines = (head ?? data.toString('latin1', 0, end)).split('\r\n');
  const first = lines[0] ?? '';
  let start: SipRequestLine | SipStatusLine;
  const resp = /^SIP\/2\.0 (\d{3}) ?(.*)$/.exec(first);
  if (resp) {
    start = { kind: 'response', status: Number(resp[1]), reason: resp[2] ?? '' };
  } else {
    const req = /^([A-Za-z]+) (\S+) SIP\/2\.0$/.exec(first);
    if (!req) throw new SipParseError(`bad start line "${first.slice(0, 60)}"`);
    start = { kind: 'request', method: (req[1] ?? '').toUpperCase(), uri: req[2] ?? '' };
  }
  const headers: SipHeader[] = [];
  for (let n = 1; n < lines.length; n++) {
    const line = lines[n] ?? '';
    if (/^[ \t]/.test(line)) {
      // RFC 3261 §7.3.1 line folding: continuation of the previous header.
      const prev = headers[headers.length - 1];
      if (!prev) throw new SipParseError(`line ${n + 1}: continuation before any header`);
      prev.value += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(':');
    if (colon <= 0) throw new SipParseError(`line ${n + 1}: header without a name: "${line.slice(0, 40)}"`);
    const name = line.slice(0, colon).trim();
    if (!/^[A-Za-z0-9!%'*+._`~-]+$/.test(name))
      throw new SipParseError(`line ${n + 1}: bad header name "${name.slice(0, 40)}"`);
    headers.push({ name, value: line.slice(colon + 1).trim() });
  }
  const msg: SipMessage = { start, headers, body: data.subarray(end + 4) };
  for (const h of ['call-id', 'cseq', 'via']) {
    if (getHeader(msg, h) === undefined) throw new SipParseError(`missing ${h} header`);
  }
  if (!parseCSeq(msg)) throw new SipParseError(`bad CSeq "${getHeader(msg, 'cseq')}"`);
  return msg;
}

export function serializeSipMessage(msg: SipMessage): Buffer {
  const first =
    msg.start.kind === 'request'
      ? `${msg.start.method} ${msg.start.uri} SIP/2.0`
      : `SIP/2.0 ${msg.start.status} ${msg.start.reason}`;
  let head = `${first}\r\n`;
  let sawLength = false;
  for (const h of msg.headers) {
    if (canonicalName(h.name) === 'content-length') {
      if (sawLength) continue;
      sawLength = true;
      head += `${h.name}: ${msg.body.length}\r\n`;
    } else {
      head += `${h.name}: ${h.value}\r\n`;
    }
  }
  if (!sawLength) head += `Content-Length: ${msg.body.length}\r\n`;
  return Buffer.concat([Buffer.from(`${head}\r\n`, 'latin1'), msg.body]);
}

export function getHeader(msg: SipMessage, name: string): string | undefined {
  return msg.headers.find((h) => canonicalName(h.name) === name)?.value;
}

export function getHeaders(msg: SipMessage, name: string): SipHeader[] {
  return msg.headers.filter((h) => canonicalName(h.name) === name);
}

export function parseCSeq(msg: SipMessage): { seq: number; method: string } | undefined {
  const m = /^(\d{1,10})\s+([A-Za-z]+)$/.exec(getHeader(msg, 'cseq') ?? '');
  return m ? { seq: Number(m[1]), method: (m[2] ?? '').toUpperCase() } : undefined;
}

export function callIdOf(msg: SipMessage): string {
  return getHeader(msg, 'call-id') ?? '';
}

export function isRequest(msg: SipMessage): msg is SipMessage & { start: SipRequestLine } {
  return msg.start.kind === 'request';
}

/** Media type of the body, lower-case without parameters ('' when there is none). */
export function contentType(msg: SipMessage): string {
  return (getHeader(msg, 'content-type') ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** A response the appliance itself sends (e.g. 488), copying the dialog headers from the request. */
export function makeResponse(req: SipMessage, status: number, reason: string): SipMessage {
  const copy = req.headers.filter((h) => ['via', 'from', 'to', 'call-id', 'cseq'].includes(canonicalName(h.name)));
  return {
    start: { kind: 'response', status, reason },
    headers: [...copy.map((h) => ({ ...h })), { name: 'Content-Length', value: '0' }],
    body: Buffer.alloc(0),
  };
}
