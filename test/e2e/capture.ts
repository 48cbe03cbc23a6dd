/**
 * Reads the test's loopback capture (tshark) into RTP packets per direction, and the checks the
 * E2E test makes on them: SRTP framing, tone in clear payloads.
 */
import { tsharkFields } from './peers';
import { toneShare } from './wav';

export interface UdpPacket {
  time: number;
  src: string;
  sport: number;
  dst: string;
  dport: number;
  payload: Buffer;
}

/** Every UDP datagram between `lo` and `hi` ports (either end) in the capture. */
export function udpPackets(pcap: string, lo: number, hi: number): UdpPacket[] {
  const rows = tsharkFields(
    pcap,
    `udp && ((udp.srcport >= ${lo} && udp.srcport <= ${hi}) || (udp.dstport >= ${lo} && udp.dstport <= ${hi}))`,
    ['frame.time_epoch', 'ip.src', 'udp.srcport', 'ip.dst', 'udp.dstport', 'udp.payload'],
  );
  return rows.map(([time, src, sport, dst, dport, payload]) => ({
    time: Number(time),
    src: src as string,
    sport: Number(sport),
    dst: dst as string,
    dport: Number(dport),
    payload: Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
  }));
}

/** RTP version 2, payload type 0 (PCMU): media, not RTCP. */
export const isPcmu = (p: Buffer) => p.length > 12 && (p[0] as number) >> 6 === 2 && ((p[1] as number) & 0x7f) === 0;
export const ssrcOf = (p: Buffer) => p.readUInt32BE(8);
export const seqOf = (p: Buffer) => p.readUInt16BE(2);

/** G.711 μ-law expansion, to look for a tone in what travels on the wire. */
export function mulawDecode(b: Buffer): Int16Array {
  const out = new Int16Array(b.length);
  for (let i = 0; i < b.length; i++) {
    const u = ~(b[i] as number) & 0xff;
    const t = (((u & 0x0f) << 3) + 0x84) << ((u & 0x70) >> 4);
    out[i] = u & 0x80 ? 0x84 - t : t - 0x84;
  }
  return out;
}

/** True when the 160 payload bytes after the RTP header, read as PCMU, are dominated by `hz`. */
export function carriesTone(rtp: Buffer, hz: number): boolean {
  return toneShare(mulawDecode(rtp.subarray(12, 172)), 0, 160, 8000, hz) > 0.5;
}
