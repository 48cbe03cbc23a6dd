/**
 * The TLS proxy's connection layer (thin I/O): it accepts phones on the outside with mutual
 * TLS, picks the server certificate and cipher policy by the phone's address, and hands each
 * accepted phone to a PhoneConnection (one upstream connection per phone connection, the
 * protocol inspector between them). It owns the listeners, admission (issue 12: connection
 * limits, the handshake deadline, refusals counted with their reason and logged through a
 * rate limiter), the inspectors' clock and the age-outs. It knows nothing about SIP or SCCP.
 * With `plain`, the same layer serves a nonsecure listener (listen.sip / listen.sccp): plain
 * TCP toward the phone, no certificate, the same admission limits and inspection.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { SignalingTap } from '../contracts/capture';
import type { LegDecision } from '../contracts/leg-decision';
import type { Listening } from '../contracts/service';
import type { InspectorFactory, SignalingSession } from '../contracts/signaling';
import { LogLimiter } from '../log-limit';
import { ppx } from '../messages';
import { Admission, type AdmissionTicket, isRefusal } from './admission';
import type { ConnectionTable, CounterName } from './connection-table';
import { TLS_EVENT_CODES } from './event-codes';
import { deviceNameFromSubject } from './peer-identity';
import { PhoneConnection, type PhoneConnectionDeps } from './phone-connection';
import { plainAddress } from './remote-addr';
import type { UpstreamDeps, UpstreamMember } from './upstream';

export type { UpstreamMember } from './upstream';

export interface ListenerSpec {
  address: string;
  port: number;
  interfaceName: string;
  /** The interface's public-address, when a NAT maps it: what the inspectors show the phone. */
  advertisedAddress?: string;
}

export interface ServerProfile {
  /** For logs: which trustpoint and cipher policy. */
  label: string;
  options: tls.TlsOptions;
}

export interface TlsProxyOptions {
  /** 'sip' or 'sccp': names the listener in logs and `show listening`. */
  protocol: string;
  /** A nonsecure listener: phones connect over plain TCP (LSC provisioning, CIPC before its LSC). */
  plain?: boolean;
  listeners: ListenerSpec[];
  profiles: ServerProfile[];
  /** Index into profiles for a phone's source address. */
  profileFor(remoteAddress: string): number;
  members: UpstreamMember[];
  decide(deviceName: string | undefined): LegDecision;
  ldc(deviceName: string): { certPem: string; keyPem: string };
  inspector: InspectorFactory;
  table: ConnectionTable;
  log: Logger;
  errors: Logger;
  /** Shared by every listener of the appliance; a proxy of its own gets the default limits. */
  admission?: Admission;
  /** Shared with the other proxies so one flood is one stream of suppressed-count lines. */
  logLimiter?: LogLimiter;
  connectTimeoutMs?: number;
  /** The UCM leg's version floor and ciphers (tls-proxy.upstream). */
  upstreamTls?: UpstreamDeps['tlsProfile'];
  /** From accept to the end of the TLS handshake, however the bytes trickle in. */
  handshakeTimeoutMs?: number;
  /** From the first byte of a phone's message to its last. */
  messageTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Bytes queued toward one side before the connection is closed as overflowing. */
  maxSendQueueBytes?: number;
  tickMs?: number;
  /** Packet capture of the clear signaling (issue 15). */
  capture?: SignalingTap;
}

/** What a live reload changes in a running proxy (tls/service.ts reconfigure); listeners stay. */
export type TlsProxyUpdate = Pick<
  TlsProxyOptions,
  'profiles' | 'profileFor' | 'members' | 'upstreamTls' | 'handshakeTimeoutMs' | 'messageTimeoutMs' | 'idleTimeoutMs'
>;

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;
export const DEFAULT_MESSAGE_TIMEOUT_MS = 5_000;
export const DEFAULT_IDLE_TIMEOUT_MS = 30 * 60_000;

/** An accepted TCP connection until its handshake ends one way or the other. */
interface Accepted {
  ticket: AdmissionTicket;
  /** ip:port, kept: a socket that failed its handshake may no longer know it. */
  remote: string;
  timer: NodeJS.Timeout;
  /** The handshake's outcome has been handled (done, refused or timed out): count it once. */
  settled: boolean;
}

/** How a failed handshake is counted (besides tls-server-handshake-failures) and logged. */
interface HandshakeFailure {
  counter?: CounterName;
  /** Static: the rate-limiter key. */
  kind: string;
  reason: string;
}

