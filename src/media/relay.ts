/**
 * The media packet path, modelled on rtpengine's stream_packet(): one PacketPath per worker
 * thread, one Relay per media session with two Legs, and named steps
 * demux → parse → unprotect → latch → protect → send, private methods of PacketPath over one
 * reused PacketContext.
 *
 * Nothing here allocates per packet (architecture.md, "The hot path"): the packet is copied
 * once into a rotating slot of WebAssembly memory (or, on the batched socket path, received
 * straight into one: handleSlot), unprotected and protected in place, and sent from the slot's
 * Buffer view (created once by the engine) with offset and length.
 * Drops only bump typed-array counters; the verdict is a small integer.
 * No sockets here: a Leg sends through a Sender (the batched addon's send queue or a dgram
 * socket in workers, a sink in the allocation benchmark).
 */
import { MEDIA_FLAG_CLEAR, MEDIA_FLAG_OUTBOUND, MEDIA_FLAG_RTCP } from '../contracts/capture';
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
import type { EarlyPackets, HoldingRelay } from './early-packets';
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
/** A step's verdict meaning "go on to the next step" (the others are the verdicts above). */
const NEXT = -1;

/** Inside-leg latching (`media-termination.inside-latch`, issue 13). */
export const LATCH_OFF = 0;
/** Latch on the first packet from the signaled peer's address, any port. */
export const LATCH_HOST = 1;
/** Latch on the first packet from any source. */
export const LATCH_ANY = 2;

export type InsideLatch = 'off' | 'host' | 'any';

export function latchCode(policy: InsideLatch | undefined): number {
  return policy === 'any' ? LATCH_ANY : policy === 'host' ? LATCH_HOST : LATCH_OFF;
}

/** What a leg's capture taps (Relay.setCapture, issue 15): packets as on the wire, and in clear. */
export const TAP_WIRE = 1;
export const TAP_CLEAR = 2;

/**
 * Gets a copy of each tapped packet (src/media/capture-ring.ts). Called only for a relay with a
 * tapped leg: with none, the path's one extra cost is `relay.capturing !== 0`.
 */
export interface PacketTap {
  tap(leg: Leg, flags: number, buf: Uint8Array, length: number, remoteAddress: string, remotePort: number): void;
}

/** Told (outside the per-packet path proper: only when the peer address moves) about a new latch. */
export type LatchListener = (leg: Leg, rtcp: boolean) => void;

/** What a leg is built from: its place in the counters and its two sockets. */
export interface LegSockets {
  /** Inside legs face UCM-side peers whose address signaling gave us: latching only by policy. */
  inside: boolean;
  /** Inside legs: LATCH_OFF (default), LATCH_HOST or LATCH_ANY. Outside legs always latch. */
  latch?: number;
  /** Index of this leg's first counter in the shared array. */
  base: number;
  rtpSender: Sender;
  rtcpSender: Sender;
}

/**
 * One leg's packet-path state. Written only in this module: by PacketPath (latching, SSRCs)
 * and by Relay's methods (what signaling configures); everyone else sees it as `Leg`.
 */
class LegState {
  mode = MODE_PENDING;
  /** Early packets held for this leg (EarlyPackets keeps the count through the relay). */
  held = 0;
  /** Engine session handles for what arrives on this leg and what leaves it. */
  rxHandle = -1;
  txHandle = -1;
  /** The peer's address from signaling; on an inside leg not latching, the only accepted source. */
  peerAddress = '';
  /** Where RTP and RTCP leave this leg; port 0 = nowhere yet. */
  rtpAddress = '';
  rtpPort = 0;
  rtcpAddress = '';
  rtcpPort = 0;
  /** Outside legs and latching inside legs: the destination was learnt from a received packet. */
  rtpLatched = false;
  rtcpLatched = false;
  /** SSRC of the last RTP packet authenticated on this leg / protected out of it; -1 = none. */
  ssrcIn = -1;
  ssrcOut = -1;
  /** TAP_WIRE | TAP_CLEAR while a capture watches this leg; 0 = none. */
  capture = 0;
  readonly inside: boolean;
  /** LATCH_OFF on outside legs too: there `inside` alone decides (they always latch). */
  readonly latch: number;
  readonly base: number;
  readonly rtpSender: Sender;
  readonly rtcpSender: Sender;

