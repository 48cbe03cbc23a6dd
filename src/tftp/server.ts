/**
 * The TFTP server's sockets (the phones read from the appliance): one listening socket, and one
 * socket per transfer bound to the listening address (RFC 1350 §4 transfer IDs; a NAT in front of
 * a phone drops replies from another address). The protocol is in read-sender.ts; this file owns
 * sockets and timers, and bounds both:
 * - every socket has an 'error' handler: an error (EMFILE on bind, ICMP-triggered errors) ends
 *   that transfer, is counted, and never reaches the process;
 * - each transfer has one timer, and ends on its client's ERROR, a timeout, or close();
 * - at most `maxTransfers` at once: at the cap the oldest transfer whose client has ACKed nothing
 *   is dropped for the new one (its client, if real, asks again), else the request is dropped;
 * - the unacknowledged first packets of all transfers share one budget per second
 *   (FIRST_PACKETS_PER_SECOND): what a spoofed source can make the appliance send is bounded
 *   in total, not only per source.
 * Requests are RRQ only: WRQ and the obsolete `mail` mode (RFC 1350 §1) get an ERROR packet.
 * Whether a request is admitted (rate limits, names) is the caller's policy, through the hooks.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { TftpRequestError } from '../errors';
import { negotiateServer } from './options';
import { encodeError, OP_RRQ, OP_WRQ, parseRequest, TftpErrorCode, type TftpRequest } from './packet';
import { TokenBucket } from './rate-limit';
import { ReadSender, type SenderAction, type SenderCounters, type SenderFailure } from './read-sender';

/** RFC 1350 §5 error texts. */
export const TFTP_MESSAGES = {
  notFound: 'File not found',
  accessViolation: 'Access violation',
  illegal: 'Illegal TFTP operation',
} as const;

/**
 * Unacknowledged first packets (OACK or DATA 1) sent per second, all sources together. A policy-
 * free ceiling above the policy's default global request rate (500/s): it only binds when that
 * rate is raised or when repeated RRQs multiply first packets. 1000 × 544 bytes ≈ 0.5 MB/s is the
 * most a spoofing attacker can reflect off one appliance.
 */
export const FIRST_PACKETS_PER_SECOND = 1000;
/** Concurrent transfers per listener (each holds one socket). */
export const MAX_TRANSFERS = 1000;

export type RefusalKind = 'not-a-request' | 'malformed' | 'access-violation' | 'write' | 'mail' | 'busy';

export interface TransferEnd {
  ok: boolean;
  reason?: SenderFailure | 'stopped' | 'socket-error' | 'evicted';
  detail?: string;
}

export interface ServerHooks {
  /** Every request datagram, before it is parsed: false drops it silently (rate limits). */
  gate(rinfo: dgram.RemoteInfo, msg: Buffer): boolean;
  /** A parsed RRQ: throw TftpRequestError to refuse it (its code and reason go to the peer and refused()). */
  check(req: TftpRequest, rinfo: dgram.RemoteInfo): void;
  /** An admitted request: answer it with sendBuffer(), begin()/write()/end(), or refuse(). */
  request(t: ServerTransfer): void;
  refused(kind: RefusalKind, detail: { from: string; reason: string; request?: Buffer }): void;
  /** A client repeated an RRQ while its transfer is open. */
  repeated(t: ServerTransfer): void;
}

export interface TftpServerOptions {
  address: string;
  /** 0: an ephemeral port. */
  port: number;
  hooks: ServerHooks;
  maxBlksize?: number;
  maxWindowsize?: number;
  /** Retransmission timeout towards a proven client (a phone's own `timeout` option overrides it). */
  timeoutMs?: number;
  retries?: number;
  unprovenWaitMs?: number;
  stallMs?: number;
  maxTransfers?: number;
  /** Shared by all listeners of a service. */
  firstPackets?: TokenBucket;
  now?: () => number;
}

/** Summed over the server's transfers, for `show phone-proxy tftp` and the metrics. */
export interface ServerStats extends SenderCounters {
  transfers: number;
  completed: number;
  failed: number;
  unprovenTimeouts: number;
  firstPacketsOverBudget: number;
  evicted: number;
  socketErrors: number;
  packetsOut: number;
  bytesOut: number;
}

