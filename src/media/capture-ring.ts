/**
 * A worker's capture buffer (issue 15): the packet path's taps copy tapped packets into it as
 * MEDIA_RECORD records (src/contracts/capture.ts); the worker's timer takes what filled up and
 * posts it to the main thread, where the capture service writes the pcap. The buffer is made on
 * the first capture and kept; a packet that does not fit is counted as dropped, never waited for.
 */
import { MEDIA_FLAG_OUTBOUND, MEDIA_FLAG_RTCP, MEDIA_RECORD, MEDIA_RECORD_ALIGN } from '../contracts/capture';
import { ipv4Value } from './ipv4-value';
import type { Leg, PacketTap } from './relay';

/**
 * 1 MiB: at the 100 ms flush, room for ~5,000 G.711 packets (~200 bytes each with the header),
 * i.e. 500 calls' worth of one phone's both directions at 50 pps, more than one phone makes.
 */
export const CAPTURE_RING_BYTES = 1 << 20;
/** Bytes kept of one packet: a whole RTP datagram of any codec a phone uses fits. */
export const CAPTURE_SNAP_BYTES = 2048;

interface Watched {
  leg: number;
  /** The leg's own address and RTP port (the appliance's end of the 5-tuple). */
  local: number;
  rtpPort: number;
}

export class CaptureRing implements PacketTap {
  private buf: Buffer | null = null;
  private view: DataView | null = null;
  private used = 0;
  private dropped = 0;
  private readonly watched = new Map<Leg, Watched>();

  constructor(
    private readonly bytes = CAPTURE_RING_BYTES,
    private readonly snap = CAPTURE_SNAP_BYTES,
  ) {}

  /** Legs watched now; with none and nothing buffered the worker's flush timer can stop. */
  get watching(): number {
    return this.watched.size;
  }

  watch(leg: Leg, index: number, localAddress: string, rtpPort: number): void {
    if (!this.buf) {
      this.buf = Buffer.alloc(this.bytes);
      this.view = new DataView(this.buf.buffer, this.buf.byteOffset, this.buf.byteLength);
    }
    this.watched.set(leg, { leg: index, local: ipv4Value(localAddress), rtpPort });
  }

  unwatch(leg: Leg): void {
    this.watched.delete(leg);
  }

  tap(leg: Leg, flags: number, packet: Uint8Array, length: number, remoteAddress: string, remotePort: number): void {
    const w = this.watched.get(leg);
    const buf = this.buf;
    const v = this.view;
    if (w === undefined || buf === null || v === null) return;
    const keep = Math.min(length, this.snap);
    const size = alignUp(MEDIA_RECORD.header + keep);
    const at = this.used;
    if (at + size > this.bytes) {
      this.dropped++;
      return;
    }
    const R = MEDIA_RECORD;
    const remote = ipv4Value(remoteAddress);
    const ownPort = (flags & MEDIA_FLAG_RTCP) !== 0 ? w.rtpPort + 1 : w.rtpPort;
    const outbound = (flags & MEDIA_FLAG_OUTBOUND) !== 0;
    v.setUint16(at + R.length, keep, true);
    v.setUint8(at + R.flags, flags);
    v.setUint8(at + R.leg, w.leg);
    v.setUint32(at + R.origLength, length, true);
    v.setFloat64(at + R.time, performance.timeOrigin + performance.now(), true);
    v.setUint32(at + R.src, outbound ? w.local : remote, true);
    v.setUint16(at + R.srcPort, outbound ? ownPort : remotePort, true);
    v.setUint16(at + R.dstPort, outbound ? remotePort : ownPort, true);
    v.setUint32(at + R.dst, outbound ? remote : w.local, true);
    v.setUint32(at + R.dst + 4, 0, true);
    // Buffer#copy takes any Uint8Array as its source: one copy, no view made.
    Buffer.prototype.copy.call(packet, buf, at + R.header, 0, keep);
    this.used = at + size;
  }

  /** What filled up since the last call (a copy the caller may transfer), and the drops; null if nothing. */
  take(): { records: Uint8Array; dropped: number } | null {
    if (this.used === 0 && this.dropped === 0) return null;
    const records = new Uint8Array(this.used);
    if (this.buf) records.set(this.buf.subarray(0, this.used));
    const dropped = this.dropped;
    this.used = 0;
    this.dropped = 0;
    return { records, dropped };
  }
}

function alignUp(n: number): number {
  return (n + MEDIA_RECORD_ALIGN - 1) & ~(MEDIA_RECORD_ALIGN - 1);
}