  constructor(s: LegSockets) {
    this.inside = s.inside;
    this.latch = s.inside ? (s.latch ?? LATCH_OFF) : LATCH_OFF;
    this.base = s.base;
    this.rtpSender = s.rtpSender;
    this.rtcpSender = s.rtcpSender;
  }
}

/** A leg as the worker, the benchmarks and the tests see it: to change it, ask its Relay. */
export type Leg = Readonly<LegState>;

/** The writable legs, under a key no other module can name. */
const STATE: unique symbol = Symbol('relay legs');

export class Relay implements HoldingRelay {
  readonly legs: readonly [Leg, Leg];
  readonly [STATE]: [LegState, LegState];
  /** Non-zero while either leg is tapped: the packet path's one test for capture. */
  capturing = 0;

  constructor(outside: LegSockets, inside: LegSockets) {
    this[STATE] = [new LegState(outside), new LegState(inside)];
    this.legs = this[STATE];
  }

  /**
   * Signaling configured the leg: mode and engine handles change together in one synchronous
   * step, so no packet sees a half-updated leg.
   */
  configure(index: 0 | 1, mode: number, rxHandle: number, txHandle: number): void {
    const leg = this[STATE][index];
    leg.mode = mode;
    leg.rxHandle = rxHandle;
    leg.txHandle = txHandle;
  }

  /** Signaling gave (or changed) the peer: send there until a packet teaches otherwise. */
  setPeer(index: 0 | 1, address: string, rtpPort: number, rtcpPort: number): void {
    const leg = this[STATE][index];
    leg.peerAddress = address;
    leg.rtpAddress = address;
    leg.rtpPort = rtpPort;
    leg.rtcpAddress = address;
    leg.rtcpPort = rtcpPort;
    leg.rtpLatched = false;
    leg.rtcpLatched = false;
  }

  /** A restarted worker brought the leg's SRTP streams back to where they were. */
  restoreStreams(index: 0 | 1, ssrcIn: number | undefined, ssrcOut: number | undefined): void {
    const leg = this[STATE][index];
    if (ssrcIn !== undefined) leg.ssrcIn = ssrcIn;
    if (ssrcOut !== undefined) leg.ssrcOut = ssrcOut;
  }

  /** The session is gone (its engine handles were destroyed by the caller): nothing crosses. */
  close(): void {
    for (const leg of this[STATE]) {
      leg.rxHandle = -1;
      leg.txHandle = -1;
      leg.mode = MODE_PENDING;
    }
  }

  /** A capture starts or stops watching the leg (TAP_WIRE | TAP_CLEAR, or 0). */
  setCapture(index: 0 | 1, taps: number): void {
    const legs = this[STATE];
    legs[index].capture = taps;
    this.capturing = legs[0].capture | legs[1].capture;
  }

  heldOn(legIndex: number): number {
    return this[STATE][legIndex]?.held ?? Number.POSITIVE_INFINITY;
  }

  noteHeld(legIndex: number, delta: 1 | -1): void {
    const leg = this[STATE][legIndex];
    if (leg) leg.held += delta;
  }
}

const EMPTY = Buffer.alloc(0);
const NOWHERE: Sender = { send: () => undefined };

/**
 * What one packet carries through the steps (rtpengine's packet_handler_ctx): inputs set by
 * `load`, then the working buffer the steps produce. One per PacketPath, reused for every
 * packet, so the path allocates nothing.
 */