export function newServerStats(): ServerStats {
  return {
    transfers: 0,
    completed: 0,
    failed: 0,
    unprovenTimeouts: 0,
    firstPacketsOverBudget: 0,
    evicted: 0,
    socketErrors: 0,
    packetsOut: 0,
    bytesOut: 0,
    duplicateAcks: 0,
    retransmittedBlocks: 0,
    windowRestarts: 0,
    repeatedRequests: 0,
    malformed: 0,
    unexpected: 0,
  };
}

interface Resolved {
  maxBlksize: number;
  maxWindowsize: number;
  timeoutMs: number;
  retries: number;
  unprovenWaitMs: number;
  stallMs: number;
}

/** One read request, from admission to its end. The socket is opened with the first answer. */
export class ServerTransfer {
  readonly file: string;
  readonly mode: string;
  /** Options as the client sent them. */
  readonly options: Record<string, string>;
  readonly remote: { address: string; port: number };
  readonly done: Promise<TransferEnd>;
  private resolveDone: (e: TransferEnd) => void = () => undefined;
  private sender: ReadSender | undefined;
  private socket: dgram.Socket | undefined;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  /** Sends handed to the socket and not yet completed: the socket closes after the last one. */
  private pendingSends = 0;
  private supplied = 0;
  private highWater = 64 * 1024;
  private drainWaiters: (() => void)[] = [];

  constructor(
    req: TftpRequest,
    rinfo: dgram.RemoteInfo,
    private readonly server: TftpServer,
    private readonly cfg: Resolved,
  ) {
    this.file = req.file;
    this.mode = req.mode;
    this.options = req.options;
    this.remote = { address: rinfo.address, port: rinfo.port };
    this.done = new Promise((r) => {
      this.resolveDone = r;
    });
  }

  get key(): string {
    return `${this.remote.address}:${this.remote.port}/${this.file}`;
  }

  get isOpen(): boolean {
    return !this.ended;
  }

  /** The client has ACKed something (false also while the answer is being prepared). */
  get isProven(): boolean {
    return this.sender?.isProven ?? false;
  }

  get started(): boolean {
    return this.sender !== undefined;
  }

  /** Bytes written and not yet acknowledged by the client. */
  get buffered(): number {
    return this.sender?.buffered ?? 0;
  }

  /** Bytes the client has acknowledged (for a finished transfer: all). */
  get acknowledged(): number {
    return this.supplied - this.buffered;
  }

  /** Answers with a whole file. */
  sendBuffer(bytes: Buffer): void {
    this.begin(bytes.length);
    this.write(bytes);
    this.end();
  }

  /** Starts the answer; `size` (when known) is what the client gets for tsize. */
  begin(size: number | undefined): void {
    if (this.ended || this.sender) return;
    const n = negotiateServer(this.options, size, this.cfg);
    this.highWater = Math.max(64 * 1024, 2 * n.windowsize * n.blksize);
    this.sender = new ReadSender({
      blksize: n.blksize,
      windowsize: n.windowsize,
      oack: n.oack,
      timeoutMs: n.timeoutMs ?? this.cfg.timeoutMs,
      retries: this.cfg.retries,
      unprovenWaitMs: this.cfg.unprovenWaitMs,
      stallMs: this.cfg.stallMs,
    });
    this.run(this.sender.start());
  }

  /** More of the file; resolves when there is room for more, false when the transfer is over. */
  write(chunk: Buffer): Promise<boolean> {
    if (this.ended || !this.sender) return Promise.resolve(false);
    this.supplied += chunk.length;
    this.run(this.sender.supply(chunk));
    if (this.ended) return Promise.resolve(false);
    if (this.buffered < this.highWater) return Promise.resolve(true);
    return new Promise((resolve) => this.drainWaiters.push(() => resolve(!this.ended)));
  }

  end(): void {
    if (this.sender) this.run(this.sender.end());
  }

  /** Refuses the request (or aborts the transfer) with an ERROR packet. */
  refuse(code: TftpErrorCode, message: string): void {
    if (this.ended) return;
    this.sender ??= new ReadSender({
      blksize: 512,
      windowsize: 1,
      oack: undefined,
      timeoutMs: this.cfg.timeoutMs,
      retries: 0,
      unprovenWaitMs: this.cfg.unprovenWaitMs,
      stallMs: this.cfg.stallMs,
    });
    this.run(this.sender.fail(code, message));
  }

  /** The client sent the same RRQ again. */
  repeated(): void {
    if (this.sender) this.run(this.sender.repeatedRequest());
  }

