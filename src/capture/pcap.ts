/**
 * The classic libpcap file format (what `tcpdump -w` writes and tshark reads), pure: bytes out,
 * no files, no clock. Link type LINKTYPE_RAW (101): every record is an IPv4 packet without a
 * link-layer header, which is all a capture taken above the sockets can honestly show.
 *
 * Signaling is captured after TLS termination, as a byte stream without IP headers: it is
 * written as TCP segments of the real 5-tuple, with sequence numbers that advance by the bytes
 * each side sent (TcpSequences), so tshark reassembles and dissects SIP and SCCP as it would on
 * the wire. Media datagrams are written as UDP with the real 5-tuple.
 *
 *   pcap global header (24 bytes, little-endian):  magic a1b2c3d4 · 2.4 · tz 0 · sigfigs 0 · snaplen · linktype
 *   record header (16 bytes): ts_sec · ts_usec · incl_len · orig_len, then incl_len bytes
 */

export const LINKTYPE_RAW = 101;
export const GLOBAL_HEADER_BYTES = 24;
export const RECORD_HEADER_BYTES = 16;
const IPV4_HEADER_BYTES = 20;
const UDP_HEADER_BYTES = 8;
const TCP_HEADER_BYTES = 20;
/** Largest TCP payload per synthesized segment (an IPv4 total length is 16 bits). */
export const MAX_TCP_SEGMENT = 65_535 - IPV4_HEADER_BYTES - TCP_HEADER_BYTES;
/** The snap length the global header announces: a whole IPv4 packet. */
export const SNAPLEN = 65_535;

export function globalHeader(linktype = LINKTYPE_RAW): Buffer {
  const b = Buffer.alloc(GLOBAL_HEADER_BYTES);
  b.writeUInt32LE(0xa1b2c3d4, 0);
  b.writeUInt16LE(2, 4);
  b.writeUInt16LE(4, 6);
  b.writeUInt32LE(SNAPLEN, 16);
  b.writeUInt32LE(linktype, 20);
  return b;
}

/** One record: header and packet bytes. `origLength` > packet length marks a truncated packet. */
export function record(timeMs: number, packet: Buffer, origLength = packet.length): Buffer {
  const h = Buffer.alloc(RECORD_HEADER_BYTES);
  const sec = Math.floor(timeMs / 1000);
  h.writeUInt32LE(sec >>> 0, 0);
  h.writeUInt32LE(Math.min(999_999, Math.round((timeMs - sec * 1000) * 1000)), 4);
  h.writeUInt32LE(packet.length, 8);
  h.writeUInt32LE(origLength, 12);
  return Buffer.concat([h, packet]);
}

