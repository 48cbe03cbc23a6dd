/**
 * A simulated phone's audio port: one UDP socket that sends a tone every 20 ms and keeps what
 * it receives. With SRTP keys it protects and unprotects with the project's reference SRTP
 * (wasm/srtp-reference.ts, node:crypto, independent of the libsrtp build the appliance runs),
 * so a packet that decrypts here was really encrypted by the appliance's engine.
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { SrtpReferenceContext } from '../wasm/srtp-reference';
import { PACKET_MS, parseRtp, RTP_HEADER_BYTES, rtpPacket, SAMPLES_PER_PACKET, toneFrame } from './audio';

const SRTP_PROFILE = 'AES_CM_128_HMAC_SHA1_80';
/** Packets sent at once when the timer fell behind (a loaded machine), so pacing catches up. */
const MAX_BURST = 5;

export interface WireStats {
  packets: number;
  /** Datagrams that were not RTP, or SRTP that failed authentication/replay checks here. */
  rejected: number;
  /** SRTP packets whose wire payload equals the decrypted payload (media in the clear). */
  clearText: number;
  /** Distinct datagram lengths seen (PCMU: 172 plain RTP, 182 SRTP with its 10-byte tag). */
  lengths: Set<number>;
  /** SRTP expected but the answer with its key not processed yet: undecryptable, dropped as a phone does. */
  beforeKey: number;
}

export class MediaEndpoint {
  private readonly sock = dgram.createSocket('udp4');
  private tx?: SrtpReferenceContext;
  private rx?: SrtpReferenceContext;
  private peer?: { address: string; port: number };
  private timer?: NodeJS.Timeout;
  private seq: number;
  private readonly firstTimestamp: number;
  private frames = 0;
  /** Payload sent per RTP sequence number. */
  readonly sent = new Map<number, Buffer>();
  /** Payload received per RTP sequence number (decrypted when SRTP). */
  readonly received = new Map<number, { ssrc: number; payload: Buffer }>();
  readonly wire: WireStats = { packets: 0, rejected: 0, clearText: 0, lengths: new Set(), beforeKey: 0 };
  firstRxAt?: number;

  constructor(
    readonly address: string,
    readonly ssrc: number,
    private readonly toneHz: number,
    /** The phone offered RTP/SAVP only: nothing is audio until it holds the answer's key. */
    private readonly expectSrtp = false,
  ) {
    // Random-looking but reproducible starting points, as RFC 3550 §5.1 asks for a random start.
    this.seq = (ssrc >>> 8) & 0x7fff;
    this.firstTimestamp = (ssrc * 7) >>> 0;
  }

  async bind(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.sock.once('error', reject);
      this.sock.bind(0, this.address, () => {
        this.sock.off('error', reject);
        resolve();
      });
    });
    this.sock.on('message', (msg) => this.onPacket(msg));
    return this.bound;
  }

  /** The bound local port. */
  get bound(): number {
    return (this.sock.address() as AddressInfo).port;
  }

  /** sendKey: master key||salt this phone offered; recvKey: the one the appliance answered with. */
  secure(sendKey: Buffer, recvKey: Buffer): void {
    this.tx = new SrtpReferenceContext(SRTP_PROFILE, sendKey);
    this.rx = new SrtpReferenceContext(SRTP_PROFILE, recvKey);
  }

  get isSecure(): boolean {
    return this.tx !== undefined;
  }

  private onPacket(msg: Buffer): void {
    this.wire.packets++;
    if (this.expectSrtp && !this.rx) {
      this.wire.beforeKey++;
      return;
    }
    this.wire.lengths.add(msg.length);
    let clear = msg;
    if (this.rx) {
      const r = this.rx.unprotectRtp(msg);
      if (!r.ok) {
        this.wire.rejected++;
        return;
      }
      clear = r.packet;
      if (msg.subarray(RTP_HEADER_BYTES, clear.length).equals(clear.subarray(RTP_HEADER_BYTES))) this.wire.clearText++;
    }
    const rtp = parseRtp(clear);
    if (!rtp) {
      this.wire.rejected++;
      return;
    }
    this.firstRxAt ??= performance.now();
    this.received.set(rtp.seq, { ssrc: rtp.ssrc, payload: Buffer.from(rtp.payload) });
  }

  /** Starts sending `count` packets of tone to `to`, paced every 20 ms. */
  start(to: { address: string; port: number }, count: number): void {
    this.run(to, count);
  }

  /**
   * Sending again after a hold (stop()): `count` more packets, the sequence numbers and key
   * going on where they stopped, as a phone resumes a held call; `to` when the answer moved it.
   */
  resume(count: number, to = this.peer): void {
    if (!to) throw new Error('media endpoint: resume() before start()');
    this.stop();
    this.run(to, count);
  }

  private run(to: { address: string; port: number }, count: number): void {
    this.peer = to;
    const base = this.frames;
    const t0 = performance.now();
    const tick = () => {
      const due = base + Math.min(count, Math.floor((performance.now() - t0) / PACKET_MS) + 1);
      for (let n = 0; this.frames < due && n < MAX_BURST; n++) this.sendFrame();
      if (this.frames >= base + count) this.stop();
    };
    tick();
    this.timer = setInterval(tick, PACKET_MS / 2);
  }

  /** Sending now (started and not stopped or held). */
  get sending(): boolean {
    return this.timer !== undefined;
  }

  private sendFrame(): void {
    const peer = this.peer;
    if (!peer) return;
    const payload = toneFrame(this.toneHz, this.frames);
    const seq = this.seq & 0xffff;
    const pkt = rtpPacket(
      seq,
      this.firstTimestamp + this.frames * SAMPLES_PER_PACKET,
      this.ssrc,
      payload,
      this.frames === 0,
    );
    this.sent.set(seq, payload);
    this.seq++;
    this.frames++;
    this.sock.send(this.tx ? this.tx.protectRtp(pkt) : pkt, peer.port, peer.address);
  }

  get done(): boolean {
    return this.timer === undefined && this.frames > 0;
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  close(): Promise<void> {
    this.stop();
    return new Promise((resolve) => {
      try {
        this.sock.close(() => resolve());
      } catch {
        resolve(); // never bound, or closed already
      }
    });
  }
}