  /** Ends the transfer without a word to the client (service stop, eviction). */
  stop(reason: 'stopped' | 'evicted'): void {
    this.finish({ ok: false, reason });
  }

  private ensureSocket(): dgram.Socket {
    if (this.socket) return this.socket;
    const s = dgram.createSocket('udp4');
    this.socket = s;
    s.on('error', (err) => {
      this.server.stats.socketErrors++;
      this.finish({ ok: false, reason: 'socket-error', detail: err.message });
      // Queued sends may never complete on a socket that failed to bind: close it now.
      this.closeSocket();
    });
    s.on('message', (msg, rinfo) => {
      if (rinfo.address !== this.remote.address || rinfo.port !== this.remote.port) {
        // RFC 1350 §4: another source on this transfer's port gets error 5, the transfer goes on.
        this.send(encodeError(TftpErrorCode.UnknownTid, 'Unknown transfer ID'), rinfo.port, rinfo.address);
        return;
      }
      if (this.sender) this.run(this.sender.packet(msg));
    });
    // Sends issued while the bind is in progress are queued by node:dgram.
    s.bind(0, this.server.address);
    return s;
  }

  private send(packet: Buffer, port = this.remote.port, address = this.remote.address): void {
    if (this.ended && !this.socket) return;
    const s = this.ensureSocket();
    this.server.stats.packetsOut++;
    this.server.stats.bytesOut += packet.length;
    this.pendingSends++;
    try {
      s.send(packet, port, address, (err) => {
        this.pendingSends--;
        if (this.ended && this.pendingSends === 0) this.closeSocket();
        if (err) {
          this.server.stats.socketErrors++;
          this.finish({ ok: false, reason: 'socket-error', detail: err.message });
        }
      });
    } catch (err) {
      // Socket already closed (the transfer ended meanwhile).
      this.pendingSends--;
      this.server.stats.socketErrors++;
      this.finish({ ok: false, reason: 'socket-error', detail: (err as Error).message });
    }
  }

  private run(actions: SenderAction[]): void {
    for (const a of actions) {
      if (this.ended && a.type !== 'send') continue;
      switch (a.type) {
        case 'send':
          if (a.first && !this.server.takeFirstPacket()) break;
          if (!this.ended) this.send(a.packet);
          break;
        case 'timer':
          if (this.timer) clearTimeout(this.timer);
          this.timer = undefined;
          if (a.ms !== undefined) {
            this.timer = setTimeout(() => {
              this.timer = undefined;
              if (this.sender) this.run(this.sender.timer());
            }, a.ms);
          }
          break;
        case 'done':
          this.finish({ ok: true });
          break;
        case 'failed':
          if (a.reason === 'unproven-timeout') this.server.stats.unprovenTimeouts++;
          this.finish({ ok: false, reason: a.reason, detail: a.detail });
          break;
      }
    }
    if (this.buffered < this.highWater || this.ended) {
      for (const w of this.drainWaiters.splice(0)) w();
    }
  }

  private closeSocket(): void {
    const s = this.socket;
    if (!s) return;
    this.socket = undefined;
    try {
      s.close();
    } catch {
      // Already closed after a socket error.
    }
  }

  private finish(e: TransferEnd): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    // A packet just queued (the ERROR of a refusal) must leave before the socket closes.
    if (this.pendingSends === 0) this.closeSocket();
    const st = this.server.stats;
    if (this.sender) {
      for (const k of Object.keys(this.sender.counters) as (keyof SenderCounters)[]) st[k] += this.sender.counters[k];
    }
    if (e.ok) st.completed++;
    else st.failed++;
    this.server.forget(this);
    for (const w of this.drainWaiters.splice(0)) w();
    this.resolveDone(e);
  }
}

export class TftpServer {
  readonly stats = newServerStats();
  private readonly transfers = new Map<string, ServerTransfer>();
  private socket: dgram.Socket | undefined;
  private readonly cfg: Resolved;
  private readonly firstPackets: TokenBucket;
  private readonly now: () => number;
  address: string;
  port = 0;