export class TlsProxy {
  private readonly listeners: net.Server[] = [];
  /** One per server profile; replaced whole by a reload (connections already accepted keep theirs). */
  private tlsServers: tls.Server[];
  private readonly connections = new Map<number, PhoneConnection>();
  /** Every accepted socket, so stop() does not wait on a phone stuck mid-handshake. */
  private readonly raw = new Set<net.Socket>();
  private readonly accepted = new WeakMap<net.Socket, Accepted>();
  private readonly admission: Admission;
  private readonly limiter: LogLimiter;
  /** Warning kinds written to the errors log (a fixed vocabulary), so their suppressed counts go there too. */
  private readonly errorKinds = new Set<string>();
  private readonly connectionDeps: PhoneConnectionDeps;
  private handshakeTimeoutMs: number;
  private idleTimeoutMs: number;
  private profileFor: (remoteAddress: string) => number;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: TlsProxyOptions) {
    this.admission = o.admission ?? new Admission();
    this.limiter = o.logLimiter ?? new LogLimiter();
    this.handshakeTimeoutMs = o.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.idleTimeoutMs = o.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.profileFor = o.profileFor;
    this.tlsServers = o.profiles.map((p) => this.tlsServer(p));
    this.connectionDeps = {
      table: o.table,
      log: o.log,
      errors: o.errors,
      inspector: o.inspector,
      upstream: {
        members: o.members,
        ldc: o.ldc,
        table: o.table,
        errors: o.errors,
        connectTimeoutMs: o.connectTimeoutMs ?? 5000,
        ...(o.upstreamTls ? { tlsProfile: o.upstreamTls } : {}),
      },
      interfaceOf: (address) => o.listeners.find((l) => l.address === address)?.interfaceName ?? '',
      advertisedOf: (address) => o.listeners.find((l) => l.address === address)?.advertisedAddress,
      maxSendQueueBytes: o.maxSendQueueBytes ?? 1024 * 1024,
      messageTimeoutMs: o.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS,
      warn: (kind, line) => this.warn(kind, line),
      onClosed: (c) => this.connections.delete(c.id),
      ...(o.capture ? { capture: o.capture } : {}),
    };
  }

  async start(): Promise<Listening[]> {
    const out: Listening[] = [];
    for (const l of this.o.listeners) {
      // noDelay (issue 13): Nagle holding a reply for the phone's delayed ACK costs ~40 ms each.
      const server = net.createServer({ noDelay: true }, (raw) => this.onAccept(raw));
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      // EMFILE/ENFILE on accept land here: counted, logged at a bounded rate, the listener stays.
      server.on('error', (err: NodeJS.ErrnoException) => {
        this.o.table.count('listener-errors');
        this.warn(
          `listener:${err.code ?? 'error'}`,
          ppx(130004, { protocol: this.o.plain ? 'TCP' : 'TLS', err: err.message, listener: `${l.address}:${l.port}` }),
        );
      });
      this.listeners.push(server);
      out.push({
        what: `${this.o.protocol} over ${this.o.plain ? 'TCP' : 'TLS'} (${l.interfaceName})`,
        protocol: this.o.plain ? 'tcp' : 'tls',
        address: l.address,
        port: l.port,
      });
    }
    this.timer = setInterval(() => this.tick(Date.now()), this.o.tickMs ?? 1000);
    this.timer.unref();
    return out;
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    const closing = Promise.all(this.listeners.map((s) => new Promise<void>((r) => s.close(() => r()))));
    const connections = [...this.connections.values()];
    for (const c of connections) c.entry.close('appliance stopping');
    for (const s of this.raw) s.destroy();
    await closing;
    // Calls release their media before media termination itself stops (services stop in reverse).
    await Promise.all(connections.map((c) => c.released));
  }

  sessions(): SignalingSession[] {
    return [...this.connections.values()].flatMap((c) => c.sessions());
  }

  /**
   * Live reload: new connections get the new certificates, client CAs, ciphers, handshake
   * deadline and upstream settings; open ones keep their sockets and take the new idle and
   * message timeouts at their next tick. New tls.Server objects rather than setSecureContext:
   * Node fixes a server's handshake timeout at construction, and remote-addr rules may add or
   * remove profiles. The listeners never close.
   */
  reconfigure(u: TlsProxyUpdate): void {
    this.handshakeTimeoutMs = u.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS;
    this.idleTimeoutMs = u.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;
    this.profileFor = u.profileFor;
    this.tlsServers = u.profiles.map((p) => this.tlsServer(p));
    this.connectionDeps.messageTimeoutMs = u.messageTimeoutMs ?? DEFAULT_MESSAGE_TIMEOUT_MS;
    const { tlsProfile: _old, ...upstream } = this.connectionDeps.upstream;
    this.connectionDeps.upstream = {
      ...upstream,
      members: u.members,
      ...(u.upstreamTls ? { tlsProfile: u.upstreamTls } : {}),
    };
  }

  private tlsServer(p: ServerProfile): tls.Server {
    const server = tls.createServer({
      ...p.options,
      requestCert: true,
      // OpenSSL then refuses a phone without a certificate inside the handshake, with an alert
      // (certificate_required in TLS 1.3, handshake_failure in 1.2). A certificate that does not
      // verify is refused by Node after the handshake, without an alert: Node's verify callback
      // accepts every chain and checks it once the handshake is done (src/crypto/crypto_tls.cc,
      // VerifyCallback). Both arrive in tlsClientError, with the reason (authorizationError).
      rejectUnauthorized: true,
      honorCipherOrder: true,
      // Node's own timer is an inactivity timer (a byte a second keeps it alive); the absolute
      // deadline is ours (onAccept). Both end in handshakeFailed, counted once.
      handshakeTimeout: this.handshakeTimeoutMs,
    });
    server.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s, p.label));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) =>
      this.handshakeFailed(s, classify(err, s), p.label),
    );
    return server;
  }

  /** A TCP connection on a listener: admitted (or refused) before any TLS work is spent on it. */
  private onAccept(raw: net.Socket): void {
    raw.on('error', () => undefined); // reported by the TLS layer; never an unhandled 'error'
    const source = plainAddress(raw.remoteAddress);
    const ticket = this.admission.admit(source);
    if (isRefusal(ticket)) {
      this.o.table.count(`refused-${ticket}`);
      this.warn(
        `refused:${ticket}`,
        ppx(130005, {
          remote: `${source}:${raw.remotePort ?? 0}`,
          limit: ticket,
          code: TLS_EVENT_CODES[`refused-${ticket}`],
        }),
      );
      // Nothing to say in TLS yet (no ClientHello read): the TCP connection is just closed.
      raw.destroy();
      return;
    }
    if (this.o.plain) {
      // No handshake to wait for: the phone is handed on at once (nothing pending, no deadline).
      ticket.handshakeDone();
      this.raw.add(raw);
      raw.once('close', () => {
        ticket.release();
        this.raw.delete(raw);
      });
      this.onConnected(raw, 'plain', undefined);
      return;
    }
    const accepted: Accepted = {
      ticket,
      remote: `${source}:${raw.remotePort ?? 0}`,
      settled: false,
      timer: setTimeout(() => this.handshakeExpired(raw), this.handshakeTimeoutMs),
    };
    accepted.timer.unref();
    this.accepted.set(raw, accepted);
    this.raw.add(raw);
    raw.once('close', () => {
      clearTimeout(accepted.timer);
      ticket.release();
      this.raw.delete(raw);
    });
    const idx = this.profileFor(source);
    const tlsServer = this.tlsServers[idx] ?? this.tlsServers[0];
    tlsServer?.emit('connection', raw);
  }

  /** The absolute handshake deadline: slow or silent, the connection goes. */
  private handshakeExpired(raw: net.Socket): void {
    const a = this.accepted.get(raw);
    if (!a || a.settled) return;
    a.settled = true;
    this.countHandshakeFailure(
      {
        counter: 'handshake-timeouts',
        kind: 'handshake-timeout',
        reason: `no TLS handshake within ${this.handshakeTimeoutMs} ms`,
      },
      a.remote,
      '-',
    );
    raw.destroy();
  }

  private handshakeFailed(s: tls.TLSSocket, failure: HandshakeFailure, profile: string): void {
    const raw = parentOf(s);
    const a = raw ? this.accepted.get(raw) : undefined;
    if (a?.settled) return;
    if (a) {
      a.settled = true;
      clearTimeout(a.timer);
    }
    this.countHandshakeFailure(failure, a?.remote ?? remoteOf(s), profile);
    // Node leaves a timed-out handshake open: destroy, always.
    s.destroy();
    raw?.destroy();
  }

  private countHandshakeFailure(f: HandshakeFailure, remote: string, profile: string): void {
    this.o.table.count('tls-server-handshake-failures');
    if (f.counter) this.o.table.count(f.counter);
    this.warn(
      `handshake:${f.kind}`,
      ppx(130006, {
        remote,
        profile,
        reason: f.reason,
        code: TLS_EVENT_CODES[f.counter ?? 'tls-server-handshake-failures'],
      }),
      true,
    );
  }

  private onSecure(phone: tls.TLSSocket, profile: string): void {
    phone.on('error', () => undefined); // until the PhoneConnection (or a refusal) owns it
    const raw = parentOf(phone);
    const a = raw ? this.accepted.get(raw) : undefined;
    if (!a) {
      // Node no longer exposes the wrapped socket: admission cannot be tracked; refuse loudly.
      this.o.errors.error(...ppx(130007, { remote: remoteOf(phone) }));
      phone.destroy();
      return;
    }
    a.settled = true;
    clearTimeout(a.timer);
    a.ticket.handshakeDone();
    this.onPhone(phone, profile, a.ticket);
  }

  private tick(now: number): void {
    for (const c of [...this.connections.values()]) c.tick(now, this.idleTimeoutMs);
    for (const { key, suppressed } of this.limiter.flush(now)) this.reportSuppressed(key, suppressed);
  }

  /**
   * A warning through the rate limiter: the first per kind in 15 s is written (to the
   * signaling log, or the errors log with toErrors), the rest only counted.
   */
  private warn(kind: string, line: [Record<string, unknown>, string], toErrors = false): void {
    if (toErrors) this.errorKinds.add(kind);
    const d = this.limiter.check(kind, Date.now());
    if (!d.write) {
      this.o.table.count('warnings-suppressed');
      return;
    }
    if (d.suppressed > 0) this.reportSuppressed(kind, d.suppressed);
    // One line per event (syslog and log shippers would count two): errors in the errors category.
    (toErrors ? this.o.errors : this.o.log).warn(...line);
  }

  private reportSuppressed(kind: string, suppressed: number): void {
    (this.errorKinds.has(kind) ? this.o.errors : this.o.log).warn(...ppx(100001, { kind, suppressed }));
  }

  private onPhone(phone: tls.TLSSocket, profile: string, ticket: AdmissionTicket): void {
    const remote = remoteOf(phone);
    if (!phone.authorized) {
      // Not reached with rejectUnauthorized (Node refuses first); kept so a change there fails closed.
      this.countHandshakeFailure(
        {
          counter: 'refused-bad-certificate',
          kind: 'bad-certificate',
          reason: `certificate validation: ${String(phone.authorizationError)}`,
        },
        remote,
        profile,
      );
      phone.destroy();
      return;
    }
    const cert = phone.getPeerCertificate();
    const deviceName = deviceNameFromSubject(cert.subject as unknown as Record<string, string>);
    // A certificate naming no device is its own identity (by fingerprint).
    const identity = deviceName ?? `cert:${cert.fingerprint256}`;
    if (!ticket.claimDevice(identity)) {
      this.o.table.count('refused-device-limit');
      this.warn(
        'refused:device-limit',
        ppx(130008, {
          remote,
          phone: identity,
          limit: this.admission.limits.maxPerDevice,
          code: TLS_EVENT_CODES['refused-device-limit'],
        }),
      );
      // After the handshake the polite refusal is close_notify; the socket goes either way.
      phone.end();
      phone.setTimeout(1000, () => phone.destroy());
      return;
    }
    this.onConnected(phone, profile, deviceName);
  }

  /** An admitted phone (TLS with its certificate's device name, or plain TCP without one). */
  private onConnected(phone: net.Socket, profile: string, deviceName: string | undefined): void {
    const remote = `${plainAddress(phone.remoteAddress)}:${phone.remotePort ?? 0}`;
    let decision: LegDecision;
    try {
      decision = this.o.decide(deviceName);
    } catch (err) {
      this.o.errors.error(...ppx(130009, { remote, err: String(err) }));
      phone.destroy();
      return;
    }
    const c = new PhoneConnection(phone, deviceName, decision, this.connectionDeps);
    this.connections.set(c.id, c);
    c.start(profile);
  }
}

