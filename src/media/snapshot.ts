/**
 * A media session as a standby needs it to take the call over (issue 14): both legs' local
 * addresses and ports, signaled peer, latched destinations, mode, SRTP profile and keys, and
 * the SRTP stream states (wasm/stream-state.ts). A pure, versioned binary codec.
 *
 * The encoding holds master keys in clear: it only ever leaves the process sealed by the
 * cluster's secret box (docs/cluster.md §7); nothing here logs or prints it.
 *
 * Layout (big-endian), version 1:
 *   u8 version, u8 direction (index in DIRECTIONS), str8 id, str16 callId, u48 created ms,
 *   u48 taken ms (when the snapshot was read), then two legs, each:
 *     str8 address, u16 rtpPort, u8 mode (0 unset, 1 rtp, 2 srtp),
 *     u8 flags (1 peer, 2 latched rtp, 4 latched rtcp),
 *     [peer: str8 address, u16 rtpPort, u16 rtcpPort] [latched rtp: str8, u16] [latched rtcp: str8, u16]
 *     srtp only: u8 profile (index in PROFILES), u8 key length, recvKey, sendKey
 *     u16 rtpReserve, u16 rtcpReserve (packets a sender may have sent since: stream-state reserveSent)
 *     u8 n streams, n × STREAM_STATE_BYTES
 * Version 2 (written now): the same, then str8 phone (the owning phone's device name from its
 * certificate, empty when none): a survivor releases an adopted session at that phone's BYE
 * (docs/cluster.md §7). Version 1 is still read (no phone: such a session waits for idle).
 */

import {
  decodeStreamState,
  encodeStreamState,
  type SrtpStreamState,
  STREAM_STATE_BYTES,
} from '../../wasm/stream-state';
import type { MediaDirection, SrtpProfile } from '../contracts/media';
import type { LegConfig } from './messages';

export const SNAPSHOT_VERSION = 2;
/** Versions decodeSnapshot reads: 1 (before the phone) and the current one. */
const READS = [1, SNAPSHOT_VERSION];
const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];
const PROFILES: readonly SrtpProfile[] = [
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'NULL_HMAC_SHA1_80',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
];
/** A leg has one stream per direction and SSRC; the engine exports at most 8 per session. */
const MAX_STREAMS = 16;

export interface Destination {
  address: string;
  port: number;
}

export interface LegSnapshot {
  address: string;
  rtpPort: number;
  cfg?: LegConfig;
  latched: { rtp?: Destination; rtcp?: Destination };
  streams: SrtpStreamState[];
  /** RTP and SRTCP packets a sender of this leg may have sent after the snapshot was read. */
  rtpReserve: number;
  rtcpReserve: number;
}

export interface MediaSessionSnapshot {
  id: string;
  callId: string;
  direction: MediaDirection;
  created: number;
  taken: number;
  legs: [LegSnapshot, LegSnapshot];
  /** Device name of the phone whose signaling made the session (version 2); absent: none known. */
  phone?: string;
}

export class SnapshotError extends Error {}

class Writer {
  private buf = Buffer.alloc(512);
  private n = 0;
  private room(k: number): void {
    if (this.n + k <= this.buf.length) return;
    const b = Buffer.alloc(Math.max(this.buf.length * 2, this.n + k));
    this.buf.copy(b, 0, 0, this.n);
    this.buf = b;
  }
  u8(v: number): void {
    this.room(1);
    this.buf.writeUInt8(v, this.n++);
  }
  u16(v: number): void {
    this.room(2);
    this.buf.writeUInt16BE(v, this.n);
    this.n += 2;
  }
  u48(v: number): void {
    this.room(6);
    this.buf.writeUIntBE(v, this.n, 6);
    this.n += 6;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.n);
    this.n += b.length;
  }
  str(s: string, wide: boolean, what: string): void {
    const b = Buffer.from(s, 'utf8');
    if (b.length > (wide ? 0xffff : 0xff)) throw new SnapshotError(`snapshot: ${what} is ${b.length} bytes, too long`);
    if (wide) this.u16(b.length);
    else this.u8(b.length);
    this.bytes(b);
  }
  stream(s: SrtpStreamState): void {
    this.room(STREAM_STATE_BYTES);
    encodeStreamState(s, this.buf, this.n);
    this.n += STREAM_STATE_BYTES;
  }
  done(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.n));
  }
}

class Reader {
  private at = 0;
  constructor(private readonly b: Buffer) {}
  private need(k: number, what: string): number {
    if (this.at + k > this.b.length)
      throw new SnapshotError(`snapshot: ${what} at byte ${this.at} runs past the end (${this.b.length} bytes)`);
    const at = this.at;
    this.at += k;
    return at;
  }
  u8(what: string): number {
    return this.b.readUInt8(this.need(1, what));
  }
  u16(what: string): number {
    return this.b.readUInt16BE(this.need(2, what));
  }
  u48(what: string): number {
    return this.b.readUIntBE(this.need(6, what), 6);
  }
  bytes(k: number, what: string): Uint8Array {
    const at = this.need(k, what);
    return Uint8Array.from(this.b.subarray(at, at + k));
  }
  str(wide: boolean, what: string): string {
    const k = wide ? this.u16(what) : this.u8(what);
    const at = this.need(k, what);
    return this.b.toString('utf8', at, at + k);
  }
  stream(what: string): SrtpStreamState {
    const at = this.need(STREAM_STATE_BYTES, what);
    try {
      return decodeStreamState(this.b, at);
    } catch (err) {
      throw new SnapshotError(`snapshot: ${what}: ${(err as Error).message}`);
    }
  }
  end(): void {
    if (this.at !== this.b.length)
      throw new SnapshotError(`snapshot: ${this.b.length - this.at} bytes left over after byte ${this.at}`);
  }
}