  constructor(private readonly o: TftpServerOptions) {
    this.address = o.address;
    const timeoutMs = o.timeoutMs ?? 1000;
    const retries = o.retries ?? 6;
    this.cfg = {
      maxBlksize: o.maxBlksize ?? 1468,
      maxWindowsize: o.maxWindowsize ?? 16,
      timeoutMs,
      retries,
      unprovenWaitMs: o.unprovenWaitMs ?? 6000,
      stallMs: o.stallMs ?? 60_000,
    };
    this.firstPackets = o.firstPackets ?? new TokenBucket(FIRST_PACKETS_PER_SECOND, FIRST_PACKETS_PER_SECOND);
    this.now = o.now ?? Date.now;
  }

  /** Transfers admitted and not yet ended. */
  get active(): number {
    return this.transfers.size;
  }

  async listen(): Promise<void> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(this.o.port, this.o.address, () => {
        s.off('error', reject);
        resolve();
      });
    });
    // After the bind, errors (ICMP port unreachable and the like) are counted, never fatal.
    s.on('error', () => {
      this.stats.socketErrors++;
    });
    s.on('message', (msg, rinfo) => this.onDatagram(s, msg, rinfo));
    this.socket = s;
    this.port = (s.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    for (const t of [...this.transfers.values()]) t.stop('stopped');
    const s = this.socket;
    this.socket = undefined;
    if (s) await new Promise<void>((resolve) => s.close(() => resolve()));
  }

  /** @internal */
  takeFirstPacket(): boolean {
    if (this.firstPackets.take(this.now())) return true;
    this.stats.firstPacketsOverBudget++;
    return false;
  }

  /** @internal */
  forget(t: ServerTransfer): void {
    if (this.transfers.get(t.key) === t) this.transfers.delete(t.key);
  }

  private onDatagram(s: dgram.Socket, msg: Buffer, rinfo: dgram.RemoteInfo): void {
    const { hooks } = this.o;
    const from = `${rinfo.address}:${rinfo.port}`;
    const op = msg.length >= 2 ? msg.readUInt16BE(0) : 0;
    if (op !== OP_RRQ && op !== OP_WRQ) {
      // Stray DATA/ACK/ERROR to the listening port, or junk: RFC 1350 expects no answer to those.
      hooks.refused('not-a-request', { from, reason: `opcode ${op}, ${msg.length} bytes` });
      return;
    }
    if (!hooks.gate(rinfo, msg)) return;
    const reply = (code: TftpErrorCode, text: string) => {
      this.stats.packetsOut++;
      this.stats.bytesOut += text.length + 5;
      s.send(encodeError(code, text), rinfo.port, rinfo.address, () => undefined);
    };
    let req: TftpRequest;
    try {
      req = parseRequest(msg);
      if (req.op === 'WRQ') {
        // The appliance serves files; it takes none (RFC 1350 §5: access violation).
        hooks.refused('write', { from, reason: 'write request', request: msg });
        reply(TftpErrorCode.AccessViolation, TFTP_MESSAGES.accessViolation);
        return;
      }
      if (req.mode === 'mail') {
        // RFC 1350 §1: mail mode is obsolete and "should not be implemented or used".
        hooks.refused('mail', { from, reason: 'mail mode', request: msg });
        reply(TftpErrorCode.IllegalOperation, 'Mail mode not supported');
        return;
      }
      const same = this.transfers.get(`${from}/${req.file}`);
      if (same) {
        hooks.repeated(same);
        same.repeated();
        return;
      }
      hooks.check(req, rinfo);
    } catch (err) {
      if (!(err instanceof TftpRequestError)) throw err;
      const access = err.tftpCode === TftpErrorCode.AccessViolation;
      hooks.refused(access ? 'access-violation' : 'malformed', { from, reason: err.reason, request: msg });
      reply(err.tftpCode, access ? TFTP_MESSAGES.accessViolation : TFTP_MESSAGES.illegal);
      return;
    }
    if (this.transfers.size >= (this.o.maxTransfers ?? MAX_TRANSFERS) && !this.evictUnproven()) {
      hooks.refused('busy', { from, reason: `${this.transfers.size} transfers open` });
      return;
    }
    const t = new ServerTransfer(req, rinfo, this, this.cfg);
    this.transfers.set(t.key, t);
    this.stats.transfers++;
    hooks.request(t);
  }

  /** Drops the oldest transfer whose client has not ACKed anything (Map order is arrival order). */
  private evictUnproven(): boolean {
    for (const t of this.transfers.values()) {
      if (t.started && !t.isProven) {
        this.stats.evicted++;
        t.stop('evicted');
        return true;
      }
    }
    return false;
  }
}
