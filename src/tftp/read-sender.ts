/**
 * The sending side of a TFTP read (the appliance serving a phone): RFC 1350 lock-step, RFC 2347
 * OACK, RFC 2348 block size, RFC 7440 windows. Pure: events in (a packet from the peer, the
 * timer fired, the client repeated its request, data supplied), actions out (packets to send,
 * the timer to arm, done / failed). No sockets, no clock: the adapter (server.ts) owns those.
 *
 * Amplification (why the first packet is special): until the client has ACKed something, its
 * address may be spoofed, so the first packet (OACK or DATA 1) is sent once, and again only for
 * each repeated RRQ from the same address and port: one packet out per request in, never a
 * timer-driven retransmission. After the first ACK the client is proven and the usual timer
 * retransmission applies (bounded retries).
 *
 * Sorcerer's Apprentice (RFC 1123 §4.2.3.1): a duplicate ACK never causes a send; only the
 * timer or a new ACK does.
 *
 * Windows (RFC 7440 §4): up to `windowsize` blocks are in flight; an ACK for block n inside the
 * window (the receiver saw a gap after n) restarts the window at n + 1; a timeout resends the
 * window from the last ACKed block + 1.
 *
 * Block numbers are 16 bits on the wire and wrap to 0 (as tftp-hpa and atftp do); internally
 * they are absolute. An ACK is mapped to the one absolute block in [acked, sent] with its low 16
 * bits, unambiguous because a window is far smaller than 65536 blocks.
 */
import { encodeData, encodeError, encodeOack, TftpErrorCode, tryDecodePacket } from './packet';

export type SenderAction =
  /** `first`: the unacknowledged first packet (the adapter applies the global budget to it). */
  | { type: 'send'; packet: Buffer; first: boolean }
  /** Arm the one timer (replacing any armed one); undefined cancels it. */
  | { type: 'timer'; ms: number | undefined }
  | { type: 'done' }
  | { type: 'failed'; reason: SenderFailure; detail: string };

export type SenderFailure = 'client-error' | 'timeout' | 'unproven-timeout' | 'stalled' | 'refused';

/** What happened in the transfer, for counters (the adapter sums them over transfers). */
export interface SenderCounters {
  duplicateAcks: number;
  retransmittedBlocks: number;
  windowRestarts: number;
  repeatedRequests: number;
  malformed: number;
  unexpected: number;
}

export interface SenderConfig {
  blksize: number;
  windowsize: number;
  /** OACK to send first (RFC 2347); undefined: start with DATA 1. */
  oack: Record<string, string> | undefined;
  /** Retransmission timeout once the client is proven. */
  timeoutMs: number;
  /** Retransmissions of one window before giving up. */
  retries: number;
  /** How long an unproven client gets to ACK the first packet (no retransmission meanwhile). */
  unprovenWaitMs: number;
  /** How long the sender waits for data from its source (an upstream relay) with nothing in flight. */
  stallMs: number;
}

type Phase = 'waiting-data' | 'oack-sent' | 'sending' | 'done' | 'failed';

export class ReadSender {
  readonly counters: SenderCounters = {
    duplicateAcks: 0,
    retransmittedBlocks: 0,
    windowRestarts: 0,
    repeatedRequests: 0,
    malformed: 0,
    unexpected: 0,
  };
  private phase: Phase = 'waiting-data';
  /** The client has ACKed something: it receives what is sent to its address. */
  private proven = false;
  /** Highest absolute block ACKed (0: none; for an OACK, ACK 0 proves the client). */
  private acked = 0;
  /** Highest absolute block sent. */
  private sent = 0;
  private retriesLeft: number;
  /** Source bytes from absolute offset `base` (= acked × blksize) on, as supplied. */
  private chunks: Buffer[] = [];
  private base = 0;
  private held = 0;
  private ended = false;
  /** File size, once the source has ended. */
  private total = 0;
  private firstPacket: Buffer | undefined;

