/**
 * The CAPF relay (thin I/O, docs/capf.md): phones enrolling for an LSC connect here and are piped,
 * byte for byte, to UCM's CAPF (tcp/3804). CAPF runs TLS between the phone and CAPF itself (the
 * phone verifies CAPF's certificate against the CTL's capf record), so the appliance never
 * terminates it and cannot read it: this is the ASA's static PAT + ACL for 3804, bounded.
 *
 * Everything a peer can hold is capped, as on every Internet-facing listener: connections in all
 * and per source (src/tls/admission.ts, refused before anything is read), a deadline for the
 * first byte (CAPF is dialled only once the phone has spoken, and only if that byte opens a TLS
 * handshake record), an idle timeout, a maximum duration and a byte budget per connection, and
 * back-pressure both ways (a side that cannot write pauses the side that reads: at most one
 * chunk above the socket's high-water mark is ever buffered). Every refusal and forced close is
 * counted (src/capf/event-codes.ts) and logged through a rate limiter.
 */
import net from 'node:net';
import type { Logger } from 'pino';
import type { Listening } from '../contracts/service';
import { LogLimiter } from '../log-limit';
import { ppx } from '../messages';
import { Admission, type AdmissionTicket, isRefusal } from '../tls/admission';
import { plainAddress } from '../tls/remote-addr';
import { CAPF_EVENT_CODES, type CapfCounter } from './event-codes';

/** A TLS record starts with its content type; a ClientHello travels in a handshake record (22). */
const TLS_HANDSHAKE_RECORD = 0x16;
/** After one side has closed, how long the other may take to flush what it was given. */
const LINGER_MS = 2000;

export interface CapfListenerSpec {
  address: string;
  port: number;
  interfaceName: string;
}

export interface CapfTarget {
  address: string;
  port: number;
  /** The appliance's address on the interface toward CAPF (the connection's source). */
  localAddress?: string;
  connectTimeoutMs: number;
}

export interface CapfLimits {
  maxConnections: number;
  maxPerSource: number;
  firstByteTimeoutMs: number;
  idleTimeoutMs: number;
  maxDurationMs: number;
  /** Bytes per connection, both directions together. */
  maxBytes: number;
}

export interface CapfRelayOptions {
  listeners: CapfListenerSpec[];
  target: CapfTarget;
  limits: CapfLimits;
  /** Every counted event (the service keeps the counters and the metric). */
  count(event: CapfCounter): void;
  /** Bytes relayed, per direction, for the metric. */
  bytes?(direction: 'to-capf' | 'to-phone', n: number): void;
  log: Logger;
  errors: Logger;
  logLimiter?: LogLimiter;
}

export type CapfSessionState = 'waiting' | 'connecting' | 'relaying' | 'closing';

export interface CapfSessionView {
  id: number;
  phone: string;
  capf: string;
  state: CapfSessionState;
  since: string;
  toCapf: number;
  toPhone: number;
  /** Bytes written and not yet taken by the kernel, both sides (bounded by back-pressure). */
  queued: number;
}

class Session {
  state: CapfSessionState = 'waiting';
  upstream?: net.Socket;
  toCapf = 0;
  toPhone = 0;
  readonly since = new Date();
  readonly timers: NodeJS.Timeout[] = [];
  /** Why the relay closed it: a counted reason, or 'cleared' (an operator, a stop, a failure counted where it happened). */
  forced?: CapfCounter | 'cleared';
  phoneClosed = false;
  upstreamClosed = true;
  finished = false;

  constructor(
    readonly id: number,
    readonly phone: net.Socket,
    readonly remote: string,
    readonly ticket: AdmissionTicket,
    readonly capf: string,
  ) {}
}

export class CapfRelay {
  private readonly servers: net.Server[] = [];
  private readonly sessions = new Map<number, Session>();
  private readonly admission: Admission;
  private readonly limiter: LogLimiter;
  private limits: CapfLimits;
  private target: CapfTarget;
  private nextId = 1;
  private flushTimer?: NodeJS.Timeout;