class PacketContext {
  // inputs
  /** The leg the packet arrived on, and the one it leaves by. */
  a: LegState;
  b: LegState;
  rtcp = false;
  msg: Buffer = EMPTY;
  src = '';
  srcPort = 0;
  // outputs of the steps
  /** What leaves: `msg` itself for RTP↔RTP, else the engine slot it was copied into. */
  buf: Uint8Array = EMPTY;
  length = 0;
  slot = -1;

  constructor(placeholder: LegState) {
    this.a = placeholder;
    this.b = placeholder;
  }
}

export class PacketPath {
  /** Coarse wall clock (ms), advanced by the owner's timer rather than read per packet. */
  now = 0;
  /** Where tapped packets go (the worker's capture ring); null: taps are ignored. */
  tap: PacketTap | null = null;
  private cursor = 0;
  private readonly maxIn: number;
  private readonly ctx = new PacketContext(
    new LegState({ inside: false, base: 0, rtpSender: NOWHERE, rtcpSender: NOWHERE }),
  );

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
    return this.receive(relay, legIndex, rtcp, msg, msg.length, -1, srcAddress, srcPort);
  }

  /**
   * One datagram the batched socket path received straight into engine slot `slot`
   * (batch-io.ts): the kernel's copy is the one copy, the steps work on it in place.
   */
  handleSlot(
    relay: Relay,
    legIndex: number,
    rtcp: boolean,
    slot: number,
    length: number,
    srcAddress: string,
    srcPort: number,
  ): number {
    const buf = (this.engine as PacketEngine).slot(slot);
    return this.receive(relay, legIndex, rtcp, buf, length, slot, srcAddress, srcPort);
  }

  private receive(
    relay: Relay,
    legIndex: number,
    rtcp: boolean,
    msg: Buffer,
    length: number,
    slot: number,
    srcAddress: string,
    srcPort: number,
  ): number {
    const legs = relay[STATE];
    const a = legs[legIndex] as LegState;
    const c = this.counters;
    add(c, a.base + RX_PACKETS, 1);
    add(c, a.base + RX_BYTES, length);
    // A callee's first packets race its answer: keep them until signaling configures the legs.
    if (this.early !== null && waitsForSignaling(a, legs[1 - legIndex] as LegState)) {
      if (this.early.hold(relay, legIndex, rtcp, msg, srcAddress, srcPort, this.now, length)) {
        add(c, a.base + HELD_PACKETS, 1);
        return HELD;
      }
    }
    this.load(relay, legIndex, rtcp, msg, length, slot, srcAddress, srcPort);
    return this.run(relay);
  }

  /** The packet path proper; also runs held packets once their legs are configured. */
  process(relay: Relay, legIndex: number, rtcp: boolean, msg: Buffer, srcAddress: string, srcPort: number): number {
    this.load(relay, legIndex, rtcp, msg, msg.length, -1, srcAddress, srcPort);
    return this.run(relay);
  }

  private run(relay: Relay): number {
    if (relay.capturing !== 0) return this.processTapped();
    let v = this.demux();
    if (v !== NEXT) return v;
    v = this.parse();
    if (v !== NEXT) return v;
    v = this.unprotect();
    if (v !== NEXT) return v;
    this.latch();
    v = this.protect();
    if (v !== NEXT) return v;
    return this.send();
  }

  /**
   * The same steps with the capture taps between them (a copy of the packet as received, even
   * if then dropped; in clear after unprotect and before protect; as sent). Only for a tapped
   * relay, so the untapped path above stays as it was.
   */
  private processTapped(): number {
    const x = this.ctx;
    const tap = this.tap;
    const kind = x.rtcp ? MEDIA_FLAG_RTCP : 0;
    if (tap !== null && (x.a.capture & TAP_WIRE) !== 0) tap.tap(x.a, kind, x.msg, x.length, x.src, x.srcPort);
    let v = this.demux();
    if (v !== NEXT) return v;
    v = this.parse();
    if (v !== NEXT) return v;
    v = this.unprotect();
    if (v !== NEXT) return v;
    if (tap !== null && (x.a.capture & TAP_CLEAR) !== 0)
      tap.tap(x.a, kind | MEDIA_FLAG_CLEAR, x.buf, x.length, x.src, x.srcPort);
    this.latch();
    const b = x.b;
    const to = x.rtcp ? b.rtcpAddress : b.rtpAddress;
    const toPort = x.rtcp ? b.rtcpPort : b.rtpPort;
    if (tap !== null && (b.capture & TAP_CLEAR) !== 0)
      tap.tap(b, kind | MEDIA_FLAG_CLEAR | MEDIA_FLAG_OUTBOUND, x.buf, x.length, to, toPort);
    v = this.protect();
    if (v !== NEXT) return v;
    v = this.send();
    if (v === FORWARDED && tap !== null && (b.capture & TAP_WIRE) !== 0)
      tap.tap(b, kind | MEDIA_FLAG_OUTBOUND, x.buf, x.length, to, toPort);
    return v;
  }

  /** `slot` ≥ 0: `msg` is that engine slot, the datagram already in it (handleSlot). */
  private load(
    relay: Relay,
    legIndex: number,
    rtcp: boolean,
    msg: Buffer,
    length: number,
    slot: number,
    src: string,
    srcPort: number,
  ): void {
    const x = this.ctx;
    const legs = relay[STATE];
    x.a = legs[legIndex] as LegState;
    x.b = legs[1 - legIndex] as LegState;
    x.rtcp = rtcp;
    x.msg = msg;
    x.src = src;
    x.srcPort = srcPort;
    x.buf = msg;
    x.length = length;
    x.slot = slot;
  }

  /** An inside leg only hears its peer (see insideAccepts); nothing crosses a leg signaling has not set. */
  private demux(): number {
    const x = this.ctx;
    const { a, b } = x;
    if (a.inside && !insideAccepts(a, x.rtcp, x.src, x.srcPort)) {
      add(this.counters, a.base + UNEXPECTED_SOURCE_DROPS, 1);
      return DROP_UNEXPECTED_SOURCE;
    }
    if (a.mode === MODE_PENDING || b.mode === MODE_PENDING) {
      // Unconfigured, an outside leg would take SRTP it cannot authenticate yet as RTP.
      add(this.counters, a.base + OTHER_DROPS, 1);
      return DROP_NOT_CONFIGURED;
    }
    return NEXT;
  }

  private parse(): number {
    const x = this.ctx;
    if (x.rtcp ? isRtcp(x.msg, x.length) : isRtp(x.msg, x.length)) return NEXT;
    // A protected packet that does not even parse is an authentication failure (werift's rule).
    add(this.counters, x.a.base + (x.a.mode === MODE_SRTP ? AUTH_FAILURES : OTHER_DROPS), 1);
    return DROP_MALFORMED;
  }

  /** Into the next engine slot (the one copy) when either leg is SRTP; unprotect in place there. */
  private unprotect(): number {
    const x = this.ctx;
    const a = x.a;
    if (a.mode !== MODE_SRTP && x.b.mode !== MODE_SRTP) return NEXT;
    const engine = this.engine as PacketEngine;
    if (x.length > this.maxIn) {
      add(this.counters, a.base + OTHER_DROPS, 1);
      return DROP_OVERSIZE;
    }
    let slot = x.slot;
    if (slot < 0) {
      slot = this.cursor;
      this.cursor = slot + 1 === engine.slotCount ? 0 : slot + 1;
      x.slot = slot;
      x.buf = engine.slot(slot);
      x.buf.set(x.msg, 0);
    }
    if (a.mode !== MODE_SRTP) return NEXT;
    const n = x.rtcp
      ? engine.unprotectRtcp(a.rxHandle, slot, x.length)
      : engine.unprotectRtp(a.rxHandle, slot, x.length);
    if (n < 0) return this.unprotectFailed(a, n);
    x.length = n;
    if (!x.rtcp) a.ssrcIn = ssrcOf(x.buf);
    return NEXT;
  }

  private unprotectFailed(a: LegState, code: number): number {
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
   * Symmetric RTP: send back to where the phone's packets come from (its NAT mapping). Only
   * now, after authentication, may the remote phone's address move. An SRTP leg follows every
   * authenticated move; a plain RTP leg, which cannot tell a phone from an attacker, latches on
   * its first packet only. RTCP follows RTP (port + 1) until it is heard.
   */
  private latch(): void {
    const x = this.ctx;
    const a = x.a;
    this.counters[a.base + LAST_RX_MS] = this.now;
    // A latching inside leg takes the same steps; demux already let only acceptable sources in.
    if (a.inside && a.latch === LATCH_OFF) return;
    const address = x.src;
    const port = x.srcPort;
    if (x.rtcp) {
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
    if (this.onLatch !== null) this.onLatch(a, x.rtcp);
  }

  /** In place in the slot, with the tag room the slot keeps past the packet. */
  private protect(): number {
    const x = this.ctx;
    const b = x.b;
    if (b.mode !== MODE_SRTP) return NEXT;
    const engine = this.engine as PacketEngine;
    if (!x.rtcp) b.ssrcOut = ssrcOf(x.buf);
    const n = x.rtcp
      ? engine.protectRtcp(b.txHandle, x.slot, x.length)
      : engine.protectRtp(b.txHandle, x.slot, x.length);
    if (n < 0) {
      add(this.counters, b.base + OTHER_DROPS, 1);
      return DROP_PROTECT;
    }
    x.length = n;
    return NEXT;
  }

  /** From the buffer view with offset and length: no copy, no subarray. */
  private send(): number {
    const x = this.ctx;
    const b = x.b;
    const port = x.rtcp ? b.rtcpPort : b.rtpPort;
    if (port === 0) {
      add(this.counters, b.base + OTHER_DROPS, 1);
      return DROP_NO_DESTINATION;
    }
    if (x.rtcp) b.rtcpSender.send(x.buf, 0, x.length, port, b.rtcpAddress);
    else b.rtpSender.send(x.buf, 0, x.length, port, b.rtpAddress);
    add(this.counters, b.base + TX_PACKETS, 1);
    add(this.counters, b.base + TX_BYTES, x.length);
    return FORWARDED;
  }
}

/**
 * Whether an inside leg takes a packet from `src:port` (string compares only: nothing made).
 * Not latching: the signaled peer's address, any port (as before issue 13). Latching, once the
 * RTP or RTCP destination is latched: only that exact source; RTCP before it is heard: the
 * latched RTP host. Before latching: the signaled host (LATCH_HOST) or anyone (LATCH_ANY).
 */
export function insideAccepts(a: Leg, rtcp: boolean, src: string, port: number): boolean {
  if (a.latch === LATCH_OFF) return src === a.peerAddress;
  if (rtcp) {
    if (a.rtcpLatched) return port === a.rtcpPort && src === a.rtcpAddress;
    if (a.rtpLatched) return src === a.rtpAddress;
  } else if (a.rtpLatched) return port === a.rtpPort && src === a.rtpAddress;
  return a.latch === LATCH_ANY || src === a.peerAddress;
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
function isRtp(msg: Uint8Array, len: number): boolean {
  if (len < 12) return false;
  const b0 = msg[0] as number;
  return b0 >> 6 === 2 && len >= 12 + 4 * (b0 & 0x0f);
}

/** RFC 3550 §6.4: version 2, packet types 192-223 (SR 200, RR 201, SDES, BYE, APP, feedback). */
function isRtcp(msg: Uint8Array, len: number): boolean {
  if (len < 8) return false;
  const pt = msg[1] as number;
  return (msg[0] as number) >> 6 === 2 && pt >= 192 && pt <= 223;
}

/** counters[i] += v (a function so strict index checks stay quiet; V8 inlines it). */
function add(c: Float64Array, i: number, v: number): void {
  c[i] = (c[i] as number) + v;
}
