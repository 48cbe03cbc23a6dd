/**
 * The TLS proxy's connection layer (thin I/O): it accepts phones on the outside with mutual
 * TLS, picks the server certificate and cipher policy by the phone's address, and hands each
 * accepted phone to a PhoneConnection (one upstream connection per phone connection, the
 * protocol inspector between them). It owns the listeners, the inspectors' clock and idle
 * age-out. It knows nothing about SIP or SCCP.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { Logger } from 'pino';
import type { LegDecision } from '../contracts/leg-decision';
import type { Listening } from '../contracts/service';
import type { InspectorFactory, SignalingSession } from '../contracts/signaling';
import type { ConnectionTable } from './connection-table';
import { deviceNameFromSubject } from './peer-identity';
import { PhoneConnection, type PhoneConnectionDeps } from './phone-connection';
import { plainAddress } from './remote-addr';
import type { UpstreamMember } from './upstream';

export type { UpstreamMember } from './upstream';

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

export class TlsProxy {
  private readonly listeners: net.Server[] = [];
  private readonly tlsServers: tls.Server[];
  private readonly connections = new Map<number, PhoneConnection>();
  /** Every accepted socket, so stop() does not wait on a phone stuck mid-handshake. */
  private readonly raw = new Set<net.Socket>();
  private readonly connectionDeps: PhoneConnectionDeps;
  private timer?: NodeJS.Timeout;

  constructor(private readonly o: TlsProxyOptions) {
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
      },
      interfaceOf: (address) => o.listeners.find((l) => l.address === address)?.interfaceName ?? '',
      maxSendQueueBytes: o.maxSendQueueBytes ?? 1024 * 1024,
      onClosed: (c) => this.connections.delete(c.id),
    };
  }

  async start(): Promise<Listening[]> {
    const out: Listening[] = [];
    for (const l of this.o.listeners) {
      const server = net.createServer((raw) => this.onAccept(raw));
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

  private tlsServer(p: ServerProfile): tls.Server {
    const server = tls.createServer({
      ...p.options,
      requestCert: true,
      // Verified in onPhone so that every refusal is counted and logged with its reason
      // (Node destroys an unauthorized socket silently when it rejects by itself).
      rejectUnauthorized: false,
      honorCipherOrder: true,
      handshakeTimeout: this.o.handshakeTimeoutMs ?? 10_000,
    });
    server.on('secureConnection', (s: tls.TLSSocket) => this.onPhone(s, p.label));
    server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => {
      this.phoneRefused(remoteOf(s), `TLS handshake failed: ${err.code ?? ''} ${err.message}`.trim(), p.label);
    });
    return server;
  }

  /** A TCP connection on a listener: hand it to the TLS server of the phone's profile. */
  private onAccept(raw: net.Socket): void {
    const idx = this.o.profileFor(plainAddress(raw.remoteAddress));
    const tlsServer = this.tlsServers[idx] ?? this.tlsServers[0];
    raw.on('error', () => undefined); // reported by the TLS layer
    this.raw.add(raw);
    raw.once('close', () => this.raw.delete(raw));
    tlsServer?.emit('connection', raw);
  }

  private tick(now: number): void {
    const idle = this.o.idleTimeoutMs ?? 30 * 60_000;
    for (const c of [...this.connections.values()]) c.tick(now, idle);
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
    let decision: LegDecision;
    try {
      decision = this.o.decide(deviceName);
    } catch (err) {
      this.o.errors.error({ remote, err: String(err) }, 'leg decision failed');
      phone.destroy();
      return;
    }
    const c = new PhoneConnection(phone, deviceName, decision, this.connectionDeps);
    this.connections.set(c.id, c);
    c.start(profile);
  }
}

function remoteOf(s: net.Socket): string {
  // After a failed handshake the TLS socket may have lost its handle; the raw socket has not.
  const parent = (s as net.Socket & { _parent?: net.Socket })._parent;
  const address = s.remoteAddress ?? parent?.remoteAddress;
  const port = s.remotePort ?? parent?.remotePort;
  return `${plainAddress(address)}:${port ?? 0}`;
}
