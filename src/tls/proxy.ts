/**
 * The TLS proxy's connection layer (thin I/O): it accepts phones on the outside with mutual
 * TLS, picks the server certificate and cipher policy by the phone's address, opens exactly
 * one upstream connection per phone connection (TCP, or TLS presenting the phone's LDC, per
 * the leg decision; cluster members in order), and hands the bytes of both legs to a protocol
 * inspector. It owns the connection table, bounded send queues with back-pressure, idle
 * age-out and the inspectors' clock. It knows nothing about SIP or SCCP.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { LegDecision } from '../contracts/leg-decision';
import type { Listening } from '../contracts/service';
import type { InspectedConnection, Inspector, InspectorFactory, SignalingSession } from '../contracts/signaling';
import type { ConnectionEntry, ConnectionTable } from './connection-table';
import { deviceNameFromSubject } from './peer-identity';
import { plainAddress } from './remote-addr';

export interface UpstreamMember {
  name: string;
  address: string;
  interfaceName: string;
  /** The appliance's own address on the member's interface (source of the upstream leg). */
  localAddress: string;
  tcpPort: number;
  tlsPort: number;
  /** PEM that must sign (or be) the member's certificate on a TLS leg. */
  ca?: string;
}

export interface ListenerSpec {
  address: string;
  port: number;
  interfaceName: string;
}

export interface ServerProfile {
  /** For logs: which trustpoint and cipher policy. */
  label: string;
  options: tls.TlsOptions;
}

export interface TlsProxyOptions {
  /** 'sip' or 'sccp': names the listener in logs and `show listening`. */
  protocol: string;
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
  connectTimeoutMs?: number;
  handshakeTimeoutMs?: number;
  idleTimeoutMs?: number;
  /** Bytes queued toward one side before the connection is closed as overflowing. */
  maxSendQueueBytes?: number;
  tickMs?: number;
}

/** Above this many queued bytes toward a side (or half the limit), reading from the other side pauses until drain. */
const HIGH_WATER = 64 * 1024;

class UpstreamError extends Error {
  constructor(
    message: string,
    readonly handshake: boolean,
  ) {
    super(message);
  }
}

interface Pair {
  entry: ConnectionEntry;
  inspector?: Inspector;
  /** Settles once the inspector has released what it held (media sessions). */
  released?: Promise<void>;
}