  constructor(private readonly o: CapfRelayOptions) {
    this.limits = o.limits;
    this.target = o.target;
    this.admission = new Admission(admissionLimits(o.limits));
    this.limiter = o.logLimiter ?? new LogLimiter();
  }

  get active(): number {
    return this.sessions.size;
  }

  /** Connections open from one source (tests, views). */
  fromSource(source: string): number {
    return this.admission.fromSource(source);
  }

  async start(): Promise<Listening[]> {
    const out: Listening[] = [];
    for (const l of this.o.listeners) {
      // allowHalfOpen: a TLS close_notify and FIN from one side must not cut what the other still sends.
      const server = net.createServer({ noDelay: true, allowHalfOpen: true }, (s) => this.onAccept(s));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // EMFILE/ENFILE on accept land here: counted, logged at a bounded rate, the listener stays.
      server.on('error', (err: NodeJS.ErrnoException) => {
        this.o.count('listener-errors');
        this.warn(
          `listener:${err.code ?? 'error'}`,
          ppx(190005, {
            listener: `${l.address}:${l.port}`,
            err: err.message,
            code: CAPF_EVENT_CODES['listener-errors'],
          }),
        );
      });
      this.servers.push(server);
      out.push({ what: `capf relay (${l.interfaceName})`, protocol: 'tcp', address: l.address, port: l.port });
    }
    this.flushTimer = setInterval(() => {
      for (const { key, suppressed } of this.limiter.flush(Date.now())) this.reportSuppressed(key, suppressed);
    }, 1000);
    this.flushTimer.unref();
    return out;
  }

  async stop(): Promise<void> {
    if (this.flushTimer) clearInterval(this.flushTimer);
    const closing = Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    for (const s of [...this.sessions.values()]) this.close(s, undefined);
    await closing;
  }

  /**
   * Live reload: new connections meet the new limits, deadlines and CAPF address; open ones
   * take the new idle timeout now (their duration and byte budget stay as they started).
   */
  reconfigure(limits: CapfLimits, target: CapfTarget): void {
    this.limits = limits;
    this.target = target;
    this.admission.setLimits(admissionLimits(limits));
    for (const s of this.sessions.values()) if (s.state === 'relaying') s.phone.setTimeout(limits.idleTimeoutMs);
  }

  views(): CapfSessionView[] {
    return [...this.sessions.values()].map((s) => ({
      id: s.id,
      phone: s.remote,
      capf: s.capf,
      state: s.state,
      since: s.since.toISOString(),
      toCapf: s.toCapf,
      toPhone: s.toPhone,
      queued: s.phone.writableLength + (s.upstream?.writableLength ?? 0),
    }));
  }

  /** Closes connections by id, or all of them; returns the ids closed. */
  clear(id?: number): number[] {
    const hits = [...this.sessions.values()].filter((s) => id === undefined || s.id === id);
    for (const s of hits) this.close(s, undefined);
    return hits.map((s) => s.id);
  }

