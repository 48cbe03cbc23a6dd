/**
 * The receiving side of a TFTP read (the appliance fetching from the UCM TFTP server): RRQ with
 * options (RFC 2347), OACK checked against what was asked (RFC 2348 blksize, RFC 2349 tsize),
 * lock-step ACKs (RFC 1350), the server's transfer ID locked on its first reply (RFC 1350 §4).
 * Pure: events in (a packet and its source, the timer, the consumer's pace), actions out.
 *
 * Back-pressure: while the consumer is paused, the ACK of the newest block is held, so the server
 * waits instead of sending more; when the retransmission timer fires during a hold the ACK goes
 * anyway (one more block per timeout) so the server never gives up on a slow consumer. The last
 * ACK is never held: the transfer is complete when it goes.
 */

import { acceptOack, DEFAULT_BLKSIZE } from './options';
import { encodeAck, encodeError, encodeRequest, TftpErrorCode, tryDecodePacket } from './packet';

export type ReceiverAction =
  /** `to` absent: the server's transfer ID (or its listening port for the RRQ). */
  | { type: 'send'; packet: Buffer; to?: string }
  | { type: 'timer'; ms: number | undefined }
  /** The size the server announced (tsize), or null: it did not say. Comes once, before any data. */
  | { type: 'size'; size: number | null }
  | { type: 'data'; chunk: Buffer }
  | { type: 'done' }
  | { type: 'failed'; code: number | undefined; timedOut: boolean; detail: string };

export interface ReceiverConfig {
  file: string;
  /** Options for the RRQ (values as sent); empty: a plain RFC 1350 request. */
  options: Record<string, string>;
  /** Wait for each reply before sending the last packet again. */
  timeoutMs: number;
  /** Retransmissions before giving up. */
  retries: number;
}

export interface ReceiverCounters {
  duplicates: number;
  malformed: number;
  foreign: number;
  retransmissions: number;
}

type Phase = 'requested' | 'receiving' | 'done' | 'failed';

export class ReadReceiver {
  readonly counters: ReceiverCounters = { duplicates: 0, malformed: 0, foreign: 0, retransmissions: 0 };
  private phase: Phase = 'requested';
  /** `address:port` of the server's transfer socket, from its first reply. */
  private tid: string | undefined;
  private blksize = DEFAULT_BLKSIZE;
  /** Absolute number of the last block received (and delivered). */
  private received = 0;
  private last: Buffer;
  private retriesLeft: number;
  private paused = false;
  private heldAck: number | undefined;
  private bytes = 0;

  constructor(private readonly cfg: ReceiverConfig) {
    this.retriesLeft = cfg.retries;
    this.last = encodeRequest(cfg.file, 'octet', cfg.options);
  }

  get finished(): boolean {
    return this.phase === 'done' || this.phase === 'failed';
  }

  /** `address:port` of the server's transfer socket, once it has answered. */
  get peer(): string | undefined {
    return this.tid;
  }

  /** Bytes received from the server so far. */
  get receivedBytes(): number {
    return this.bytes;
  }

  start(): ReceiverAction[] {
    return [
      { type: 'send', packet: this.last },
      { type: 'timer', ms: this.cfg.timeoutMs },
    ];
  }

  /** The consumer stopped taking data: hold the next ACK. */
  pause(): void {
    this.paused = true;
  }

  /** The consumer wants more: a held ACK goes now. */
  resume(): ReceiverAction[] {
    this.paused = false;
    if (this.heldAck === undefined || this.finished) return [];
    this.heldAck = undefined;
    return [
      { type: 'send', packet: this.last },
      { type: 'timer', ms: this.cfg.timeoutMs },
    ];
  }

  /** Stops the transfer (the consumer went away): the server is told, once. */
  abort(message: string): ReceiverAction[] {
    if (this.finished) return [];
    this.phase = 'failed';
    const out: ReceiverAction[] = [{ type: 'timer', ms: undefined }];
    if (this.tid) out.push({ type: 'send', packet: encodeError(TftpErrorCode.NotDefined, message) });
    out.push({ type: 'failed', code: undefined, timedOut: false, detail: message });
    return out;
  }