function writeDest(w: Writer, d: Destination, what: string): void {
  w.str(d.address, false, what);
  w.u16(d.port);
}

export function encodeSnapshot(s: MediaSessionSnapshot): Buffer {
  const w = new Writer();
  w.u8(SNAPSHOT_VERSION);
  w.u8(Math.max(0, DIRECTIONS.indexOf(s.direction)));
  w.str(s.id, false, 'id');
  w.str(s.callId, true, 'callId');
  w.u48(Math.max(0, Math.floor(s.created)));
  w.u48(Math.max(0, Math.floor(s.taken)));
  s.legs.forEach((l, i) => {
    const what = `leg ${i}`;
    w.str(l.address, false, `${what} address`);
    w.u16(l.rtpPort);
    const mode = l.cfg?.mode;
    w.u8(mode === 'rtp' ? 1 : mode === 'srtp' ? 2 : 0);
    const peer = l.cfg?.peer;
    w.u8((peer ? 1 : 0) | (l.latched.rtp ? 2 : 0) | (l.latched.rtcp ? 4 : 0));
    if (peer) {
      w.str(peer.address, false, `${what} peer`);
      w.u16(peer.rtpPort);
      w.u16(peer.rtcpPort ?? peer.rtpPort + 1);
    }
    if (l.latched.rtp) writeDest(w, l.latched.rtp, `${what} latched rtp`);
    if (l.latched.rtcp) writeDest(w, l.latched.rtcp, `${what} latched rtcp`);
    if (mode === 'srtp') {
      const k = l.cfg?.srtp;
      const p = k ? PROFILES.indexOf(k.profile) : -1;
      if (!k || p < 0 || k.recvKey.length !== k.sendKey.length || k.recvKey.length > 0xff)
        throw new SnapshotError(`snapshot: ${what} is srtp without a known profile and keys`);
      w.u8(p);
      w.u8(k.recvKey.length);
      w.bytes(k.recvKey);
      w.bytes(k.sendKey);
    }
    w.u16(Math.min(0xffff, Math.max(0, Math.ceil(l.rtpReserve))));
    w.u16(Math.min(0xffff, Math.max(0, Math.ceil(l.rtcpReserve))));
    const streams = l.streams.slice(0, MAX_STREAMS);
    w.u8(streams.length);
    for (const st of streams) w.stream(st);
  });
  w.str(s.phone ?? '', false, 'phone');
  return w.done();
}

function readDest(r: Reader, what: string): Destination {
  return { address: r.str(false, what), port: r.u16(what) };
}

export function decodeSnapshot(b: Uint8Array): MediaSessionSnapshot {
  const r = new Reader(Buffer.from(b.buffer, b.byteOffset, b.byteLength));
  const version = r.u8('version');
  if (!READS.includes(version))
    throw new SnapshotError(`snapshot: version ${version}, this build reads ${READS.join(' and ')}`);
  const dir = r.u8('direction');
  const direction = DIRECTIONS[dir];
  if (!direction) throw new SnapshotError(`snapshot: direction ${dir} unknown`);
  const id = r.str(false, 'id');
  const callId = r.str(true, 'callId');
  const created = r.u48('created');
  const taken = r.u48('taken');
  const legs: LegSnapshot[] = [];
  for (let i = 0; i < 2; i++) {
    const what = `leg ${i}`;
    const address = r.str(false, `${what} address`);
    const rtpPort = r.u16(`${what} rtpPort`);
    const mode = r.u8(`${what} mode`);
    if (mode > 2) throw new SnapshotError(`snapshot: ${what} mode ${mode} unknown`);
    const flags = r.u8(`${what} flags`);
    let cfg: LegConfig | undefined = mode === 0 ? undefined : { mode: mode === 1 ? 'rtp' : 'srtp' };
    if (flags & 1) {
      const peer = {
        address: r.str(false, `${what} peer`),
        rtpPort: r.u16(`${what} peer`),
        rtcpPort: r.u16(`${what} peer`),
      };
      if (cfg) cfg.peer = peer;
    }
    const latched: LegSnapshot['latched'] = {};
    if (flags & 2) latched.rtp = readDest(r, `${what} latched rtp`);
    if (flags & 4) latched.rtcp = readDest(r, `${what} latched rtcp`);
    if (mode === 2 && cfg) {
      const p = r.u8(`${what} profile`);
      const profile = PROFILES[p];
      if (!profile) throw new SnapshotError(`snapshot: ${what} SRTP profile ${p} unknown`);
      const n = r.u8(`${what} key length`);
      cfg = {
        ...cfg,
        srtp: { profile, recvKey: r.bytes(n, `${what} recvKey`), sendKey: r.bytes(n, `${what} sendKey`) },
      };
    }
    const rtpReserve = r.u16(`${what} reserve`);
    const rtcpReserve = r.u16(`${what} reserve`);
    const n = r.u8(`${what} streams`);
    if (n > MAX_STREAMS) throw new SnapshotError(`snapshot: ${what} has ${n} streams, at most ${MAX_STREAMS}`);
    const streams: SrtpStreamState[] = [];
    for (let k = 0; k < n; k++) streams.push(r.stream(`${what} stream ${k}`));
    legs.push({ address, rtpPort, cfg, latched, streams, rtpReserve, rtcpReserve });
  }
  const phone = version >= 2 ? r.str(false, 'phone') : '';
  r.end();
  return {
    id,
    callId,
    direction,
    created,
    taken,
    legs: legs as [LegSnapshot, LegSnapshot],
    ...(phone ? { phone } : {}),
  };
}
