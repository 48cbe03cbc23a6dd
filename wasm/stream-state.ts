/**
 * Where one SRTP stream stands, as a standby needs it to continue the stream (issue 14):
 * libsrtp's RTP packet index (ROC and highest sequence number) with its 128-packet replay
 * window, and the SRTCP index with its window. `SrtpEngine.exportStreams` reads these out
 * of libsrtp, `importStream` installs them into a session built from the same keys.
 *
 * The wire layout is pure and versioned (big-endian, STREAM_STATE_BYTES each):
 *   0  u8   version (STREAM_STATE_VERSION)
 *   1  u8   direction: 1 send, 2 receive (libsrtp's dir_srtp_sender / dir_srtp_receiver)
 *   2  u16  zero
 *   4  u32  SSRC
 *   8  u32  ROC
 *   12 u16  highest sequence number
 *   14 u16  zero
 *   16 16B  RTP replay window (libsrtp's rdbx bitvector words, each big-endian, word 0 first)
 *   32 u32  SRTCP index (sender: the last index used; receiver: the window's base)
 *   36 16B  SRTCP replay window (libsrtp's rdb bitmask, same word order)
 * Keys are not part of it: a stream state is not a secret.
 */

export const STREAM_STATE_VERSION = 1;
export const STREAM_STATE_BYTES = 52;
/** libsrtp's replay window, in packets (wasm/shim.c sets window_size 128). */
export const REPLAY_WINDOW = 128;

export interface SrtpStreamState {
  ssrc: number;
  direction: 'send' | 'receive';
  roc: number;
  seq: number;
  /** 4 words of libsrtp's RTP window: bit 127 (word 3, bit 31) is the highest index itself. */
  rtpWindow: [number, number, number, number];
  rtcpIndex: number;
  rtcpWindow: [number, number, number, number];
}

export class StreamStateError extends Error {}

export function encodeStreamState(s: SrtpStreamState, out: Buffer = Buffer.alloc(STREAM_STATE_BYTES), at = 0): Buffer {
  out.fill(0, at, at + STREAM_STATE_BYTES);
  out.writeUInt8(STREAM_STATE_VERSION, at);
  out.writeUInt8(s.direction === 'send' ? 1 : 2, at + 1);
  out.writeUInt32BE(s.ssrc >>> 0, at + 4);
  out.writeUInt32BE(s.roc >>> 0, at + 8);
  out.writeUInt16BE(s.seq & 0xffff, at + 12);
  for (let i = 0; i < 4; i++) {
    out.writeUInt32BE((s.rtpWindow[i] ?? 0) >>> 0, at + 16 + 4 * i);
    out.writeUInt32BE((s.rtcpWindow[i] ?? 0) >>> 0, at + 36 + 4 * i);
  }
  out.writeUInt32BE(s.rtcpIndex >>> 0, at + 32);
  return out;
}

export function decodeStreamState(b: Uint8Array, at = 0): SrtpStreamState {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  if (buf.length - at < STREAM_STATE_BYTES)
    throw new StreamStateError(`SRTP stream state at byte ${at}: ${buf.length - at} bytes, need ${STREAM_STATE_BYTES}`);
  const version = buf.readUInt8(at);
  if (version !== STREAM_STATE_VERSION)
    throw new StreamStateError(
      `SRTP stream state at byte ${at}: version ${version}, this build reads ${STREAM_STATE_VERSION}`,
    );
  const dir = buf.readUInt8(at + 1);
  if (dir !== 1 && dir !== 2) throw new StreamStateError(`SRTP stream state at byte ${at + 1}: direction ${dir}`);
  const rtcpIndex = buf.readUInt32BE(at + 32);
  if (rtcpIndex > 0x7fffffff)
    throw new StreamStateError(`SRTP stream state at byte ${at + 32}: SRTCP index ${rtcpIndex} past 2^31-1`);
  const words = (o: number): [number, number, number, number] => [
    buf.readUInt32BE(o),
    buf.readUInt32BE(o + 4),
    buf.readUInt32BE(o + 8),
    buf.readUInt32BE(o + 12),
  ];
  return {
    ssrc: buf.readUInt32BE(at + 4),
    direction: dir === 1 ? 'send' : 'receive',
    roc: buf.readUInt32BE(at + 8),
    seq: buf.readUInt16BE(at + 12),
    rtpWindow: words(at + 16),
    rtcpIndex,
    rtcpWindow: words(at + 36),
  };
}

/**
 * A sender's state for a standby that takes over after `rtp` more RTP and `rtcp` more SRTCP
 * packets may have been sent since the state was read: the RTP index moves on by `rtp` with
 * the whole window marked as used, so libsrtp's sender refuses (replay) every index up to
 * there instead of encrypting a second packet under an index the dead process may have used
 * (a keystream reused, and a replay at the phone); the SRTCP index, which the sender counts
 * itself, moves on by `rtcp`. A receiver's state is returned unchanged: moving it on would
 * refuse the peer's next packets, and the ones it sent since were received by the dead node.
 */
export function reserveSent(s: SrtpStreamState, rtp: number, rtcp: number): SrtpStreamState {
  if (s.direction !== 'send') return s;
  const index = s.roc * 65536 + s.seq + Math.max(0, Math.floor(rtp));
  const all = 0xffffffff;
  return {
    ...s,
    roc: Math.floor(index / 65536) >>> 0,
    seq: index % 65536,
    rtpWindow: rtp > 0 ? [all, all, all, all] : s.rtpWindow,
    rtcpIndex: Math.min(0x7fffffff, s.rtcpIndex + Math.max(0, Math.floor(rtcp))),
  };
}
