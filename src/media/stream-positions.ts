/**
 * Worker side of media replication (issue 14): every `everyMs` (200 ms by default, a timer in
 * the worker, never the packet path) read each SRTP leg's full stream states out of the engine
 * and report the legs that moved far enough to matter (REPORT_*: a new stream, a ROC change,
 * 2^12 packets, 64 SRTCP packets), in one message per tick; and install another node's states
 * into a leg taken over.
 *
 * Why so coarse a report is enough: a standby needs the ROC right (libsrtp guesses it within
 * ±2^15 packets of what it knows) and must never encrypt under an index the dead node already
 * used. The relay keeps each packet's sequence number, so a sender's index is the peer's: the
 * first packet the standby relays after a takeover tells exactly where the peer is, and every
 * index below it may have been used by the dead node. So a sender taken over is held at its
 * snapshot until that first packet, then moved to just below it with its whole window marked
 * used (`first`): a replayed or injected packet from before the takeover is refused, none of the
 * peer's new ones is. The SRTCP index the sender counts itself: it is moved on by a reserve at
 * the import (wasm/stream-state.ts reserveSent).
 */
import type { SrtpStreamState } from '../../wasm/stream-state';
import type { PacketEngine } from './engine';
import type { LegPositions } from './messages';
import { type Leg, MODE_SRTP, type Relay } from './relay';

export interface TrackedSession {
  id: string;
  relay: Relay;
  /** A taken-over sender waits for its first packet (see `first`); false on every other session. */
  awaiting?: boolean;
}

const REPORT_PACKETS = 1 << 12;
const REPORT_RTCP = 64;
/** A taken-over sender that got no packet in this many on its session gives up waiting. */
const AWAIT_PACKETS = 256;
const ALL = 0xffffffff;

function index(s: SrtpStreamState): number {
  return s.roc * 65536 + s.seq;
}

/** Whether `now` differs enough from what was last reported to report it. */
function movedEnough(last: SrtpStreamState[] | undefined, now: SrtpStreamState[]): boolean {
  if (!last || last.length !== now.length) return true;
  return now.some((n, i) => {
    const l = last[i] as SrtpStreamState;
    return (
      l.ssrc !== n.ssrc ||
      l.direction !== n.direction ||
      l.roc !== n.roc ||
      Math.abs(index(n) - index(l)) >= REPORT_PACKETS ||
      Math.abs(n.rtcpIndex - l.rtcpIndex) >= REPORT_RTCP
    );
  });
}

/** The packet index nearest `near` whose low 16 bits are `seq` (RFC 3711 §3.3.1). */
export function nearestIndex(near: number, seq: number): number {
  const v = near - (near % 65536) + seq;
  const best = [v - 65536, v, v + 65536].reduce((a, b) => (Math.abs(b - near) < Math.abs(a - near) ? b : a));
  return Math.max(0, best);
}

interface Held {
  /** The leg the sender sends out of, and its state as imported. */
  leg: 0 | 1;
  state: SrtpStreamState;
}

export class StreamPositions {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new WeakMap<Leg, SrtpStreamState[]>();
  /** Taken-over senders waiting for their first packet, by session, then `${leg}:${ssrc}`. */
  private readonly held = new WeakMap<TrackedSession, { left: number; senders: Map<string, Held> }>();

  constructor(
    private readonly engine: () => PacketEngine | undefined,
    private readonly sessions: () => Iterable<TrackedSession>,
    private readonly post: (legs: LegPositions[]) => void,
  ) {}

  /** Start (or re-time, or with 0 stop) the periodic report. */
  track(everyMs: number): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (everyMs > 0) {
      this.timer = setInterval(() => this.report(), Math.max(20, everyMs));
      this.timer.unref();
    }
  }

  /** One tick: the legs whose streams moved enough since they were last reported. */
  report(): void {
    const e = this.engine();
    if (!e?.exportStreams) return;
    const out: LegPositions[] = [];
    for (const s of this.sessions()) {
      s.relay.legs.forEach((leg, i) => {
        if (leg.mode !== MODE_SRTP) return;
        const streams = [
          ...(leg.rxHandle >= 0 ? (e.exportStreams?.(leg.rxHandle) ?? []) : []),
          ...(leg.txHandle >= 0 ? (e.exportStreams?.(leg.txHandle) ?? []) : []),
        ];
        if (!movedEnough(this.last.get(leg), streams)) return;
        this.last.set(leg, streams);
        out.push({ id: s.id, leg: i as 0 | 1, streams });
      });
    }
    if (out.length > 0) this.post(out);
  }

  /**
   * Continue a leg's streams from another node's states: receive states into the leg's inbound
   * session, send states into its outbound one, where they wait for their first packet.
   * Throws naming the stream that failed.
   */
  adopt(s: TrackedSession, leg: 0 | 1, streams: SrtpStreamState[]): void {
    const e = this.engine();
    const l = s.relay.legs[leg];
    if (!e?.importStream || l.mode !== MODE_SRTP) throw new Error(`leg ${leg} of ${s.id} is not SRTP`);
    let ssrcIn: number | undefined;
    let ssrcOut: number | undefined;
    for (const st of streams) {
      const h = st.direction === 'receive' ? l.rxHandle : l.txHandle;
      const rc = e.importStream(h, st);
      if (rc < 0) throw new Error(`leg ${leg} of ${s.id}: SSRC ${st.ssrc} ${st.direction} stream refused (${rc})`);
      if (st.direction === 'receive') ssrcIn = st.ssrc;
      else {
        ssrcOut = st.ssrc;
        const h2 = this.held.get(s) ?? { left: AWAIT_PACKETS, senders: new Map<string, Held>() };
        h2.senders.set(`${leg}:${st.ssrc}`, { leg, state: st });
        this.held.set(s, h2);
        s.awaiting = true;
      }
    }
    this.last.set(l, streams);
    s.relay.restoreStreams(leg, ssrcIn, ssrcOut);
  }

  /**
   * A packet arrived on leg `from` of a session with senders waiting (only then: the caller
   * checks `awaiting`). An RTP packet going out of the other leg with a held SSRC fixes that
   * sender: every index below this packet's is marked used.
   */
  /** `length`: bytes of `msg` that are the packet (a batched slot is longer). */
  first(s: TrackedSession, from: number, rtcp: boolean, msg: Buffer, length = msg.length): void {
    const h = this.held.get(s);
    if (!h || --h.left <= 0 || h.senders.size === 0) {
      s.awaiting = false;
      return;
    }
    if (rtcp || length < 12) return;
    const out = (1 - from) as 0 | 1;
    const key = `${out}:${msg.readUInt32BE(8)}`;
    const held = h.senders.get(key);
    if (!held) return;
    const at = index(held.state);
    const next = nearestIndex(at, msg.readUInt16BE(2));
    // Older than the snapshot (a replay, or reordering): keep waiting for a packet from now.
    if (next - 1 <= at) return;
    h.senders.delete(key);
    if (h.senders.size === 0) s.awaiting = false;
    const e = this.engine();
    const leg = s.relay.legs[out];
    if (!e?.importStream || leg.txHandle < 0) return;
    const used = next - 1;
    e.importStream(leg.txHandle, {
      ...held.state,
      roc: Math.floor(used / 65536),
      seq: used % 65536,
      rtpWindow: [ALL, ALL, ALL, ALL],
      // The engine's current SRTCP index: it may have sent SRTCP since the import.
      rtcpIndex:
        e.exportStreams?.(leg.txHandle).find((x) => x.ssrc === held.state.ssrc)?.rtcpIndex ?? held.state.rtcpIndex,
    });
  }
}
