/**
 * The media packet path, modelled on rtpengine's stream_packet(): one PacketPath per worker
 * thread, one Relay per media session with two Legs, and named steps
 * demux → parse → unprotect → latch → protect → send.
 *
 * Nothing here allocates per packet (architecture.md, "The hot path"): the packet is copied
 * once into a rotating slot of WebAssembly memory, unprotected and protected in place, and
 * sent from the slot's Buffer view (created once by the engine) with offset and length.
 * Drops only bump typed-array counters; the verdict is a small integer.
 * No sockets here: a Leg sends through a Sender (a dgram socket in workers, a sink in the
 * allocation benchmark).
 */
import {
  AUTH_FAILURES,
  HELD_PACKETS,
  LAST_RX_MS,
  LATCH_MOVES,
  OTHER_DROPS,
  REPLAY_DROPS,
  RX_BYTES,
  RX_PACKETS,
  TX_BYTES,
  TX_PACKETS,
  UNEXPECTED_SOURCE_DROPS,
} from './counters';
import type { EarlyPackets } from './early-packets';
import type { EngineCodes, PacketEngine } from './engine';

export interface Sender {
  send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void;
}

export const MODE_RTP = 0;
export const MODE_SRTP = 1;
/** Signaling has not configured the leg yet: nothing crosses it (early packets are held). */
export const MODE_PENDING = 2;

/** Verdicts of PacketPath.handle(). */
export const FORWARDED = 0;
export const DROP_UNEXPECTED_SOURCE = 1;
export const DROP_MALFORMED = 2;
export const DROP_AUTH = 3;
export const DROP_REPLAY = 4;
export const DROP_OTHER_SRTP = 5;
export const DROP_NO_DESTINATION = 6;
export const DROP_PROTECT = 7;
export const DROP_OVERSIZE = 8;
export const DROP_NOT_CONFIGURED = 9;
export const HELD = 10;

/** Room left in a slot for the tag SRTP/SRTCP append (10 or 4 bytes + 4-byte SRTCP index). */
const TAG_ROOM = 16;

/** Told (outside the per-packet path proper: only when the peer address moves) about a new latch. */
export type LatchListener = (leg: Leg, rtcp: boolean) => void;

export class Leg {
  mode = MODE_PENDING;
  /** Early packets held for this leg (EarlyPackets keeps the count). */
  held = 0;
  /** Engine session handles for what arrives on this leg and what leaves it. */
  rxHandle = -1;
  txHandle = -1;
  /** The peer's address from signaling; on an inside leg the only accepted source. */
  peerAddress = '';
  /** Where RTP and RTCP leave this leg; port 0 = nowhere yet. */
  rtpAddress = '';
  rtpPort = 0;
  rtcpAddress = '';
  rtcpPort = 0;
  /** Outside legs: the destination was learnt from a received packet. */
  rtpLatched = false;
  rtcpLatched = false;
  /** SSRC of the last RTP packet authenticated on this leg / protected out of it; -1 = none. */
  ssrcIn = -1;
  ssrcOut = -1;

  constructor(
    /** Inside legs face UCM-side peers whose address signaling gave us: no latching. */
    readonly inside: boolean,
    /** Index of this leg's first counter in the shared array. */
    readonly base: number,
    readonly rtpSender: Sender,
    readonly rtcpSender: Sender,
  ) {}

  /** Signaling gave (or changed) the peer: send there until a packet teaches otherwise. */
  setPeer(address: string, rtpPort: number, rtcpPort: number): void {
    this.peerAddress = address;
    this.rtpAddress = address;
    this.rtpPort = rtpPort;
    this.rtcpAddress = address;
    this.rtcpPort = rtcpPort;
    this.rtpLatched = false;
    this.rtcpLatched = false;
  }
}

export class Relay {
  readonly legs: [Leg, Leg];
  constructor(outside: Leg, inside: Leg) {
    this.legs = [outside, inside];
  }
}

