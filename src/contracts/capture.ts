/**
 * Packet capture (`phone-proxy capture`, issue 15): what the capture service asks of the TLS
 * proxy (a phone's signaling, in clear after TLS) and of media termination (a phone's media, as
 * received and optionally decrypted), and the record layout media records come in. The capture
 * service owns the files; the others only hand over copies, and only while a capture asks.
 */
import type { InspectedConnection } from './signaling';

/** Signaling as the TLS proxy sees it: one call per chunk read or written, on either leg. */
export interface SignalingTap {
  /** False while no capture runs: the only cost of capture for a chunk when none is on. */
  readonly active: boolean;
  /**
   * `leg`: the phone's connection or the upstream one toward UCM; `inbound`: read by the
   * appliance (from the phone, or from UCM), else written by it. `data` is not kept.
   */
  chunk(conn: InspectedConnection, leg: 'phone' | 'ucm', inbound: boolean, data: Buffer): void;
}

/** What media termination taps on a session's outside leg (the remote phone's). */
export interface MediaWatch {
  /** The phone's address (the leg's peer); absent: every phone. */
  address?: string;
  /** Also the packets in clear: after SRTP decryption, before SRTP encryption. */
  clear: boolean;
}

/** Where media termination delivers what it tapped, in batches of MEDIA_RECORD layout records. */
export interface MediaCaptureSink {
  /** `records`: whole records back to back; `dropped`: records lost since the last batch (buffer full). */
  media(records: Uint8Array, dropped: number): void;
}

export interface MediaCapture {
  /** Replaces the set of watched phones (empty: tap nothing); records go to `sink`. */
  watchMedia(watch: readonly MediaWatch[], sink: MediaCaptureSink): void;
}

/**
 * One tapped datagram in a batch: a 32-byte header, then `length` bytes (little-endian fields).
 *   0 u16 length (bytes kept)   2 u8 flags   3 u8 leg
 *   4 u32 original length       8 f64 time (ms since the epoch)
 *  16 u32 source IPv4          20 u16 source port   22 u16 destination port
 *  24 u32 destination IPv4     28 u32 reserved
 */
export const MEDIA_RECORD = {
  header: 32,
  length: 0,
  flags: 2,
  leg: 3,
  origLength: 4,
  time: 8,
  src: 16,
  srcPort: 20,
  dstPort: 22,
  dst: 24,
} as const;

/** flags: the packet in clear (decrypted, or not yet encrypted) rather than as on the wire. */
export const MEDIA_FLAG_CLEAR = 1;
/** flags: RTCP (else RTP). */
export const MEDIA_FLAG_RTCP = 2;
/** flags: sent by the appliance toward the peer (else received from it). */
export const MEDIA_FLAG_OUTBOUND = 4;
/** Records are padded to this alignment, so the f64 time stays readable from a DataView. */
export const MEDIA_RECORD_ALIGN = 4;