/** The reason a handshake failed, from Node's error and what the socket learned. */
function classify(err: NodeJS.ErrnoException, s: tls.TLSSocket): HandshakeFailure {
  if (err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT')
    return { counter: 'handshake-timeouts', kind: 'handshake-timeout', reason: 'TLS handshake timed out (inactive)' };
  if (err.code === 'ERR_SSL_PEER_DID_NOT_RETURN_A_CERTIFICATE')
    return {
      counter: 'refused-no-certificate',
      kind: 'no-certificate',
      reason: 'certificate validation: the phone sent no certificate',
    };
  if (s.authorizationError)
    return {
      counter: 'refused-bad-certificate',
      // OpenSSL's verify codes are a fixed set: a key per code, not per peer.
      kind: `bad-certificate:${String(s.authorizationError)}`,
      reason: `certificate validation: ${String(s.authorizationError)}`,
    };
  return {
    kind: `tls:${err.code ?? 'error'}`,
    reason: `TLS handshake failed: ${err.code ?? ''} ${err.message}`.trim(),
  };
}

/**
 * The TCP socket a server-side TLSSocket wraps. `_parent` is Node's (undocumented, stable since
 * v0.x) link; it survives a failed handshake, when the TLS socket has lost its own handle.
 */
function parentOf(s: tls.TLSSocket): net.Socket | undefined {
  return (s as tls.TLSSocket & { _parent?: net.Socket })._parent ?? undefined;
}

function remoteOf(s: net.Socket): string {
  const parent = (s as net.Socket & { _parent?: net.Socket })._parent;
  const address = s.remoteAddress ?? parent?.remoteAddress;
  const port = s.remotePort ?? parent?.remotePort;
  return `${plainAddress(address)}:${port ?? 0}`;
}