  constructor(private readonly cfg: SenderConfig) {
    this.retriesLeft = cfg.retries;
  }

  get finished(): boolean {
    return this.phase === 'done' || this.phase === 'failed';
  }

  get isProven(): boolean {
    return this.proven;
  }

  /** Bytes supplied and not yet acknowledged (the adapter's back-pressure measure). */
  get buffered(): number {
    return this.held;
  }

  /** Starts the transfer: the OACK now, or DATA 1 as soon as there is data for it. */
  start(): SenderAction[] {
    if (this.cfg.oack) {
      this.phase = 'oack-sent';
      this.firstPacket = encodeOack(this.cfg.oack);
      return [
        { type: 'send', packet: this.firstPacket, first: true },
        { type: 'timer', ms: this.cfg.unprovenWaitMs },
      ];
    }
    this.phase = 'sending';
    return this.fill();
  }

  /** More of the file (in order). */
  supply(chunk: Buffer): SenderAction[] {
    if (this.finished) return [];
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.held += chunk.length;
    }
    return this.phase === 'sending' ? this.fill() : [];
  }

  /** The source has no more data: the last block (possibly empty) can go. */
  end(): SenderAction[] {
    if (this.finished) return [];
    this.ended = true;
    this.total = this.base + this.held;
    return this.phase === 'sending' ? this.fill() : [];
  }

  /** The adapter refuses the request before or during the transfer. */
  fail(code: TftpErrorCode, message: string): SenderAction[] {
    if (this.finished) return [];
    this.phase = 'failed';
    return [
      { type: 'send', packet: encodeError(code, message), first: false },
      { type: 'timer', ms: undefined },
      { type: 'failed', reason: 'refused', detail: message },
    ];
  }

  /** The client sent its RRQ again from the same port: it is listening there, the first packet may go again. */
  repeatedRequest(): SenderAction[] {
    this.counters.repeatedRequests++;
    if (this.proven || this.finished || !this.firstPacket) return [];
    return [
      { type: 'send', packet: this.firstPacket, first: true },
      { type: 'timer', ms: this.cfg.unprovenWaitMs },
    ];
  }

  /** A datagram from the client's address and port (the adapter drops other sources). */
  packet(buf: Buffer): SenderAction[] {
    if (this.finished) return [];
    const p = tryDecodePacket(buf);
    if (!p) {
      this.counters.malformed++;
      return [];
    }
    if (p.op === 'ERROR') {
      this.phase = 'failed';
      return [
        { type: 'timer', ms: undefined },
        { type: 'failed', reason: 'client-error', detail: `client error ${p.code}: ${p.message}` },
      ];
    }
    if (p.op !== 'ACK') {
      this.counters.unexpected++;
      return [];
    }
    return this.ack(p.block);
  }

  private ack(wire: number): SenderAction[] {
    if (this.phase === 'oack-sent') {
      // RFC 2347 §2: the client ACKs the OACK with block 0.
      if (wire !== 0) {
        this.counters.unexpected++;
        return [];
      }
      this.proven = true;
      this.phase = 'sending';
      return this.fill();
    }
    if (this.phase !== 'sending') {
      this.counters.unexpected++;
      return [];
    }
    const abs = this.acked + ((wire - (this.acked & 0xffff)) & 0xffff);
    if (abs <= this.acked || abs > this.sent) {
      // A repeat of an ACK already seen (or older): never a reason to send (Sorcerer's Apprentice).
      this.counters.duplicateAcks++;
      return [];
    }
    this.proven = true;
    this.retriesLeft = this.cfg.retries;
    if (abs < this.sent) this.counters.windowRestarts++;
    this.release(abs);
    if (this.ended && abs === this.lastBlock()) {
      this.phase = 'done';
      return [{ type: 'timer', ms: undefined }, { type: 'done' }];
    }
    // Blocks after `abs` that were in flight are sent again as part of the new window.
    this.sent = abs;
    return this.fill();
  }

  /** The timer fired. */
  timer(): SenderAction[] {
    if (this.finished) return [];
    if (this.phase === 'oack-sent' || (!this.proven && this.sent > this.acked)) {
      // No retransmission to an address that has not shown it is listening (see the header).
      this.phase = 'failed';
      return [{ type: 'failed', reason: 'unproven-timeout', detail: 'the first packet was never acknowledged' }];
    }
    if (this.sent === this.acked) {
      // Nothing in flight: the source stalled.
      this.phase = 'failed';
      return [
        { type: 'send', packet: encodeError(TftpErrorCode.NotDefined, 'I/O error'), first: false },
        { type: 'failed', reason: 'stalled', detail: `no data from the source for ${this.cfg.stallMs} ms` },
      ];
    }
    if (this.retriesLeft-- <= 0) {
      this.phase = 'failed';
      return [{ type: 'failed', reason: 'timeout', detail: `block ${this.acked + 1} not acknowledged` }];
    }
    // RFC 7440 §4: resend the window from the last ACKed block on.
    const inFlight = this.sent - this.acked;
    this.counters.retransmittedBlocks += inFlight;
    this.sent = this.acked;
    return this.fill();
  }

  /** Absolute number of the last block, once the source has ended. */
  private lastBlock(): number {
    return Math.floor(this.total / this.cfg.blksize) + 1;
  }

  /** Drops the bytes of blocks up to `abs` (acknowledged). */
  private release(abs: number): void {
    const upTo = abs * this.cfg.blksize;
    let drop = Math.min(upTo - this.base, this.held);
    this.base += drop;
    this.held -= drop;
    while (drop > 0 && this.chunks.length > 0) {
      const c = this.chunks[0] as Buffer;
      if (c.length <= drop) {
        drop -= c.length;
        this.chunks.shift();
      } else {
        this.chunks[0] = c.subarray(drop);
        drop = 0;
      }
    }
    this.acked = abs;
    // A final empty block counts as acknowledged bytes beyond the data: base may exceed the data end.
    if (upTo > this.base) this.base = upTo;
  }

  /** Bytes [from, to) of the file, when supplied. */
  private range(from: number, to: number): Buffer {
    let at = this.base;
    const parts: Buffer[] = [];
    for (const c of this.chunks) {
      const end = at + c.length;
      if (end > from && at < to) parts.push(c.subarray(Math.max(0, from - at), Math.min(c.length, to - at)));
      if (end >= to) break;
      at = end;
    }
    return parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts);
  }

  /** Sends the blocks of the window that are not in flight and for which there is data; arms the timer. */
  private fill(): SenderAction[] {
    const out: SenderAction[] = [];
    const before = this.sent;
    const { blksize, windowsize } = this.cfg;
    const dataEnd = this.base + this.held;
    const last = this.ended ? this.lastBlock() : Number.POSITIVE_INFINITY;
    while (this.sent < this.acked + windowsize && this.sent < last) {
      const n = this.sent + 1;
      const from = (n - 1) * blksize;
      const to = from + blksize;
      // A block goes when it is full, or when it is the last one.
      if (to > dataEnd && !this.ended) break;
      const packet = encodeData(n, this.range(from, Math.min(to, dataEnd)));
      const first = n === 1 && !this.proven;
      if (first) this.firstPacket = packet;
      out.push({ type: 'send', packet, first });
      this.sent = n;
    }
    // The timer runs from the newest send; more data alone does not push a retransmission back.
    if (this.sent > before) {
      out.push({ type: 'timer', ms: this.proven ? this.cfg.timeoutMs : this.cfg.unprovenWaitMs });
    } else if (this.sent === this.acked) {
      out.push({ type: 'timer', ms: this.cfg.stallMs });
    }
    return out;
  }
}
