/**
 * Scripted SIP peers of bench:sip, both in the benchmark process so they share one clock
 * (performance.now): a phone over mutual TLS and a UCM on TCP that answers every INVITE at once
 * with 100/180/200 + SDP and every other request with 200. Each side stamps what it writes (just
 * before the write) and what it reads (on arrival of the chunk, before parsing), keyed by
 * `Call-ID|CSeq number|method or status`, so one message's transit through the proxy under test
 * is `received - sent` on the same clock.
 */
import net from 'node:net';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { SipFramer } from '../../src/sip/framing';

/** Send and receive stamps of one run (cleared between phases: bounded by the calls of a phase). */
export class Stamps {
  readonly sent = new Map<string, number>();
  readonly recv = new Map<string, number>();

  clear(): void {
    this.sent.clear();
    this.recv.clear();
  }

  /** Transit of one message in ms, or undefined when either end is missing. */
  transit(key: string): number | undefined {
    const s = this.sent.get(key);
    const r = this.recv.get(key);
    return s === undefined || r === undefined ? undefined : r - s;
  }
}

interface Head {
  first: string;
  lines: string[];
  callId: string;
  cseq: number;
  cseqMethod: string;
  /** Request method, or the status code as a string for a response. */
  what: string;
  status: number;
  body: string;
}

function headerValues(lines: string[], names: string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const colon = l.indexOf(':');
    if (colon < 0) continue;
    if (names.includes(l.slice(0, colon).trim().toLowerCase())) out.push(l.slice(colon + 1).trim());
  }
  return out;
}

function parseHead(text: string): Head {
  const end = text.indexOf('\r\n\r\n');
  const lines = text.slice(0, end).split('\r\n');
  const first = lines[0] ?? '';
  const cseq = (headerValues(lines, ['cseq'])[0] ?? '0 X').split(/\s+/);
  const isResponse = first.startsWith('SIP/2.0 ');
  const status = isResponse ? Number(first.slice(8, 11)) : 0;
  return {
    first,
    lines,
    callId: headerValues(lines, ['call-id', 'i'])[0] ?? '',
    cseq: Number(cseq[0]),
    cseqMethod: cseq[1] ?? '',
    what: isResponse ? String(status) : (first.split(' ')[0] ?? ''),
    status,
    body: text.slice(end + 4),
  };
}

export function stampKey(callId: string, cseq: number, what: string | number): string {
  return `${callId}|${cseq}|${what}`;
}

/** Reads SIP messages off a stream; stamps each on arrival of its last chunk. */
function onMessages(sock: net.Socket, stamps: Stamps, handle: (h: Head, text: string) => void): void {
  const framer = new SipFramer();
  sock.on('data', (chunk: Buffer) => {
    const t = performance.now();
    for (const item of framer.push(chunk)) {
      if (item.kind !== 'message') continue;
      const text = item.data.toString('utf8');
      const h = parseHead(text);
      // ACK is keyed by its own method (its CSeq number is the INVITE's).
      stamps.recv.set(stampKey(h.callId, h.cseq, h.what), t);
      handle(h, text);
    }
  });
}

