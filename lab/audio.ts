/**
 * The lab's audio: a G.711 µ-law tone cut into 20 ms RTP packets (RFC 3551: PCMU, payload
 * type 0, 8 kHz, 160 samples per packet), and the check that what one phone received is
 * byte for byte what the other one sent. Pure: no sockets, no clock.
 */

export const SAMPLE_RATE = 8000;
export const PACKET_MS = 20;
export const SAMPLES_PER_PACKET = (SAMPLE_RATE * PACKET_MS) / 1000;
export const RTP_HEADER_BYTES = 12;
export const PCMU = 0;

const ULAW_BIAS = 0x84;
const ULAW_CLIP = 32635;

/** ITU-T G.711 µ-law encoding of one 16-bit linear sample. */
export function linearToUlaw(sample: number): number {
  let s = Math.max(-32768, Math.min(32767, Math.round(sample)));
  const sign = s < 0 ? 0x80 : 0;
  if (sign) s = -s;
  if (s > ULAW_CLIP) s = ULAW_CLIP;
  s += ULAW_BIAS;
  let exponent = 7;
  for (let mask = 0x4000; (s & mask) === 0 && exponent > 0; mask >>= 1) exponent--;
  const mantissa = (s >> (exponent + 3)) & 0x0f;
  return ~(sign | (exponent << 4) | mantissa) & 0xff;
}

/** Packet `n` of a continuous sine tone, as PCMU bytes. */
export function toneFrame(freqHz: number, n: number, amplitude = 8000): Buffer {
  const out = Buffer.alloc(SAMPLES_PER_PACKET);
  for (let i = 0; i < SAMPLES_PER_PACKET; i++) {
    const t = (n * SAMPLES_PER_PACKET + i) / SAMPLE_RATE;
    out[i] = linearToUlaw(amplitude * Math.sin(2 * Math.PI * freqHz * t));
  }
  return out;
}

export function rtpPacket(seq: number, timestamp: number, ssrc: number, payload: Buffer, marker = false): Buffer {
  const h = Buffer.alloc(RTP_HEADER_BYTES);
  h[0] = 0x80; // V=2, no padding, no extension, no CSRC
  h[1] = (marker ? 0x80 : 0) | PCMU;
  h.writeUInt16BE(seq & 0xffff, 2);
  h.writeUInt32BE(timestamp >>> 0, 4);
  h.writeUInt32BE(ssrc >>> 0, 8);
  return Buffer.concat([h, payload]);
}

export interface RtpView {
  seq: number;
  timestamp: number;
  ssrc: number;
  payloadType: number;
  payload: Buffer;
}

/** Header fields and payload of a plain RTP packet (no CSRC/extension: the lab sends none). */
export function parseRtp(pkt: Buffer): RtpView | undefined {
  if (pkt.length < RTP_HEADER_BYTES || (pkt[0] as number) >> 6 !== 2) return undefined;
  const cc = (pkt[0] as number) & 0x0f;
  const ext = ((pkt[0] as number) & 0x10) !== 0;
  let at = RTP_HEADER_BYTES + 4 * cc;
  if (ext) {
    if (pkt.length < at + 4) return undefined;
    at += 4 + 4 * pkt.readUInt16BE(at + 2);
  }
  if (at > pkt.length) return undefined;
  return {
    seq: pkt.readUInt16BE(2),
    timestamp: pkt.readUInt32BE(4),
    ssrc: pkt.readUInt32BE(8),
    payloadType: (pkt[1] as number) & 0x7f,
    payload: pkt.subarray(at),
  };
}

export interface AudioCheck {
  sent: number;
  received: number;
  /** Received payloads equal, byte for byte, to what was sent with that sequence number. */
  intact: number;
  /** Received with a sequence number that was sent, but with other bytes. */
  corrupted: number;
  /** Received with a sequence number never sent (or from another SSRC). */
  unknown: number;
  lost: number;
  /** Lost packets that were the first ones sent (a run from the start of the stream). */
  lostAtStart: number;
}

/** What arrived (by sequence number) against what was sent. */
export function compareAudio(
  sent: ReadonlyMap<number, Buffer>,
  received: ReadonlyMap<number, { ssrc: number; payload: Buffer }>,
  senderSsrc: number,
): AudioCheck {
  let intact = 0;
  let corrupted = 0;
  let unknown = 0;
  for (const [seq, got] of received) {
    const want = sent.get(seq);
    if (!want || got.ssrc !== senderSsrc) unknown++;
    else if (want.equals(got.payload)) intact++;
    else corrupted++;
  }
  let lost = 0;
  let lostAtStart = 0;
  let i = 0;
  // Map order is send order: a leading run of missing packets is loss at the start of the stream.
  for (const seq of sent.keys()) {
    if (!received.has(seq)) {
      lost++;
      if (lostAtStart === i) lostAtStart++;
    }
    i++;
  }
  return { sent: sent.size, received: received.size, intact, corrupted, unknown, lost, lostAtStart };
}
