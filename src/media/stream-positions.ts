/**
 * Worker side of media replication (issue 14): every `everyMs` (200 ms by default, a timer in
 * the worker, never the packet path) read each SRTP leg's full stream states out of the engine
 * and report the legs that moved, in one message per tick; and install another node's states
 * into a leg taken over. The packet path is untouched: libsrtp keeps the state anyway, this
 * only reads it.
 */
import type { SrtpStreamState } from '../../wasm/stream-state';
import type { PacketEngine } from './engine';
import type { LegPositions } from './messages';
import { type Leg, MODE_SRTP, type Relay } from './relay';

export interface TrackedSession {
  id: string;
  relay: Relay;
}

/** A cheap fingerprint of where a leg's streams stand: changes when any index moves. */
function mark(states: SrtpStreamState[]): number {
  let m = states.length;
  for (const s of states) m = (m * 31 + s.roc * 65536 + s.seq + s.rtcpIndex * 7 + s.ssrc) % 0x7fffffff;
  return m;
}

export class StreamPositions {
  private timer: NodeJS.Timeout | undefined;
  private readonly last = new WeakMap<Leg, number>();

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

  /** One tick: the legs whose streams moved (all of them on the first tick). */
  report(): void {
    const e = this.engine();
    if (!e?.exportStreams) return;
    const out: LegPositions[] = [];
    for (const s of this.sessions()) {
      s.relay.legs.forEach((leg, index) => {
        if (leg.mode !== MODE_SRTP) return;
        const streams = [
          ...(leg.rxHandle >= 0 ? (e.exportStreams?.(leg.rxHandle) ?? []) : []),
          ...(leg.txHandle >= 0 ? (e.exportStreams?.(leg.txHandle) ?? []) : []),
        ];
        const m = mark(streams);
        if (this.last.get(leg) === m) return;
        this.last.set(leg, m);
        out.push({ id: s.id, leg: index as 0 | 1, streams });
      });
    }
    if (out.length > 0) this.post(out);
  }

  /**
   * Continue a leg's streams from another node's states: receive states into the leg's inbound
   * session, send states into its outbound one (the caller has already moved senders on by
   * their reserve, wasm/stream-state.ts reserveSent). Throws naming the stream that failed.
   */
  adopt(s: TrackedSession, index: 0 | 1, streams: SrtpStreamState[]): void {
    const e = this.engine();
    const leg = s.relay.legs[index];
    if (!e?.importStream || leg.mode !== MODE_SRTP) throw new Error(`leg ${index} of ${s.id} is not SRTP`);
    let ssrcIn: number | undefined;
    let ssrcOut: number | undefined;
    for (const st of streams) {
      const h = st.direction === 'receive' ? leg.rxHandle : leg.txHandle;
      const rc = e.importStream(h, st);
      if (rc < 0) throw new Error(`leg ${index} of ${s.id}: SSRC ${st.ssrc} ${st.direction} stream refused (${rc})`);
      if (st.direction === 'receive') ssrcIn = st.ssrc;
      else ssrcOut = st.ssrc;
    }
    s.relay.restoreStreams(index, ssrcIn, ssrcOut);
  }
}