  private onAccept(phone: net.Socket): void {
    phone.on('error', () => undefined); // its close ends the session; never an unhandled 'error'
    const source = plainAddress(phone.remoteAddress);
    const remote = `${source}:${phone.remotePort ?? 0}`;
    const ticket = this.admission.admit(source);
    if (isRefusal(ticket)) {
      // pending-limit cannot happen (pending per source = per source), but a refusal is a refusal.
      const counter: CapfCounter = ticket === 'global-limit' ? 'refused-global-limit' : 'refused-source-limit';
      this.o.count(counter);
      this.warn(`refused:${counter}`, ppx(190002, { remote, limit: ticket, code: CAPF_EVENT_CODES[counter] }));
      phone.destroy();
      return;
    }
    this.o.count('accepted');
    const limits = this.limits;
    const target = this.target;
    const s = new Session(this.nextId++, phone, remote, ticket, `${target.address}:${target.port}`);
    this.sessions.set(s.id, s);
    phone.once('close', () => {
      s.phoneClosed = true;
      this.sideClosed(s, s.upstream);
    });
    this.timer(s, limits.firstByteTimeoutMs, () => {
      if (s.state === 'waiting') this.close(s, 'first-byte-timeouts', `no byte within ${limits.firstByteTimeoutMs} ms`);
    });
    this.timer(s, limits.maxDurationMs, () =>
      this.close(s, 'duration-limit', `open longer than capf-relay.max-duration (${limits.maxDurationMs / 1000} s)`),
    );
    // Hung up before a byte: the slot is returned now (half-open servers see FIN as 'end' only).
    phone.once('end', () => {
      if (s.state === 'waiting') phone.destroy();
    });
    phone.once('data', (first: Buffer) => {
      // Nothing more is read until CAPF has answered: the phone's bytes wait in its kernel buffer.
      phone.pause();
      if (s.state !== 'waiting') return;
      ticket.handshakeDone();
      if (first[0] !== TLS_HANDSHAKE_RECORD) {
        this.close(
          s,
          'not-tls',
          `first byte 0x${(first[0] ?? 0).toString(16).padStart(2, '0')} is not a TLS handshake`,
        );
        return;
      }
      this.dial(s, first, limits, target);
    });
  }

  private dial(s: Session, first: Buffer, limits: CapfLimits, target: CapfTarget): void {
    s.state = 'connecting';
    const up = net.connect({
      host: target.address,
      port: target.port,
      ...(target.localAddress ? { localAddress: target.localAddress } : {}),
      noDelay: true,
      allowHalfOpen: true,
    });
    s.upstream = up;
    s.upstreamClosed = false;
    up.on('error', (err: NodeJS.ErrnoException) => {
      if (s.state === 'connecting') this.upstreamFailed(s, 'upstream-failures', err.code ?? err.message);
    });
    up.once('close', () => {
      s.upstreamClosed = true;
      this.sideClosed(s, s.phone);
    });
    this.timer(s, target.connectTimeoutMs, () => {
      if (s.state === 'connecting')
        this.upstreamFailed(s, 'upstream-timeouts', `no answer in ${target.connectTimeoutMs} ms`);
    });
    up.once('connect', () => {
      if (s.state !== 'connecting') return;
      s.state = 'relaying';
      this.o.count('relayed');
      s.phone.setTimeout(limits.idleTimeoutMs, () =>
        this.close(s, 'idle-ageouts', `no byte either way for ${Math.round(limits.idleTimeoutMs / 1000)} s`),
      );
      this.pipe(s, s.phone, up, 'to-capf', limits);
      this.pipe(s, up, s.phone, 'to-phone', limits);
      if (this.account(s, 'to-capf', first.length, limits)) this.forward(s.phone, up, first);
      else return;
      // The first chunk may have filled CAPF's side; pipe() resumes on drain otherwise.
      if (!up.writableNeedDrain) s.phone.resume();
    });
  }

  /** One direction, with back-pressure: the reader pauses while the writer is over its mark. */
  private pipe(s: Session, from: net.Socket, to: net.Socket, dir: 'to-capf' | 'to-phone', limits: CapfLimits): void {
    from.on('data', (chunk: Buffer) => {
      if (s.state !== 'relaying') return;
      if (this.account(s, dir, chunk.length, limits)) this.forward(from, to, chunk);
    });
    to.on('drain', () => {
      if (s.state === 'relaying') from.resume();
    });
    // A TLS close_notify is followed by FIN: passed on, the other side may still answer.
    from.once('end', () => {
      if (!to.destroyed) to.end();
    });
  }

  private forward(from: net.Socket, to: net.Socket, chunk: Buffer): void {
    if (!to.write(chunk)) from.pause();
  }