export class PacketPath {
  /** Coarse wall clock (ms), advanced by the owner's timer rather than read per packet. */
  now = 0;
  private cursor = 0;
  private readonly maxIn: number;

  constructor(
    private readonly counters: Float64Array,
    private readonly engine: PacketEngine | null,
    private readonly codes: EngineCodes | null,
    private readonly onLatch: LatchListener | null,
    /** Where packets wait for signaling; null = they are dropped instead. */
    private readonly early: EarlyPackets | null = null,
  ) {
    this.maxIn = engine ? (engine.maxProtectInput ?? engine.slotSize - TAG_ROOM) : 0;
  }

  /** One datagram received on `relay.legs[legIndex]` (its RTP or RTCP socket). */
  handle(relay: Relay, legIndex: number, rtcp: boolean, msg: Buffer, srcAddress: string, srcPort: number): number {
    const a = relay.legs[legIndex] as Leg;
    const b = relay.legs[1 - legIndex] as Leg;
    const c = this.counters;
    const len = msg.length;
    add(c, a.base + RX_PACKETS, 1);
    add(c, a.base + RX_BYTES, len);
    // A callee's first packets race its answer: keep them until signaling configures the legs.
    if (waitsForSignaling(a, b) && this.early !== null) {
      if (this.early.hold(relay, legIndex, rtcp, msg, srcAddress, srcPort, this.now)) {
        add(c, a.base + HELD_PACKETS, 1);
        return HELD;
      }
    }
    return this.process(relay, legIndex, rtcp, msg, srcAddress, srcPort);
  }

  /** The packet path proper; also runs held packets once their legs are configured. */
  process(relay: Relay, legIndex: number, rtcp: boolean, msg: Buffer, srcAddress: string, srcPort: number): number {
    const a = relay.legs[legIndex] as Leg;
    const b = relay.legs[1 - legIndex] as Leg;
    const c = this.counters;
    const len = msg.length;
    // demux: an inside leg only hears its signaled peer.
    if (a.inside && srcAddress !== a.peerAddress) {
      add(c, a.base + UNEXPECTED_SOURCE_DROPS, 1);
      return DROP_UNEXPECTED_SOURCE;
    }
    if (a.mode === MODE_PENDING || b.mode === MODE_PENDING) {
      // Unconfigured, an outside leg would take SRTP it cannot authenticate yet as RTP.
      add(c, a.base + OTHER_DROPS, 1);
      return DROP_NOT_CONFIGURED;
    }
    // parse
    if (!(rtcp ? isRtcp(msg, len) : isRtp(msg, len))) {
      // A protected packet that does not even parse is an authentication failure (werift's rule).
      add(c, a.base + (a.mode === MODE_SRTP ? AUTH_FAILURES : OTHER_DROPS), 1);
      return DROP_MALFORMED;
    }

    let buf: Uint8Array = msg;
    let n = len;
    let slot = -1;
    if (a.mode === MODE_SRTP || b.mode === MODE_SRTP) {
      const engine = this.engine as PacketEngine;
      if (len > this.maxIn) {
        add(c, a.base + OTHER_DROPS, 1);
        return DROP_OVERSIZE;
      }
      slot = this.cursor;
      this.cursor = slot + 1 === engine.slotCount ? 0 : slot + 1;
      buf = engine.slot(slot);
      buf.set(msg, 0);
      // unprotect
      if (a.mode === MODE_SRTP) {
        n = rtcp ? engine.unprotectRtcp(a.rxHandle, slot, n) : engine.unprotectRtp(a.rxHandle, slot, n);
        if (n < 0) return this.unprotectFailed(a, n);
        if (!rtcp) a.ssrcIn = ssrcOf(buf);
      }
    }
    // latch: only now, after authentication, may the remote phone's address move.
    if (!a.inside) this.latch(a, rtcp, srcAddress, srcPort);
    c[a.base + LAST_RX_MS] = this.now;

    // protect
    if (b.mode === MODE_SRTP) {
      const engine = this.engine as PacketEngine;
      if (!rtcp) b.ssrcOut = ssrcOf(buf);
      n = rtcp ? engine.protectRtcp(b.txHandle, slot, n) : engine.protectRtp(b.txHandle, slot, n);
      if (n < 0) {
        add(c, b.base + OTHER_DROPS, 1);
        return DROP_PROTECT;
      }
    }
    // send
    const port = rtcp ? b.rtcpPort : b.rtpPort;
    if (port === 0) {
      add(c, b.base + OTHER_DROPS, 1);
      return DROP_NO_DESTINATION;
    }
    if (rtcp) b.rtcpSender.send(buf, 0, n, port, b.rtcpAddress);
    else b.rtpSender.send(buf, 0, n, port, b.rtpAddress);
    add(c, b.base + TX_PACKETS, 1);
    add(c, b.base + TX_BYTES, n);
    return FORWARDED;
  }

