/**
 * The lab's SIP user agents and UCM simulator speak over one of these: a TCP or TLS stream
 * framed by the appliance's own SipFramer and parsed by its SIP message codec. Messages are
 * matched by waiters first; requests nobody waits for go to `onRequest`. A stream that cannot
 * be framed or parsed is closed with the reason kept in `error` (the lab then reports it).
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import { SipFramer } from '../src/sip/framing';
import {
  canonicalName,
  getHeader,
  makeResponse,
  parseSipMessage,
  type SipHeader,
  type SipMessage,
  serializeSipMessage,
} from '../src/sip/message';

export class SipChannel {
  private readonly framer = new SipFramer();
  private readonly unclaimed: SipMessage[] = [];
  private waiters: {
    pred: (m: SipMessage) => boolean;
    resolve: (m: SipMessage) => void;
    reject: (e: Error) => void;
  }[] = [];
  onRequest?: (msg: SipMessage) => void;
  /** Why the stream was closed by this side (framing or parse failure), if it was. */
  error?: string;
  closed = false;

  constructor(
    readonly sock: net.Socket,
    readonly label: string,
  ) {
    sock.on('data', (chunk: Buffer) => this.onData(chunk));
    sock.on('close', () => {
      this.closed = true;
      for (const w of this.waiters.splice(0))
        w.reject(new Error(`${this.label}: connection closed${this.error ? ` (${this.error})` : ''}`));
    });
    sock.on('error', (err) => {
      this.error ??= err.message;
    });
  }

  private onData(chunk: Buffer): void {
    try {
      for (const item of this.framer.push(chunk)) {
        if (item.kind === 'ping') this.sock.write('\r\n');
        if (item.kind !== 'message') continue;
        this.dispatch(parseSipMessage(item.data));
      }
    } catch (err) {
      this.error = `${this.label}: ${(err as Error).message}`;
      this.sock.destroy();
    }
  }

  private dispatch(msg: SipMessage): void {
    const w = this.waiters.find((x) => x.pred(msg));
    if (w) {
      this.waiters = this.waiters.filter((x) => x !== w);
      w.resolve(msg);
    } else if (msg.start.kind === 'request' && this.onRequest) {
      this.onRequest(msg);
    } else {
      this.unclaimed.push(msg);
    }
  }

  send(msg: SipMessage): void {
    if (!this.closed) this.sock.write(serializeSipMessage(msg));
  }

  /** The next message (already received or future) matching `pred`, bounded in time. */
  waitFor(pred: (m: SipMessage) => boolean, what: string, timeoutMs = 5000): Promise<SipMessage> {
    const have = this.unclaimed.findIndex(pred);
    if (have >= 0) return Promise.resolve(this.unclaimed.splice(have, 1)[0] as SipMessage);
    return new Promise((resolve, reject) => {
      const entry = {
        pred,
        resolve: (m: SipMessage) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e: Error) => {
          clearTimeout(timer);
          reject(e);
        },
      };
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== entry);
        reject(new Error(`${this.label}: no ${what} within ${timeoutMs} ms${this.error ? ` (${this.error})` : ''}`));
      }, timeoutMs);
      this.waiters.push(entry);
    });
  }

  /** Closes the stream; whoever still waits gets an error now rather than at its timeout. */
  close(): void {
    this.closed = true;
    this.sock.destroy();
    for (const w of this.waiters.splice(0)) w.reject(new Error(`${this.label}: closed while waiting`));
  }
}

// ---- message builders (pure) ----

export const newBranch = () => `z9hG4bK${randomBytes(8).toString('hex')}`;
export const newTag = () => randomBytes(4).toString('hex');
export const newCallId = (host: string) => `${randomBytes(8).toString('hex')}@${host}`;

export interface RequestHeaders {
  via: string;
  from: string;
  to: string;
  callId: string;
  cseq: number;
  contact?: string;
  extra?: SipHeader[];
}

export function sipRequest(method: string, uri: string, h: RequestHeaders, sdp = ''): SipMessage {
  const headers: SipHeader[] = [
    { name: 'Via', value: h.via },
    { name: 'From', value: h.from },
    { name: 'To', value: h.to },
    { name: 'Call-ID', value: h.callId },
    { name: 'CSeq', value: `${h.cseq} ${method}` },
    { name: 'Max-Forwards', value: '70' },
    ...(h.contact ? [{ name: 'Contact', value: h.contact }] : []),
    ...(h.extra ?? []),
    ...(sdp ? [{ name: 'Content-Type', value: 'application/sdp' }] : []),
  ];
  return { start: { kind: 'request', method, uri }, headers, body: Buffer.from(sdp, 'latin1') };
}

/** A response with the request's Via/From/To/Call-ID/CSeq, a To tag when given, Contact and SDP. */
export function sipResponse(
  req: SipMessage,
  status: number,
  reason: string,
  o: { toTag?: string; contact?: string; sdp?: string; extra?: SipHeader[] } = {},
): SipMessage {
  const res = makeResponse(req, status, reason);
  const to = res.headers.find((x) => canonicalName(x.name) === 'to');
  if (to && o.toTag && !/;\s*tag=/i.test(to.value)) to.value = `${to.value};tag=${o.toTag}`;
  const length = res.headers.findIndex((x) => canonicalName(x.name) === 'content-length');
  const extra: SipHeader[] = [
    ...(o.contact ? [{ name: 'Contact', value: o.contact }] : []),
    ...(o.extra ?? []),
    ...(o.sdp ? [{ name: 'Content-Type', value: 'application/sdp' }] : []),
  ];
  res.headers.splice(length, 0, ...extra);
  return { ...res, body: Buffer.from(o.sdp ?? '', 'latin1') };
}

/** `1000` from `"Alice" <sip:1000@host>;tag=x` or `sip:1000@host:5060`. */
export function userOf(value: string | undefined): string | undefined {
  return value ? /sips?:([^@;>\s]+)@/i.exec(value)?.[1] : undefined;
}

export function tagOf(value: string | undefined): string | undefined {
  return value ? /;\s*tag=([^;\s]+)/i.exec(value)?.[1] : undefined;
}

/** The URI inside a Contact (`<sip:...>`), or the value itself. */
export function contactUri(value: string | undefined): string | undefined {
  if (!value) return undefined;
  return /<([^>]+)>/.exec(value)?.[1] ?? value.split(';')[0]?.trim();
}

export function isResponseTo(msg: SipMessage, callId: string, method: string, status?: (s: number) => boolean) {
  if (msg.start.kind !== 'response') return false;
  if (getHeader(msg, 'call-id') !== callId) return false;
  const cseq = getHeader(msg, 'cseq') ?? '';
  if (!cseq.toUpperCase().endsWith(` ${method}`)) return false;
  return status ? status(msg.start.status) : true;
}

export function statusOf(msg: SipMessage): number {
  return msg.start.kind === 'response' ? msg.start.status : 0;
}