export function sdp(address: string, port: number, opts: { key?: string; direction?: string } = {}): string {
  return [
    'v=0',
    `o=bench 7000 1 IN IP4 ${address}`,
    's=SIP Call',
    `c=IN IP4 ${address}`,
    't=0 0',
    `m=audio ${port} ${opts.key ? 'RTP/SAVP' : 'RTP/AVP'} 0 101`,
    ...(opts.key ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${opts.key}`] : []),
    'a=rtpmap:0 PCMU/8000',
    'a=rtpmap:101 telephone-event/8000',
    'a=fmtp:101 0-15',
    `a=${opts.direction ?? 'sendrecv'}`,
    '',
  ].join('\r\n');
}

function message(first: string, headers: string[], body = ''): string {
  const withBody = body ? [...headers, 'Content-Type: application/sdp'] : headers;
  return `${[first, ...withBody, `Content-Length: ${Buffer.byteLength(body)}`].join('\r\n')}\r\n\r\n${body}`;
}

// ------------------------------------------------------------------------------------ UCM

export interface UcmOptions {
  address: string;
  port: number;
  /** Where the UCM-side media is (SDP answer only: nothing is sent there). */
  mediaAddress: string;
  mediaPort: number;
}

/** A UCM stand-in: answers at once on the connection the request came on. */
export class ScriptedUcm {
  private server?: net.Server;
  private readonly socks = new Set<net.Socket>();
  requests = 0;
  /** The SDP of the last INVITE that carried one, as the relay delivered it (its rewrite is checked). */
  lastOffer = '';

  constructor(
    private readonly o: UcmOptions,
    private readonly stamps: Stamps,
  ) {}

  async start(): Promise<void> {
    const server = net.createServer({ noDelay: true }, (sock) => this.onConnection(sock));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.o.port, this.o.address, () => resolve());
    });
    this.server = server;
  }

  async stop(): Promise<void> {
    for (const s of this.socks) s.destroy();
    await new Promise<void>((r) => (this.server ? this.server.close(() => r()) : r()));
  }

  private onConnection(sock: net.Socket): void {
    this.socks.add(sock);
    sock.on('close', () => this.socks.delete(sock));
    sock.on('error', () => undefined);
    onMessages(sock, this.stamps, (h) => {
      if (h.status) return; // responses: the phone never sends requests that UCM must answer to
      this.requests++;
      if (h.what === 'ACK') return;
      if (h.what === 'INVITE' && h.body) this.lastOffer = h.body;
      const send = (status: number, reason: string, extra: string[] = [], body = '') => {
        const keep = h.lines.filter((l) => /^(via|v|from|f|call-id|i|cseq)\s*:/i.test(l));
        const rr = status > 100 ? h.lines.filter((l) => /^record-route\s*:/i.test(l)) : [];
        const toLine = h.lines.find((l) => /^(to|t)\s*:/i.test(l)) ?? 'To: <sip:x@x>';
        const to = status > 100 && !/;tag=/i.test(toLine) ? `${toLine};tag=ucm-${h.callId.length}` : toLine;
        const text = message(`SIP/2.0 ${status} ${reason}`, [...keep, to, ...rr, ...extra], body);
        this.stamps.sent.set(stampKey(h.callId, h.cseq, status), performance.now());
        sock.write(text);
      };
      const contact = `Contact: <sip:1001@${this.o.address}:${this.o.port};transport=tcp>`;
      if (h.what === 'INVITE') {
        const hold = h.body.includes('a=sendonly');
        send(100, 'Trying');
        send(180, 'Ringing', [contact]);
        send(
          200,
          'OK',
          [contact],
          sdp(this.o.mediaAddress, this.o.mediaPort, { direction: hold ? 'recvonly' : 'sendrecv' }),
        );
      } else {
        send(200, 'OK', h.what === 'REGISTER' ? [h.lines.find((l) => /^(contact|m)\s*:/i.test(l)) ?? ''] : []);
      }
    });
  }
}

// ------------------------------------------------------------------------------------ phone

export interface PhoneOptions {
  /** The proxy under test. */
  host: string;
  port: number;
  localAddress: string;
  cert: string;
  key: string;
  /** Distinguishes Call-IDs between phones and runs. */
  name: string;
  timeoutMs: number;
}

/** Per-call figures (ms): set-up and hold at the phone, transit of each message through the proxy. */
export interface CallFigures {
  setup: number;
  hold: number;
  transit: Record<string, number>;
}

/** Transit figures reported per message (the proxy's own 100 Trying under Kamailio is not UCM's). */
export const MESSAGES = ['INVITE', '180', '200', 'ACK', 'reINVITE', 'reINVITE-200', 'BYE', 'BYE-200'] as const;

const SRTP_KEY = Buffer.alloc(30, 0x5a).toString('base64');

export class ScriptedPhone {
  private waiters = new Map<string, (h: Head) => void>();
  private seq = 0;
  closed = false;
  /** The SDP of the last 200 to an INVITE, as the relay delivered it (its rewrite is checked). */
  lastAnswer = '';

  private constructor(
    private readonly sock: tls.TLSSocket,
    private readonly o: PhoneOptions,
    private readonly stamps: Stamps,
  ) {
    onMessages(sock, stamps, (h) => {
      if (h.status < 200) return;
      if (h.cseqMethod === 'INVITE' && h.body) this.lastAnswer = h.body;
      const key = stampKey(h.callId, h.cseq, h.cseqMethod);
      const w = this.waiters.get(key);
      if (w) {
        this.waiters.delete(key);
        w(h);
      }
    });
    sock.on('close', () => {
      this.closed = true;
    });
  }

  static connect(o: PhoneOptions, stamps: Stamps): Promise<ScriptedPhone> {
    return new Promise((resolve, reject) => {
      // From the phone's own address (tls.connect has no localAddress): TCP first, TLS over it.
      const raw = net.connect({ host: o.host, port: o.port, localAddress: o.localAddress, noDelay: true });
      raw.on('error', () => undefined);
      const sock = tls.connect({ socket: raw, cert: o.cert, key: o.key, rejectUnauthorized: false });
      const timer = setTimeout(() => {
        sock.destroy();
        raw.destroy();
        reject(new Error(`phone ${o.name}: no TLS connection to ${o.host}:${o.port} within ${o.timeoutMs} ms`));
      }, o.timeoutMs);
      sock.once('secureConnect', () => {
        clearTimeout(timer);
        sock.removeAllListeners('error');
        sock.on('error', () => undefined);
        resolve(new ScriptedPhone(sock, o, stamps));
      });
      sock.once('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
  }

  close(): void {
    this.sock.destroy();
  }

  private via(branch: string): string {
    return `Via: SIP/2.0/TLS ${this.o.localAddress}:5061;rport;branch=z9hG4bK${branch}`;
  }

  /** Sends a request and waits (bounded) for its final response. */
  private transaction(callId: string, cseq: number, method: string, text: string): Promise<Head> {
    const key = stampKey(callId, cseq, method);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters.delete(key);
        reject(
          new Error(`phone ${this.o.name}: no final response to ${method} ${callId} within ${this.o.timeoutMs} ms`),
        );
      }, this.o.timeoutMs);
      this.waiters.set(key, (h) => {
        clearTimeout(timer);
        if (h.status >= 300) reject(new Error(`phone ${this.o.name}: ${method} ${callId} got ${h.first}`));
        else resolve(h);
      });
      this.send(callId, cseq, method, text);
    });
  }

  private send(callId: string, cseq: number, what: string, text: string): void {
    this.stamps.sent.set(stampKey(callId, cseq, what), performance.now());
    this.sock.write(text);
  }

  async register(): Promise<string> {
    const callId = `reg-${this.o.name}-${++this.seq}@${this.o.localAddress}`;
    const aor = `<sip:1000@${this.o.host}>`;
    await this.transaction(
      callId,
      1,
      'REGISTER',
      message(`REGISTER sip:${this.o.host} SIP/2.0`, [
        this.via(`reg${this.seq}`),
        `From: ${aor};tag=r${this.seq}`,
        `To: ${aor}`,
        `Call-ID: ${callId}`,
        'CSeq: 1 REGISTER',
        'Max-Forwards: 70',
        `Contact: <sip:1000@${this.o.localAddress}:5061;transport=tls>`,
        'Expires: 3600',
      ]),
    );
    return callId;
  }

  /** One call: INVITE → 100/180/200, ACK, re-INVITE (hold) → 200, ACK, BYE → 200. */
  async call(): Promise<{ callId: string; figures: () => CallFigures }> {
    const n = ++this.seq;
    const callId = `${this.o.name}-${n}@${this.o.localAddress}`;
    const from = `From: <sip:1000@${this.o.host}>;tag=p${n}`;
    const toUri = `sip:1001@${this.o.host}:${this.o.port};transport=tls`;
    const contact = `Contact: <sip:1000@${this.o.localAddress}:5061;transport=tls>`;
    const common = [from, `Call-ID: ${callId}`, 'Max-Forwards: 70'];
    const offer = sdp(this.o.localAddress, 30000 + (n % 1000) * 2, { key: SRTP_KEY });
    const ok = await this.transaction(
      callId,
      1,
      'INVITE',
      message(
        `INVITE ${toUri} SIP/2.0`,
        [this.via(`${n}a`), `To: <${toUri}>`, ...common, 'CSeq: 1 INVITE', contact],
        offer,
      ),
    );
    // The dialog as a UAC keeps it (RFC 3261 §12.1.2): remote target and route set.
    const to = headerValues(ok.lines, ['to', 't'])[0] ?? '';
    const remote = /<([^>]+)>/.exec(headerValues(ok.lines, ['contact', 'm'])[0] ?? '')?.[1] ?? toUri;
    const routes = headerValues(ok.lines, ['record-route'])
      .flatMap((v) => v.split(/,(?=\s*<)/))
      .map((v) => v.trim())
      .reverse();
    const inDialog = (method: string, cseq: number, branch: string, body = '') =>
      message(
        `${method} ${remote} SIP/2.0`,
        [
          this.via(branch),
          `To: ${to}`,
          ...common,
          `CSeq: ${cseq} ${method}`,
          ...(routes.length ? [`Route: ${routes.join(', ')}`] : []),
          ...(method === 'INVITE' ? [contact] : []),
        ],
        body,
      );
    this.send(callId, 1, 'ACK', inDialog('ACK', 1, `${n}b`));
    const hold = sdp(this.o.localAddress, 30000 + (n % 1000) * 2, { key: SRTP_KEY, direction: 'sendonly' });
    await this.transaction(callId, 2, 'INVITE', inDialog('INVITE', 2, `${n}c`, hold));
    this.send(callId, 2, 'ACK', inDialog('ACK', 2, `${n}d`));
    await this.transaction(callId, 3, 'BYE', inDialog('BYE', 3, `${n}e`));
    const figures = (): CallFigures => {
      const t = (cseq: number, what: string | number) => this.stamps.transit(stampKey(callId, cseq, what));
      const span = (cseq: number, req: string, status: number) => {
        const s = this.stamps.sent.get(stampKey(callId, cseq, req));
        const r = this.stamps.recv.get(stampKey(callId, cseq, status));
        return s === undefined || r === undefined ? Number.NaN : r - s;
      };
      const transit: Record<string, number> = {};
      const pairs: [string, number, string | number][] = [
        ['INVITE', 1, 'INVITE'],
        ['180', 1, 180],
        ['200', 1, 200],
        ['ACK', 1, 'ACK'],
        ['reINVITE', 2, 'INVITE'],
        ['reINVITE-200', 2, 200],
        ['BYE', 3, 'BYE'],
        ['BYE-200', 3, 200],
      ];
      for (const [name, cseq, what] of pairs) transit[name] = t(cseq, what) ?? Number.NaN;
      return { setup: span(1, 'INVITE', 200), hold: span(2, 'INVITE', 200), transit };
    };
    return { callId, figures };
  }
}