  private unprotectFailed(a: Leg, code: number): number {
    const codes = this.codes as EngineCodes;
    if (code === codes.auth) {
      add(this.counters, a.base + AUTH_FAILURES, 1);
      return DROP_AUTH;
    }
    if (code === codes.replay || code === codes.replayOld) {
      add(this.counters, a.base + REPLAY_DROPS, 1);
      return DROP_REPLAY;
    }
    add(this.counters, a.base + OTHER_DROPS, 1);
    return DROP_OTHER_SRTP;
  }

  /**
   * Symmetric RTP: send back to where the phone's packets come from (its NAT mapping). An SRTP
   * leg follows every authenticated move; a plain RTP leg, which cannot tell a phone from an
   * attacker, latches on its first packet only. RTCP follows RTP (port + 1) until it is heard.
   */
  private latch(a: Leg, rtcp: boolean, address: string, port: number): void {
    if (rtcp) {
      if (a.rtcpPort === port && a.rtcpAddress === address) return;
      if (a.rtcpLatched && a.mode !== MODE_SRTP) return;
      a.rtcpAddress = address;
      a.rtcpPort = port;
      a.rtcpLatched = true;
    } else {
      if (a.rtpPort === port && a.rtpAddress === address) {
        a.rtpLatched = true;
        return;
      }
      if (a.rtpLatched && a.mode !== MODE_SRTP) return;
      a.rtpAddress = address;
      a.rtpPort = port;
      a.rtpLatched = true;
      if (!a.rtcpLatched) {
        a.rtcpAddress = address;
        a.rtcpPort = port + 1;
      }
    }
    add(this.counters, a.base + LATCH_MOVES, 1);
    if (this.onLatch !== null) this.onLatch(a, rtcp);
  }
}

/** True while a packet arriving on `a` cannot go through yet for want of signaling. */
export function waitsForSignaling(a: Leg, b: Leg): boolean {
  return a.mode === MODE_PENDING || b.mode === MODE_PENDING || (a.inside && a.peerAddress === '');
}

/** RTP header bytes 8-11 (RFC 3550 §5.1). */
function ssrcOf(b: Uint8Array): number {
  return (((b[8] as number) << 24) | ((b[9] as number) << 16) | ((b[10] as number) << 8) | (b[11] as number)) >>> 0;
}

/** RFC 3550 §5.1: version 2, fixed header of 12 bytes plus the CSRC list. */
function isRtp(msg: Buffer, len: number): boolean {
  if (len < 12) return false;
  const b0 = msg[0] as number;
  return b0 >> 6 === 2 && len >= 12 + 4 * (b0 & 0x0f);
}

/** RFC 3550 §6.4: version 2, packet types 192-223 (SR 200, RR 201, SDES, BYE, APP, feedback). */
function isRtcp(msg: Buffer, len: number): boolean {
  if (len < 8) return false;
  const pt = msg[1] as number;
  return (msg[0] as number) >> 6 === 2 && pt >= 192 && pt <= 223;
}

/** counters[i] += v (a function so strict index checks stay quiet; V8 inlines it). */
function add(c: Float64Array, i: number, v: number): void {
  c[i] = (c[i] as number) + v;
}
