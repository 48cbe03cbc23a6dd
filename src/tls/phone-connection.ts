/**
 * One phone connection through the TLS proxy (thin I/O): an authenticated phone socket, its
 * single upstream connection, the protocol inspector between them, bounded send queues with
 * back-pressure, and its row in the connection table. Created by the proxy once the phone's
 * certificate has been accepted; gone (row removed, media released) when either leg closes.
 */
import type net from 'node:net';
import { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import type { SignalingTap } from '../contracts/capture';
import type { LegDecision } from '../contracts/leg-decision';
import type { InspectedConnection, Inspector, InspectorFactory, InspectorPipe } from '../contracts/signaling';
import { ppx } from '../messages';
import type { ConnectionEntry, ConnectionTable } from './connection-table';
import { MessageClock } from './message-clock';
import { plainAddress } from './remote-addr';
import { connectUpstream, type Upstream, type UpstreamDeps } from './upstream';

/** Above this many queued bytes toward a side (or half the limit), reading from the other side pauses until drain. */
const HIGH_WATER = 64 * 1024;

export interface PhoneConnectionDeps {
  table: ConnectionTable;
  log: Logger;
  errors: Logger;
  inspector: InspectorFactory;
  upstream: UpstreamDeps;
  /** Interface name of a listening address (the phone leg's interface). */
  interfaceOf(localAddress: string): string;
  /** Public address of a listening address behind a NAT, if it has one. */
  advertisedOf?(localAddress: string): string | undefined;
  maxSendQueueBytes: number;
  /** A phone message must arrive whole within this of its first byte. */
  messageTimeoutMs: number;
  /** A rate-limited warning (kind is a static key). */
  warn(kind: string, line: [Record<string, unknown>, string]): void;
  /** Packet capture (issue 15): gets the clear bytes of both legs while a capture runs. */
  capture?: SignalingTap;
  /** Called once, when the connection has closed (the proxy forgets it). */
  onClosed(c: PhoneConnection): void;
}

export class PhoneConnection {
  readonly entry: ConnectionEntry;
  private inspector?: Inspector;
  /** Settles once the inspector has released what it held (media sessions). */
  released?: Promise<void>;
  private upstream?: net.Socket;
  private closed = false;
  private readonly log: Logger;
  private readonly remote: string;
  private readonly messageClock = new MessageClock();

  constructor(
    /** A TLSSocket on the secure listeners, a plain TCP socket on the nonsecure ones. */
    private readonly phone: net.Socket,
    private readonly deviceName: string | undefined,
    private readonly decision: LegDecision,
    private readonly deps: PhoneConnectionDeps,
  ) {
    this.remote = `${plainAddress(phone.remoteAddress)}:${phone.remotePort ?? 0}`;
    this.entry = deps.table.add({
      phone: deviceName ?? '-',
      remote: this.remote,
      upstream: '-',
      transport: decision.upstream,
      state: 'connecting',
      since: new Date(),
      lastActivity: Date.now(),
      sendQueue: 0,
      close: (reason) => this.close(reason, false),
    });
    this.log = deps.log.child({ conn: this.entry.id, phone: this.entry.phone });
  }

  get id(): number {
    return this.entry.id;
  }

  /** Reads from the phone wait (paused) until the upstream leg is up. */
  start(profile: string): void {
    const phone = this.phone;
    phone.pause();
    this.log.info(
      {
        remote: this.remote,
        profile,
        tls: phone instanceof TLSSocket ? phone.getProtocol() : 'none (nonsecure listener)',
        cipher: phone instanceof TLSSocket ? phone.getCipher()?.name : undefined,
        decision: this.decision,
      },
      'phone connected',
    );
    phone.on('error', (err) => this.close(`phone leg error: ${err.message}`, true));
    phone.on('close', () => this.close('phone closed the connection', true));
    // The member the phone's configuration names at this address goes first (issue 13).
    const via = this.deps.interfaceOf(plainAddress(phone.localAddress));
    connectUpstream(this.deps.upstream, this.decision, this.deviceName, via).then(
      (up) => this.onUpstream(up),
      (err: Error) => {
        this.deps.errors.error(...ppx(130010, { conn: this.entry.id, phone: this.entry.phone, reason: err.message }));
        this.close(`no upstream: ${err.message}`, false);
      },
    );
  }

  /** Inactivity age-out, the complete-message timeout, then the inspector's clock. */
  tick(now: number, idleTimeoutMs: number): void {
    if (now - this.entry.lastActivity > idleTimeoutMs) {
      this.deps.table.count('inactive-ageouts');
      this.close(`inactive for ${Math.round(idleTimeoutMs / 1000)} s`, false);
      return;
    }
    const waiting = this.messageClock.waiting(now);
    if (waiting > this.deps.messageTimeoutMs) {
      this.deps.table.count('message-timeouts');
      this.deps.warn('message-timeout', ppx(130011, { conn: this.entry.id, remote: this.remote, waitingMs: waiting }));
      this.close(`a message from the phone stayed incomplete for ${waiting} ms`, false);
      return;
    }
    this.inspector?.tick(now);
  }

  sessions() {
    return this.inspector?.sessions() ?? [];
  }

  close(reason: string, byRemote: boolean): void {
    if (this.closed) return;
    this.closed = true;
    this.entry.state = 'closing';
    if (byRemote) this.deps.table.count('remote-closures');
    this.log.info({ reason }, 'connection closed');
    this.phone.destroy();
    this.upstream?.destroy();
    this.deps.table.remove(this.entry.id);
    this.deps.onClosed(this);
    this.released = this.inspector
      ?.closed()
      .catch((err) => this.deps.errors.error(...ppx(130012, { conn: this.entry.id, err: String(err) })));
  }

  private onUpstream({ sock, member, port }: Upstream): void {
    sock.on('error', () => undefined); // errors after close (or before the handlers below) are not fatal
    if (this.closed) {
      sock.destroy();
      return;
    }
    const phone = this.phone;
    const entry = this.entry;
    this.upstream = sock;
    entry.upstream = `${member.address}:${port}`;
    entry.state = 'established';
    const conn = this.describe({ sock, member, port });
    const tap = this.deps.capture;
    const pipe: InspectorPipe = {
      toUpstream: (data: Buffer) => {
        if (tap?.active) tap.chunk(conn, 'ucm', false, data);
        this.send(sock, phone, data, entry.upstream);
      },
      toPhone: (data: Buffer) => {
        if (tap?.active) tap.chunk(conn, 'phone', false, data);
        this.send(phone, sock, data, this.remote);
      },
      close: (reason: string) => this.close(reason, false),
    };
    const inspector = this.deps.inspector(conn, pipe);
    this.inspector = inspector;
    sock.on('data', (chunk: Buffer) => {
      entry.lastActivity = Date.now();
      if (tap?.active) tap.chunk(conn, 'ucm', true, chunk);
      inspector.fromUpstream(chunk);
    });
    phone.on('data', (chunk: Buffer) => {
      const now = Date.now();
      entry.lastActivity = now;
      if (tap?.active) tap.chunk(conn, 'phone', true, chunk);
      inspector.fromPhone(chunk);
      this.messageClock.note(chunk.length, inspector.heldFromPhone?.() ?? 0, now);
    });
    sock.on('error', (err) => this.close(`upstream leg error: ${err.message}`, true));
    sock.on('close', () => this.close('upstream closed the connection', true));
    this.log.info(
      { upstream: entry.upstream, transport: this.decision.upstream, member: member.name },
      'upstream connected',
    );
    phone.resume();
  }

  private describe({ sock, member, port }: Upstream): InspectedConnection {
    const phone = this.phone;
    const advertised = this.deps.advertisedOf?.(plainAddress(phone.localAddress));
    return {
      id: this.entry.id,
      ...(this.deviceName ? { deviceName: this.deviceName } : {}),
      decision: this.decision,
      phone: { address: plainAddress(phone.remoteAddress), port: phone.remotePort ?? 0 },
      outsideLocal: { address: plainAddress(phone.localAddress), port: phone.localPort ?? 0 },
      ...(advertised ? { outsideAdvertised: advertised } : {}),
      upstream: { address: member.address, port, transport: this.decision.upstream },
      insideLocal: { address: plainAddress(sock.localAddress), port: sock.localPort ?? 0 },
      outsideInterface: this.deps.interfaceOf(plainAddress(phone.localAddress)),
      insideInterface: member.interfaceName,
    };
  }

  private send(dst: net.Socket, src: net.Socket, data: Buffer, where: string): void {
    if (this.closed) return;
    const table = this.deps.table;
    if (dst.destroyed || !dst.writable) {
      table.count('send-failures');
      return;
    }
    // Messages written in one turn (UCM's 100 and 180 from one chunk) leave in one TLS record
    // and one syscall: corked until the turn's promise jobs are done (bench/RESULTS.md, bench:sip).
    if (dst.writableCorked === 0) {
      dst.cork();
      process.nextTick(uncork, dst);
    }
    dst.write(data, (err) => {
      if (err) table.count('send-failures');
    });
    const queued = dst.writableLength;
    const limit = this.deps.maxSendQueueBytes;
    this.noteQueue();
    table.noteQueue(queued, where);
    if (queued > limit) {
      table.count('queue-overflows');
      this.log.warn(...ppx(130013, { queued, where }));
      this.close(`send queue toward ${where} overflowed (${queued} bytes)`, false);
    } else if (queued > Math.min(HIGH_WATER, limit / 2) && !src.isPaused()) {
      // Back-pressure: stop reading the sender until the slow side drains.
      src.pause();
      dst.once('drain', () => {
        this.noteQueue();
        if (!this.closed) src.resume();
      });
    }
  }

  private noteQueue(): void {
    this.entry.sendQueue = this.phone.writableLength + (this.upstream?.writableLength ?? 0);
  }
}

function uncork(sock: net.Socket): void {
  sock.uncork();
}