  packet(buf: Buffer, from: string): ReceiverAction[] {
    if (this.finished) return [];
    if (this.tid !== undefined && from !== this.tid) {
      // RFC 1350 §4: a packet from another port is not for this transfer; tell its sender.
      this.counters.foreign++;
      return [{ type: 'send', packet: encodeError(TftpErrorCode.UnknownTid, 'Unknown transfer ID'), to: from }];
    }
    const p = tryDecodePacket(buf);
    if (!p) {
      this.counters.malformed++;
      return [];
    }
    if (p.op === 'ERROR') {
      this.phase = 'failed';
      return [
        { type: 'timer', ms: undefined },
        { type: 'failed', code: p.code, timedOut: false, detail: p.message },
      ];
    }
    if (p.op === 'OACK') {
      if (this.phase !== 'requested') {
        this.counters.duplicates++;
        return [];
      }
      this.tid = from;
      const ok = acceptOack(this.cfg.options, p.options);
      if (typeof ok === 'string') {
        this.phase = 'failed';
        return [
          { type: 'send', packet: encodeError(TftpErrorCode.OptionRefused, ok) },
          { type: 'timer', ms: undefined },
          { type: 'failed', code: TftpErrorCode.OptionRefused, timedOut: false, detail: `server OACK: ${ok}` },
        ];
      }
      this.blksize = ok.blksize;
      this.phase = 'receiving';
      return [{ type: 'size', size: ok.size ?? null }, ...this.ack(0)];
    }
    if (p.op !== 'DATA') {
      this.counters.malformed++;
      return [];
    }
    const out: ReceiverAction[] = [];
    if (this.phase === 'requested') {
      // DATA 1 straight away: the server took no option (RFC 2347 §3), RFC 1350 blocks.
      this.tid = from;
      this.phase = 'receiving';
      out.push({ type: 'size', size: null });
    }
    const expected = (this.received + 1) & 0xffff;
    if (p.block !== expected) {
      // A retransmission of the block already ACKed: our ACK was lost, send it again (unless held).
      this.counters.duplicates++;
      if (p.block === (this.received & 0xffff) && this.heldAck === undefined && this.received > 0) {
        return [{ type: 'send', packet: this.last }];
      }
      return out;
    }
    if (p.data.length > this.blksize) {
      this.counters.malformed++;
      return out;
    }
    this.received++;
    this.bytes += p.data.length;
    out.push({ type: 'data', chunk: Buffer.from(p.data) });
    if (p.data.length < this.blksize) {
      this.phase = 'done';
      out.push({ type: 'send', packet: encodeAck(this.received) }, { type: 'timer', ms: undefined }, { type: 'done' });
      return out;
    }
    out.push(...this.ack(this.received));
    return out;
  }

  private ack(block: number): ReceiverAction[] {
    this.last = encodeAck(block);
    this.retriesLeft = this.cfg.retries;
    if (this.paused && block > 0) {
      this.heldAck = block;
      return [{ type: 'timer', ms: this.cfg.timeoutMs }];
    }
    return [
      { type: 'send', packet: this.last },
      { type: 'timer', ms: this.cfg.timeoutMs },
    ];
  }

  timer(): ReceiverAction[] {
    if (this.finished) return [];
    if (this.heldAck !== undefined) {
      // A slow consumer: let one more block in rather than have the server give up.
      this.heldAck = undefined;
      return [
        { type: 'send', packet: this.last },
        { type: 'timer', ms: this.cfg.timeoutMs },
      ];
    }
    if (this.retriesLeft-- <= 0) {
      const what = this.phase === 'requested' ? 'request' : `block ${this.received + 1}`;
      this.phase = 'failed';
      return [{ type: 'failed', code: undefined, timedOut: true, detail: `no answer (${what})` }];
    }
    this.counters.retransmissions++;
    return [
      { type: 'send', packet: this.last },
      { type: 'timer', ms: this.cfg.timeoutMs },
    ];
  }
}
