/** Packet builders shared by the wasm tests (not a test file). */
import { SRTP_PROFILES, type SrtpEngine, type SrtpProfile } from '../../wasm/srtp';

export const PROFILES = Object.keys(SRTP_PROFILES) as SrtpProfile[];

export function masterKey(profile: SrtpProfile, seed: number): Buffer {
  const p = SRTP_PROFILES[profile];
  const k = Buffer.alloc(p.keyLength + p.saltLength);
  for (let i = 0; i < k.length; i++) k[i] = (seed * 31 + i * 7 + 1) & 0xff;
  return k;
}

export interface RtpOptions {
  payloadLength?: number;
  pt?: number;
  csrcs?: number[];
  /** header extension words (RFC 3550 5.3.1), profile 0xBEDE */
  extensionWords?: number;
  fill?: number;
}

/** RTP packet: V=2, given seq and SSRC, deterministic payload. */
export function rtpPacket(seq: number, ssrc: number, o: RtpOptions = {}): Buffer {
  const csrcs = o.csrcs ?? [];
  const extWords = o.extensionWords ?? 0;
  const payloadLength = o.payloadLength ?? 160;
  const hlen = 12 + 4 * csrcs.length + (extWords > 0 ? 4 + 4 * extWords : 0);
  const b = Buffer.alloc(hlen + payloadLength);
  b[0] = 0x80 | (extWords > 0 ? 0x10 : 0) | csrcs.length;
  b[1] = o.pt ?? 0;
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  let off = 12;
  for (const c of csrcs) {
    b.writeUInt32BE(c >>> 0, off);
    off += 4;
  }
  if (extWords > 0) {
    b.writeUInt16BE(0xbede, off);
    b.writeUInt16BE(extWords, off + 2);
    off += 4;
    for (let i = 0; i < extWords * 4; i++) b[off++] = 0x10 + i;
  }
  for (let i = 0; i < payloadLength; i++) b[off + i] = (o.fill ?? seq + i * 13) & 0xff;
  return b;
}

/** RTCP receiver report (PT 201) with `blocks` report blocks, or a sender report. */
export function rtcpPacket(ssrc: number, blocks = 1, sender = false): Buffer {
  const body = (sender ? 20 : 0) + 24 * blocks;
  const b = Buffer.alloc(8 + body);
  b[0] = 0x80 | blocks;
  b[1] = sender ? 200 : 201;
  b.writeUInt16BE((8 + body) / 4 - 1, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  for (let i = 8; i < b.length; i++) b[i] = (i * 11 + ssrc) & 0xff;
  return b;
}

/** Copy `pkt` into slot `i`, run `op`, return a copy of the slot's first n bytes or the code. */
export function inSlot(
  engine: SrtpEngine,
  i: number,
  pkt: Uint8Array,
  op: (slot: number, len: number) => number,
): Buffer | number {
  engine.slot(i).set(pkt);
  const n = op(i, pkt.length);
  return n < 0 ? n : Buffer.from(engine.slot(i).subarray(0, n));
}

export function expectBuffer(x: Buffer | number): Buffer {
  if (typeof x === 'number') throw new Error(`expected a packet, got code ${x}`);
  return x;
}