  /** Counts the bytes; false (and the session closed) when they pass the connection's budget. */
  private account(s: Session, dir: 'to-capf' | 'to-phone', n: number, limits: CapfLimits): boolean {
    if (s.toCapf + s.toPhone + n > limits.maxBytes) {
      this.close(s, 'byte-limit', `more than capf-relay.max-bytes (${limits.maxBytes}) through one connection`);
      return false;
    }
    if (dir === 'to-capf') s.toCapf += n;
    else s.toPhone += n;
    this.o.bytes?.(dir, n);
    return true;
  }

  private upstreamFailed(s: Session, counter: 'upstream-failures' | 'upstream-timeouts', why: string): void {
    this.o.count(counter);
    this.limited(
      `upstream:${counter}`,
      ppx(190004, { upstream: s.capf, remote: s.remote, err: why, code: CAPF_EVENT_CODES[counter] }),
      'error',
    );
    this.close(s, undefined);
  }

  /**
   * One side is closed: the other goes too, at once if it still had things to say, after a short
   * linger if it was told to end (so what it was given is flushed). Both closed: the session ends.
   */
  private sideClosed(s: Session, other: net.Socket | undefined): void {
    // Nothing more is relayed, and a timer still armed (the connect timeout) finds nothing to count.
    s.state = 'closing';
    if (s.phoneClosed && s.upstreamClosed) {
      this.finish(s);
      return;
    }
    if (!other || other.destroyed) return;
    if (other.writableEnded) this.timer(s, LINGER_MS, () => other.destroy());
    else other.destroy();
  }

  /** Closes both sides now; `counter` is the reason counted and logged (undefined: already counted or an operator's clear). */
  private close(s: Session, counter: CapfCounter | undefined, reason?: string): void {
    if (s.state === 'closing') return;
    s.state = 'closing';
    if (counter) {
      s.forced = counter;
      this.o.count(counter);
      const code = CAPF_EVENT_CODES[counter];
      if (code !== null) this.warn(`closed:${counter}`, ppx(190003, { remote: s.remote, reason, code }));
      else this.o.log.info({ remote: s.remote, reason }, 'CAPF relay connection closed');
    } else {
      s.forced = 'cleared';
    }
    s.phone.destroy();
    s.upstream?.destroy();
    if (!s.upstream) s.upstreamClosed = true;
  }

  private finish(s: Session): void {
    if (s.finished) return;
    s.finished = true;
    for (const t of s.timers) clearTimeout(t);
    s.ticket.release();
    this.sessions.delete(s.id);
    if (s.forced === undefined) this.o.count('remote-closures');
    this.o.log.debug(
      { remote: s.remote, toCapf: s.toCapf, toPhone: s.toPhone, reason: s.forced ?? 'closed' },
      'CAPF relay connection ended',
    );
  }

  private timer(s: Session, ms: number, fn: () => void): void {
    const t = setTimeout(fn, ms);
    t.unref();
    s.timers.push(t);
  }

  /** The first per kind in 15 s is written (signaling log, and errors log for errors), the rest counted. */
  private warn(kind: string, line: [Record<string, unknown>, string]): void {
    this.limited(kind, line, 'warn');
  }

  private limited(kind: string, line: [Record<string, unknown>, string], level: 'warn' | 'error'): void {
    const d = this.limiter.check(kind, Date.now());
    if (!d.write) {
      this.o.count('warnings-suppressed');
      return;
    }
    if (d.suppressed > 0) this.reportSuppressed(kind, d.suppressed);
    if (level === 'error') {
      this.o.log.error(...line);
      this.o.errors.error(...line);
    } else {
      this.o.log.warn(...line);
    }
  }

  private reportSuppressed(kind: string, suppressed: number): void {
    this.o.log.warn(...ppx(100001, { kind: `capf:${kind}`, suppressed }));
  }
}

/** The TLS proxy's admission, held to the relay's own limits: pending is before the first byte. */
function admissionLimits(l: CapfLimits) {
  return {
    maxConnections: l.maxConnections,
    maxPerSource: l.maxPerSource,
    maxPendingPerSource: l.maxPerSource,
    maxPerDevice: 1,
  };
}