/** Dotted IPv4 to its 32-bit value; throws on anything else (capture addresses come from sockets). */
export function ipv4ToNumber(address: string): number {
  const parts = address.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${address}`);
  let n = 0;
  for (const p of parts) {
    const v = Number(p);
    if (!/^\d{1,3}$/.test(p) || v > 255) throw new Error(`not an IPv4 address: ${address}`);
    n = n * 256 + v;
  }
  return n >>> 0;
}

export function numberToIpv4(n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

export interface Flow {
  src: number;
  srcPort: number;
  dst: number;
  dstPort: number;
}

/** RFC 1071 one's-complement sum over `b`, folded into `sum`. */
function sum16(b: Buffer, sum = 0): number {
  let s = sum;
  for (let i = 0; i + 1 < b.length; i += 2) s += b.readUInt16BE(i);
  if (b.length % 2) s += (b[b.length - 1] as number) << 8;
  return s;
}

function fold(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/** RFC 791 header, no options, DF set (nothing here is ever fragmented). */
function ipv4Header(f: Flow, protocol: number, totalLength: number, id: number): Buffer {
  const h = Buffer.alloc(IPV4_HEADER_BYTES);
  h[0] = 0x45;
  h.writeUInt16BE(totalLength, 2);
  h.writeUInt16BE(id & 0xffff, 4);
  h.writeUInt16BE(0x4000, 6);
  h[8] = 64;
  h[9] = protocol;
  h.writeUInt32BE(f.src, 12);
  h.writeUInt32BE(f.dst, 16);
  h.writeUInt16BE(fold(sum16(h)), 10);
  return h;
}

/** The TCP/UDP pseudo-header sum (RFC 793 §3.1, RFC 768). */
function pseudoSum(f: Flow, protocol: number, length: number): number {
  return (f.src >>> 16) + (f.src & 0xffff) + (f.dst >>> 16) + (f.dst & 0xffff) + protocol + length;
}

/** An IPv4/UDP packet (RFC 768) carrying `payload`, checksums computed. */
export function udpPacket(f: Flow, payload: Buffer, id = 0): Buffer {
  const udp = Buffer.alloc(UDP_HEADER_BYTES);
  const length = UDP_HEADER_BYTES + payload.length;
  udp.writeUInt16BE(f.srcPort, 0);
  udp.writeUInt16BE(f.dstPort, 2);
  udp.writeUInt16BE(length, 4);
  const c = fold(sum16(payload, sum16(udp, pseudoSum(f, 17, length))));
  udp.writeUInt16BE(c === 0 ? 0xffff : c, 6);
  return Buffer.concat([ipv4Header(f, 17, IPV4_HEADER_BYTES + length, id), udp, payload]);
}

export const TCP_ACK = 0x10;
export const TCP_PSH = 0x08;

/** An IPv4/TCP segment (RFC 793) with the given sequence and acknowledgement numbers. */
export function tcpPacket(
  f: Flow,
  seq: number,
  ack: number,
  payload: Buffer,
  id = 0,
  flags = TCP_ACK | TCP_PSH,
): Buffer {
  if (payload.length > MAX_TCP_SEGMENT) throw new Error(`TCP segment of ${payload.length} bytes is too long`);
  const tcp = Buffer.alloc(TCP_HEADER_BYTES);
  tcp.writeUInt16BE(f.srcPort, 0);
  tcp.writeUInt16BE(f.dstPort, 2);
  tcp.writeUInt32BE(seq >>> 0, 4);
  tcp.writeUInt32BE(ack >>> 0, 8);
  tcp[12] = (TCP_HEADER_BYTES / 4) << 4;
  tcp[13] = flags;
  tcp.writeUInt16BE(65_535, 14);
  const length = TCP_HEADER_BYTES + payload.length;
  tcp.writeUInt16BE(fold(sum16(payload, sum16(tcp, pseudoSum(f, 6, length)))), 16);
  return Buffer.concat([ipv4Header(f, 6, IPV4_HEADER_BYTES + length, id), tcp, payload]);
}

/**
 * The sequence numbers of one captured TCP connection: each direction starts at an arbitrary
 * initial number and advances by the bytes it carried; every segment acknowledges all the other
 * side has sent, so tshark sees one clean, gap-free stream each way.
 */
export class TcpSequences {
  private next: [number, number];

  /** Side 0 is the connection's client (the phone, or the appliance toward UCM). */
  constructor(isn0 = 1_000, isn1 = 500_000) {
    this.next = [isn0, isn1];
  }

  /** The segments (one per MAX_TCP_SEGMENT bytes) carrying `data` from `side`. */
  segments(side: 0 | 1, clientToServer: Flow, data: Buffer, id = 0): Buffer[] {
    const f: Flow =
      side === 0
        ? clientToServer
        : {
            src: clientToServer.dst,
            srcPort: clientToServer.dstPort,
            dst: clientToServer.src,
            dstPort: clientToServer.srcPort,
          };
    const out: Buffer[] = [];
    for (let at = 0; at < data.length; at += MAX_TCP_SEGMENT) {
      const part = data.subarray(at, Math.min(data.length, at + MAX_TCP_SEGMENT));
      out.push(tcpPacket(f, this.next[side], this.next[1 - side] as number, part, id + out.length));
      this.next[side] = ((this.next[side] as number) + part.length) >>> 0;
    }
    return out;
  }
}
