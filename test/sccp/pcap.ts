/**
 * Minimal pcap (libpcap classic format, Ethernet/IPv4/TCP) writer and reader for the tshark
 * checks: each SCCP message becomes one TCP segment of a phone ⇄ UCM:2000 connection with
 * consistent sequence numbers, so Wireshark's skinny dissector decodes it as it would live traffic.
 */
import { readFileSync } from 'node:fs';

export interface Segment {
  /** true: phone → UCM (to port 2000); false: UCM → phone. */
  toUcm: boolean;
  payload: Buffer;
}

export interface Endpoints {
  phone: { ip: string; port: number };
  ucm: { ip: string; port: number };
}

const ip4 = (s: string) => Buffer.from(s.split('.').map(Number));

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += (buf[buf.length - 1] as number) << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return ~sum & 0xffff;
}

export function writePcap(segments: Segment[], ep: Endpoints): Buffer {
  const global = Buffer.alloc(24);
  global.writeUInt32LE(0xa1b2c3d4, 0);
  global.writeUInt16LE(2, 4);
  global.writeUInt16LE(4, 6);
  global.writeUInt32LE(65535, 16);
  global.writeUInt32LE(1, 20); // LINKTYPE_ETHERNET
  const parts = [global];
  const seq = { toUcm: 1000, toPhone: 5000 };
  segments.forEach((seg, i) => {
    const [src, dst] = seg.toUcm ? [ep.phone, ep.ucm] : [ep.ucm, ep.phone];
    const tcp = Buffer.alloc(20);
    tcp.writeUInt16BE(src.port, 0);
    tcp.writeUInt16BE(dst.port, 2);
    tcp.writeUInt32BE(seg.toUcm ? seq.toUcm : seq.toPhone, 4);
    tcp.writeUInt32BE(seg.toUcm ? seq.toPhone : seq.toUcm, 8);
    tcp.writeUInt8(5 << 4, 12);
    tcp.writeUInt8(0x18, 13); // PSH, ACK
    tcp.writeUInt16BE(65535, 14);
    const pseudo = Buffer.concat([ip4(src.ip), ip4(dst.ip), Buffer.from([0, 6]), Buffer.alloc(2)]);
    pseudo.writeUInt16BE(20 + seg.payload.length, 10);
    tcp.writeUInt16BE(checksum(Buffer.concat([pseudo, tcp, seg.payload])), 16);
    if (seg.toUcm) seq.toUcm += seg.payload.length;
    else seq.toPhone += seg.payload.length;
    const ip = Buffer.alloc(20);
    ip.writeUInt8(0x45, 0);
    ip.writeUInt16BE(20 + 20 + seg.payload.length, 2);
    ip.writeUInt16BE(i + 1, 4);
    ip.writeUInt8(64, 8);
    ip.writeUInt8(6, 9);
    ip4(src.ip).copy(ip, 12);
    ip4(dst.ip).copy(ip, 16);
    ip.writeUInt16BE(checksum(ip), 10);
    const eth = Buffer.from(`0011223344556677889900aa0800`, 'hex');
    const frame = Buffer.concat([eth, ip, tcp, seg.payload]);
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1700000000 + i, 0);
    rec.writeUInt32LE(frame.length, 8);
    rec.writeUInt32LE(frame.length, 12);
    parts.push(rec, frame);
  });
  return Buffer.concat(parts);
}

/** TCP payloads of an Ethernet/IPv4 pcap, in order, with their destination port. */
export function readTcpPayloads(file: string): { dstPort: number; payload: Buffer }[] {
  const buf = readFileSync(file);
  if (buf.readUInt32LE(0) !== 0xa1b2c3d4) throw new Error(`${file}: not a little-endian microsecond pcap`);
  if (buf.readUInt32LE(20) !== 1) throw new Error(`${file}: not Ethernet`);
  const out: { dstPort: number; payload: Buffer }[] = [];
  for (let at = 24; at + 16 <= buf.length; ) {
    const caplen = buf.readUInt32LE(at + 8);
    const frame = buf.subarray(at + 16, at + 16 + caplen);
    at += 16 + caplen;
    if (frame.readUInt16BE(12) !== 0x0800) continue;
    const ip = frame.subarray(14);
    if (ip[9] !== 6) continue;
    const ihl = ((ip[0] as number) & 0x0f) * 4;
    const total = ip.readUInt16BE(2);
    const tcp = ip.subarray(ihl, total);
    const off = ((tcp[12] as number) >> 4) * 4;
    out.push({ dstPort: tcp.readUInt16BE(2), payload: Buffer.from(tcp.subarray(off)) });
  }
  return out;
}