export class TlsProxy {
  private readonly listeners: net.Server[] = [];
  private readonly tlsServers: tls.Server[];
  private readonly pairs = new Map<number, Pair>();
  /** Every accepted socket, so stop() does not wait on a phone stuck mid-handshake. */
  private readonly raw = new Set<net.Socket>();
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: TlsProxyOptions) {
    this.tlsServers = o.profiles.map((p) => {
      const server = tls.createServer({
        ...p.options,
        requestCert: true,
        // Verified in onPhone so that every refusal is counted and logged with its reason
        // (Node destroys an unauthorized socket silently when it rejects by itself).
        rejectUnauthorized: false,
        honorCipherOrder: true,
        handshakeTimeout: o.handshakeTimeoutMs ?? 10_000,
      });
      server.on('secureConnection', (s: tls.TLSSocket) => this.onPhone(s, p.label));
      server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => {
        this.phoneRefused(remoteOf(s), `TLS handshake failed: ${err.code ?? ''} ${err.message}`.trim(), p.label);
      });
      return server;
    });
  }

  async start(): Promise<Listening[]> {
    const out: Listening[] = [];
    for (const l of this.o.listeners) {
      const server = net.createServer((raw) => {
        const idx = this.o.profileFor(plainAddress(raw.remoteAddress));
        const tlsServer = this.tlsServers[idx] ?? this.tlsServers[0];
        raw.on('error', () => undefined); // reported by the TLS layer
        this.raw.add(raw);
        raw.once('close', () => this.raw.delete(raw));
        tlsServer?.emit('connection', raw);
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(l.port, l.address, () => {
          server.off('error', reject);
          resolve();
        });
      });
      server.on('error', (err) =>
        this.o.errors.error({ err: err.message, listener: `${l.address}:${l.port}` }, 'TLS listener error'),
      );
      this.listeners.push(server);
      out.push({
        what: `${this.o.protocol} over TLS (${l.interfaceName})`,
        protocol: 'tls',
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
    const pairs = [...this.pairs.values()];
    for (const p of pairs) p.entry.close('appliance stopping');
    for (const s of this.raw) s.destroy();
    await closing;
    // Calls release their media before media termination itself stops (services stop in reverse).
    await Promise.all(pairs.map((p) => p.released));
  }

  sessions(): SignalingSession[] {
    return [...this.pairs.values()].flatMap((p) => p.inspector?.sessions() ?? []);
  }

  private tick(now: number): void {
    const idle = this.o.idleTimeoutMs ?? 30 * 60_000;
    for (const p of this.pairs.values()) {
      if (now - p.entry.lastActivity > idle) {
        this.o.table.count('inactive-ageouts');
        p.entry.close(`inactive for ${Math.round(idle / 1000)} s`);
        continue;
      }
      p.inspector?.tick(now);
    }
  }

  private phoneRefused(remote: string, reason: string, profile: string): void {
    this.o.table.count('tls-server-handshake-failures');
    this.o.log.warn({ remote, profile, reason }, 'phone refused');
    this.o.errors.warn({ remote, profile, reason }, 'TLS server handshake failure');
  }

  private onPhone(phone: tls.TLSSocket, profile: string): void {
    const remote = remoteOf(phone);
    if (!phone.authorized) {
      const cert = phone.getPeerCertificate();
      const reason =
        !cert || Object.keys(cert).length === 0
          ? 'certificate validation: the phone sent no certificate'
          : `certificate validation: ${String(phone.authorizationError)} (subject ${cert.subject?.CN ?? '?'})`;
      this.phoneRefused(remote, reason, profile);
      phone.destroy();
      return;
    }
    const deviceName = deviceNameFromSubject(phone.getPeerCertificate().subject as unknown as Record<string, string>);
    phone.pause();
    let decision: LegDecision;
    try {
      decision = this.o.decide(deviceName);
    } catch (err) {
      this.o.errors.error({ remote, err: String(err) }, 'leg decision failed');
      phone.destroy();
      return;
    }
    let upstream: net.Socket | undefined;
    let closed = false;
    const pair: Pair = {
      entry: this.o.table.add({
        phone: deviceName ?? '-',
        remote,
        upstream: '-',
        transport: decision.upstream,
        state: 'connecting',
        since: new Date(),
        lastActivity: Date.now(),
        sendQueue: 0,
        close: (reason) => close(reason, false),
      }),
    };
    const entry = pair.entry;
    this.pairs.set(entry.id, pair);
    const log = this.o.log.child({ conn: entry.id, phone: entry.phone });
    log.info(
      { remote, profile, tls: phone.getProtocol(), cipher: phone.getCipher()?.name, decision },
      'phone connected',
    );

    const close = (reason: string, byRemote: boolean): void => {
      if (closed) return;
      closed = true;
      entry.state = 'closing';
      if (byRemote) this.o.table.count('remote-closures');
      log.info({ reason }, 'connection closed');
      phone.destroy();
      upstream?.destroy();
      this.o.table.remove(entry.id);
      this.pairs.delete(entry.id);
      pair.released = pair.inspector
        ?.closed()
        .catch((err) => this.o.errors.error({ conn: entry.id, err: String(err) }, 'inspector cleanup failed'));
    };
    phone.on('error', (err) => close(`phone leg error: ${err.message}`, true));
    phone.on('close', () => close('phone closed the connection', true));

    this.connectUpstream(decision, deviceName, log).then(
      ({ sock, member, port }) => {
        if (closed) {
          sock.destroy();
          return;
        }
        upstream = sock;
        entry.upstream = `${member.address}:${port}`;
        entry.state = 'established';
        const conn: InspectedConnection = {
          id: entry.id,
          ...(deviceName ? { deviceName } : {}),
          decision,
          phone: { address: plainAddress(phone.remoteAddress), port: phone.remotePort ?? 0 },
          outsideLocal: { address: plainAddress(phone.localAddress), port: phone.localPort ?? 0 },
          upstream: { address: member.address, port, transport: decision.upstream },
          insideLocal: { address: plainAddress(sock.localAddress), port: sock.localPort ?? 0 },
          outsideInterface:
            this.o.listeners.find((l) => l.address === plainAddress(phone.localAddress))?.interfaceName ?? '',
          insideInterface: member.interfaceName,
        };
        const send = (dst: net.Socket, src: net.Socket, data: Buffer, where: string): void => {
          if (closed) return;
          if (dst.destroyed || !dst.writable) {
            this.o.table.count('send-failures');
            return;
          }
          dst.write(data, (err) => {
            if (err) this.o.table.count('send-failures');
          });
          const queued = dst.writableLength;
          const limit = this.o.maxSendQueueBytes ?? 1024 * 1024;
          entry.sendQueue = phone.writableLength + sock.writableLength;
          this.o.table.noteQueue(queued, where);
          if (queued > limit) {
            this.o.table.count('queue-overflows');
            log.warn({ queued, where }, 'send queue overflow: peer not reading');
            close(`send queue toward ${where} overflowed (${queued} bytes)`, false);
          } else if (queued > Math.min(HIGH_WATER, limit / 2) && !src.isPaused()) {
            // Back-pressure: stop reading the sender until the slow side drains.
            src.pause();
            dst.once('drain', () => {
              entry.sendQueue = phone.writableLength + sock.writableLength;
              if (!closed) src.resume();
            });
          }
        };
        const pipe = {
          toUpstream: (data: Buffer) => send(sock, phone, data, entry.upstream),
          toPhone: (data: Buffer) => send(phone, sock, data, remote),
          close: (reason: string) => close(reason, false),
        };
        pair.inspector = this.o.inspector(conn, pipe);
        sock.on('data', (chunk: Buffer) => {
          entry.lastActivity = Date.now();
          pair.inspector?.fromUpstream(chunk);
        });
        phone.on('data', (chunk: Buffer) => {
          entry.lastActivity = Date.now();
          pair.inspector?.fromPhone(chunk);
        });
        sock.on('error', (err) => close(`upstream leg error: ${err.message}`, true));
        sock.on('close', () => close('upstream closed the connection', true));
        log.info({ upstream: entry.upstream, transport: decision.upstream, member: member.name }, 'upstream connected');
        phone.resume();
      },
      (err: Error) => {
        this.o.errors.error({ conn: entry.id, phone: entry.phone, reason: err.message }, 'no upstream for phone');
        close(`no upstream: ${err.message}`, false);
      },
    );
  }

  /** Primary first; the next member when a connection attempt fails. */
  private async connectUpstream(
    decision: LegDecision,
    deviceName: string | undefined,
    log: Logger,
  ): Promise<{ sock: net.Socket; member: UpstreamMember; port: number }> {
    const failures: string[] = [];
    for (const member of this.o.members) {
      const port = decision.upstream === 'tls' ? member.tlsPort : member.tcpPort;
      try {
        return { sock: await this.connectOne(member, port, decision, deviceName), member, port };
      } catch (err) {
        this.o.table.count('connection-failures');
        if (err instanceof UpstreamError && err.handshake) this.o.table.count('tls-client-handshake-failures');
        const reason = (err as Error).message;
        failures.push(`${member.name}: ${reason}`);
        log.warn({ member: member.name, upstream: `${member.address}:${port}`, reason }, 'upstream connection failed');
        this.o.errors.warn({ member: member.name, reason }, 'upstream connection failed');
      }
    }
    throw new Error(failures.join('; '));
  }

  private connectOne(
    member: UpstreamMember,
    port: number,
    decision: LegDecision,
    deviceName: string | undefined,
  ): Promise<net.Socket> {
    let ldc: { certPem: string; keyPem: string } | undefined;
    if (decision.upstream === 'tls') {
      if (!member.ca)
        return Promise.reject(
          new UpstreamError(`member ${member.name} has no trustpoint: cannot verify UCM on a TLS leg`, false),
        );
      if (!deviceName)
        return Promise.reject(
          new UpstreamError('the phone certificate names no device (SEP...): no LDC can be minted', false),
        );
      try {
        ldc = this.o.ldc(deviceName);
      } catch (err) {
        return Promise.reject(new UpstreamError(`LDC for ${deviceName}: ${(err as Error).message}`, false));
      }
    }
    const timeoutMs = this.o.connectTimeoutMs ?? 5000;
    return new Promise((resolve, reject) => {
      const raw = net.connect({ host: member.address, port, localAddress: member.localAddress });
      let current: net.Socket = raw;
      let tcpUp = false;
      const fail = (err: Error) => {
        clearTimeout(timer);
        current.destroy();
        raw.destroy();
        reject(
          new UpstreamError(
            tcpUp && ldc ? `TLS handshake with UCM failed: ${err.message}` : err.message,
            tcpUp && !!ldc,
          ),
        );
      };
      const timer = setTimeout(() => fail(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
      const done = (sock: net.Socket) => {
        clearTimeout(timer);
        sock.off('error', fail);
        raw.off('error', fail);
        resolve(sock);
      };
      raw.once('error', fail);
      raw.once('connect', () => {
        tcpUp = true;
        if (!ldc) {
          done(raw);
          return;
        }
        const secure = tls.connect({
          socket: raw,
          cert: ldc.certPem,
          key: ldc.keyPem,
          ca: [member.ca as string],
          minVersion: 'TLSv1.2',
          // UCM is identified by the trustpoint pinned for this member, not by a host name:
          // the appliance reaches it by address.
          checkServerIdentity: () => undefined,
        });
        current = secure;
        secure.once('error', fail);
        secure.once('secureConnect', () => done(secure));
      });
    });
  }
}

function remoteOf(s: net.Socket): string {
  // After a failed handshake the TLS socket may have lost its handle; the raw socket has not.
  const parent = (s as net.Socket & { _parent?: net.Socket })._parent;
  const address = s.remoteAddress ?? parent?.remoteAddress;
  const port = s.remotePort ?? parent?.remotePort;
  return `${plainAddress(address)}:${port ?? 0}`;
}
