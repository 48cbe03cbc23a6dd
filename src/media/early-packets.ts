/**
 * Early packets: a callee starts sending as it answers, so its first packets can arrive before
 * the answer that carries their key (SRTP from a remote phone) or names their source (RTP from
 * an inside peer). Dropping them loses ~50 ms of speech at every call start (rtpengine does);
 * we hold them, bounded in count and age, and run them through the packet path once signaling
 * has configured the legs.
 *
 * Allocation-free on the packet path: one ring of fixed-size entries made at start; holding is
 * one copy into the next entry. Replay runs on a control message and may allocate.
 */

/**
 * What holding needs of a relay (relay.ts implements it): a per-leg count of held packets that
 * the relay itself keeps, so the quota travels with the leg.
 */
export interface HoldingRelay {
  heldOn(legIndex: number): number;
  noteHeld(legIndex: number, delta: 1 | -1): void;
}

export class EarlyPackets {
  private readonly views: Buffer[] = [];
  private readonly lengths: Int32Array;
  private readonly ports: Int32Array;
  private readonly times: Float64Array;
  /** Per entry: leg index + 2 * rtcp; -1 = free. */
  private readonly kinds: Int8Array;
  private readonly relays: (HoldingRelay | null)[];
  private readonly sources: string[];
  private tail = 0;

  constructor(
    readonly capacity = 256,
    readonly entrySize = 1500,
    /** 16 packets = 320 ms of 20 ms audio per leg, plenty for an answer to cross the proxy. */
    readonly maxPerLeg = 16,
    readonly maxAgeMs = 1000,
  ) {
    const data = Buffer.alloc(capacity * entrySize);
    for (let i = 0; i < capacity; i++) this.views.push(data.subarray(i * entrySize, (i + 1) * entrySize));
    this.lengths = new Int32Array(capacity);
    this.ports = new Int32Array(capacity);
    this.times = new Float64Array(capacity);
    this.kinds = new Int8Array(capacity).fill(-1);
    this.relays = new Array<HoldingRelay | null>(capacity).fill(null);
    this.sources = new Array<string>(capacity).fill('');
  }

  /** Keeps a copy of the packet; false when it cannot (too big, leg over quota, ring full of live entries). */
  hold(
    relay: HoldingRelay,
    legIndex: number,
    rtcp: boolean,
    msg: Buffer,
    src: string,
    port: number,
    now: number,
    /** Bytes of `msg` that are the packet (a slot of the batched socket path is longer). */
    length = msg.length,
  ): boolean {
    if (length > this.entrySize || relay.heldOn(legIndex) >= this.maxPerLeg) return false;
    const i = this.tail;
    if (this.kinds[i] !== -1) {
      // The oldest entry is in the way: reclaim it only if it has expired anyway.
      if (now - (this.times[i] as number) <= this.maxAgeMs) return false;
      this.free(i);
    }
    const view = this.views[i] as Buffer;
    if (length === msg.length) view.set(msg, 0);
    else msg.copy(view, 0, 0, length);
    this.lengths[i] = length;
    this.ports[i] = port;
    this.times[i] = now;
    this.kinds[i] = legIndex + (rtcp ? 2 : 0);
    this.relays[i] = relay;
    this.sources[i] = src;
    relay.noteHeld(legIndex, 1);
    this.tail = i + 1 === this.capacity ? 0 : i + 1;
    return true;
  }

  /**
   * Hands the relay's held packets, oldest first, to `deliver` once `ready` says their leg can
   * take them; expired ones are dropped and reported through `expired`. Others stay held.
   */
  replay(
    relay: HoldingRelay,
    now: number,
    ready: (legIndex: number, src: string) => boolean,
    deliver: (legIndex: number, rtcp: boolean, msg: Buffer, src: string, port: number) => void,
    expired: (legIndex: number) => void,
  ): void {
    for (let n = 0, i = this.tail; n < this.capacity; n++, i = i + 1 === this.capacity ? 0 : i + 1) {
      if (this.relays[i] !== relay) continue;
      const kind = this.kinds[i] as number;
      const legIndex = kind & 1;
      const src = this.sources[i] as string;
      if (now - (this.times[i] as number) > this.maxAgeMs) {
        this.free(i);
        expired(legIndex);
        continue;
      }
      if (!ready(legIndex, src)) continue;
      const msg = (this.views[i] as Buffer).subarray(0, this.lengths[i]);
      const port = this.ports[i] as number;
      this.free(i);
      deliver(legIndex, kind >= 2, msg, src, port);
    }
  }

  /** Forgets everything held for a relay (session destroyed). */
  forget(relay: HoldingRelay): void {
    for (let i = 0; i < this.capacity; i++) if (this.relays[i] === relay) this.free(i);
  }

  private free(i: number): void {
    this.relays[i]?.noteHeld((this.kinds[i] as number) & 1, -1);
    this.kinds[i] = -1;
    this.relays[i] = null;
    this.sources[i] = '';
  }
}
