/**
 * A secure call through a media service for the takeover tests (issue 14): a remote phone and
 * an inside peer, each SRTP with its own keys (the node:crypto reference, with its own stream
 * state, so an index reused or a ROC lost by the relay shows as a failure), talking at 50
 * packets/s (or every `intervalMs`) both ways from a timer until stopped, also while nobody listens.
 */
import { randomBytes } from 'node:crypto';
import type { MediaAllocator, MediaSessionInfo } from '../../src/contracts/media';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { rtpPacket, sleep, UdpPeer } from './media-harness';

const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;

export class SrtpCall {
  readonly failures: string[] = [];
  atPeer = 0;
  atPhone = 0;
  /** Arrival times (ms) at the inside peer and at the phone. */
  readonly peerTimes: number[] = [];
  readonly phoneTimes: number[] = [];
  up: number;
  down: number;
  /** A packet the phone sent early on, for a replay. */
  replay: Buffer | undefined;
  /** The phone's latest packet, for a replay of one the dead node may have relayed after its snapshot. */
  lastUp: Buffer | undefined;
  private talk: NodeJS.Timeout | undefined;

  private constructor(
    readonly info: MediaSessionInfo,
    readonly phone: UdpPeer,
    readonly peer: UdpPeer,
    private readonly phoneTx: SrtpReferenceContext,
    private readonly peerTx: SrtpReferenceContext,
    first: number,
  ) {
    this.up = first;
    this.down = first + 10;
  }

  /** Allocates and configures the session (SRTP both legs) and starts talking from `first`. */
  static async place(
    media: MediaAllocator,
    phoneAt: string,
    peerAt: string,
    first = 65_500,
    intervalMs = 20,
  ): Promise<SrtpCall> {
    const phone = await UdpPeer.open(phoneAt);
    const peer = await UdpPeer.open(peerAt);
    const [phoneKey, proxyOutKey, peerKey, proxyInKey] = [0, 1, 2, 3].map(() => randomBytes(30));
    const info = await media.allocate({ callId: `call-${phoneAt}@test` });
    await media.updateLeg(info.id, 'outside', {
      mode: 'srtp',
      peer: { address: phone.address, rtpPort: phone.port },
      srtp: { profile: PROFILE, recvKey: phoneKey as Buffer, sendKey: proxyOutKey as Buffer },
    });
    await media.updateLeg(info.id, 'inside', {
      mode: 'srtp',
      peer: { address: peer.address, rtpPort: peer.port },
      srtp: { profile: PROFILE, recvKey: peerKey as Buffer, sendKey: proxyInKey as Buffer },
    });
    const call = new SrtpCall(
      info,
      phone,
      peer,
      new SrtpReferenceContext(PROFILE, phoneKey as Buffer),
      new SrtpReferenceContext(PROFILE, peerKey as Buffer),
      first,
    );
    const phoneRx = new SrtpReferenceContext(PROFILE, proxyOutKey as Buffer);
    const peerRx = new SrtpReferenceContext(PROFILE, proxyInKey as Buffer);
    phone.socket.on('message', (m) => {
      const r = phoneRx.unprotectRtp(m);
      if (!r.ok) call.failures.push(`phone: ${r.error}`);
      else {
        call.atPhone++;
        call.phoneTimes.push(Date.now());
      }
    });
    peer.socket.on('message', (m) => {
      const r = peerRx.unprotectRtp(m);
      if (!r.ok) call.failures.push(`peer: ${r.error}`);
      else {
        call.atPeer++;
        call.peerTimes.push(Date.now());
      }
    });
    call.talk = setInterval(() => call.tick(), intervalMs);
    return call;
  }

  private tick(): void {
    const { info } = this;
    const p = this.phoneTx.protectRtp(rtpPacket(0xaaaa, this.up++ & 0xffff));
    if (this.replay === undefined && this.up > 65_530) this.replay = p;
    this.lastUp = p;
    this.phone.socket.send(p, info.outside.rtpPort, info.outside.address);
    const q = this.peerTx.protectRtp(rtpPacket(0xbbbb, this.down++ & 0xffff));
    this.peer.socket.send(q, info.inside.rtpPort, info.inside.address);
  }

  /** Until the phone has sent packet `seq` (an extended sequence number). */
  async until(seq: number): Promise<void> {
    while (this.up < seq) await sleep(20);
  }

  /** Until both sides received more than they had at `mark`; false after `ms`. */
  async flowsAgain(mark: { peer: number; phone: number }, ms: number): Promise<boolean> {
    const end = Date.now() + ms;
    while (this.atPeer <= mark.peer || this.atPhone <= mark.phone) {
      if (Date.now() > end) return false;
      await sleep(10);
    }
    return true;
  }

  /** The gap (ms) after `t` until both sides heard a packet again. */
  resumedAfter(t: number): number {
    const p = this.peerTimes.find((x) => x > t) ?? Number.POSITIVE_INFINITY;
    const q = this.phoneTimes.find((x) => x > t) ?? Number.POSITIVE_INFINITY;
    return Math.max(p, q) - t;
  }

  stop(): void {
    if (this.talk) clearInterval(this.talk);
    this.phone.close();
    this.peer.close();
  }
}
