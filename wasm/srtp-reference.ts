/**
 * An independent SRTP/SRTCP implementation on node:crypto (RFC 3711: AES-CM + HMAC-SHA1,
 * RFC 6188 for AES-256, RFC 4568 suites, RFC 7714 AEAD_AES_128_GCM / AEAD_AES_256_GCM on
 * node:crypto's aes-*-gcm), written from the RFCs and sharing no code with libsrtp or the
 * shim. Tests use it to check the WebAssembly engine both ways and the media tests use
 * it to play the remote phone. It allocates per packet: it is a reference, not a data path.
 *
 * Scope: master key index / MKI not used, key derivation rate 0, no RTP header
 * extension encryption (RFC 6904), replay window of 128 packets (as libsrtp's default).
 */
import { createCipheriv, createDecipheriv, createHmac, timingSafeEqual } from 'node:crypto';
import { SRTP_PROFILES, type SrtpProfile, type SrtpProfileInfo } from './srtp';

/** RFC 3711 4.3.2 key derivation labels. */
export const LABEL = {
  RTP_ENCRYPTION: 0x00,
  RTP_AUTH: 0x01,
  RTP_SALT: 0x02,
  RTCP_ENCRYPTION: 0x03,
  RTCP_AUTH: 0x04,
  RTCP_SALT: 0x05,
} as const;

const REPLAY_WINDOW = 128;

function aesCtr(key: Buffer, iv: Buffer, data: Buffer): Buffer {
  const algo = key.length === 32 ? 'aes-256-ctr' : 'aes-128-ctr';
  const c = createCipheriv(algo, key, iv);
  return Buffer.concat([c.update(data), c.final()]);
}

/** AES-CM keystream (RFC 3711 4.1.1): IV is the 128-bit initial counter. */
export function aesCmKeystream(key: Uint8Array, iv: Uint8Array, length: number): Buffer {
  return aesCtr(Buffer.from(key), Buffer.from(iv), Buffer.alloc(length));
}

/** RFC 3711 4.3.1 with kdr = 0 (r = 0): x = label<<48 XOR master_salt, keystream of
 *  AES-CM(master_key, x * 2^16). AES-256 master keys use AES-256 as PRF (RFC 6188 7.2).
 *  A 96-bit GCM master salt enters as salt || 0x0000 (RFC 7714 11: the RFC 3711 KDF). */
export function deriveSessionKey(masterKey: Uint8Array, masterSalt: Uint8Array, label: number, length: number): Buffer {
  const iv = Buffer.alloc(16);
  Buffer.from(masterSalt).copy(iv, 0, 0, 14);
  iv[7] = (iv[7] as number) ^ label;
  return aesCmKeystream(masterKey, iv, length);
}

/** 16-byte AES-CM IV for SRTP/SRTCP (RFC 3711 4.1.1):
 *  (k_s * 2^16) XOR (SSRC * 2^64) XOR (i * 2^16), i a 48-bit index. */
function packetIv(salt: Buffer, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(16);
  salt.copy(iv, 0, 0, 14);
  iv.writeUInt32BE((iv.readUInt32BE(4) ^ ssrc) >>> 0, 4);
  const hi = Math.floor(index / 0x100000000); // 16 high bits of the 48-bit index
  const lo = index >>> 0;
  iv.writeUInt16BE((iv.readUInt16BE(8) ^ hi) & 0xffff, 8);
  iv.writeUInt32BE((iv.readUInt32BE(10) ^ lo) >>> 0, 10);
  return iv;
}

export interface SessionKeys {
  encKey: Buffer;
  authKey: Buffer;
  salt: Buffer;
}

/** Session keys for one of SRTP or SRTCP. AEAD suites have no authentication key and a
 *  12-byte session salt (RFC 7714 12). */
export function deriveKeys(profile: SrtpProfile, masterKeySalt: Uint8Array, rtcp: boolean): SessionKeys {
  const p = SRTP_PROFILES[profile];
  const key = masterKeySalt.subarray(0, p.keyLength);
  const salt = masterKeySalt.subarray(p.keyLength, p.keyLength + p.saltLength);
  const base = rtcp ? LABEL.RTCP_ENCRYPTION : LABEL.RTP_ENCRYPTION;
  return {
    encKey: deriveSessionKey(key, salt, base, p.keyLength),
    authKey: p.aead ? Buffer.alloc(0) : deriveSessionKey(key, salt, base + 1, 20),
    salt: deriveSessionKey(key, salt, base + 2, p.saltLength),
  };
}

/** RFC 7714 8.1: 12-byte SRTP IV = (0x0000 || SSRC || ROC || SEQ) XOR salt. */
export function gcmRtpIv(salt: Uint8Array, ssrc: number, roc: number, seq: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(roc >>> 0, 6);
  iv.writeUInt16BE(seq & 0xffff, 10);
  for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
  return iv;
}

/** RFC 7714 9.1: 12-byte SRTCP IV = (0x0000 || SSRC || 0x0000 || 0 || index) XOR salt. */
export function gcmRtcpIv(salt: Uint8Array, ssrc: number, index: number): Buffer {
  const iv = Buffer.alloc(12);
  iv.writeUInt32BE(ssrc >>> 0, 2);
  iv.writeUInt32BE(index & 0x7fffffff, 8);
  for (let i = 0; i < 12; i++) iv[i] = (iv[i] as number) ^ (salt[i] as number);
  return iv;
}

function gcmAlgo(key: Buffer): 'aes-128-gcm' | 'aes-256-gcm' {
  return key.length === 32 ? 'aes-256-gcm' : 'aes-128-gcm';
}

/** AES-GCM encryption: ciphertext || 16-byte tag. */
function gcmSeal(key: Buffer, iv: Buffer, aad: Buffer, plain: Buffer): Buffer {
  const c = createCipheriv(gcmAlgo(key), key, iv, { authTagLength: 16 });
  c.setAAD(aad);
  return Buffer.concat([c.update(plain), c.final(), c.getAuthTag()]);
}

/** AES-GCM decryption of ciphertext || tag; undefined if the tag does not verify
 *  (node:crypto compares it in constant time). */
function gcmOpen(key: Buffer, iv: Buffer, aad: Buffer, sealed: Buffer): Buffer | undefined {
  const d = createDecipheriv(gcmAlgo(key), key, iv, { authTagLength: 16 });
  d.setAAD(aad);
  d.setAuthTag(sealed.subarray(sealed.length - 16));
  const out = d.update(sealed.subarray(0, sealed.length - 16));
  try {
    return Buffer.concat([out, d.final()]);
  } catch {
    return undefined;
  }
}

/** Header length of an RTP packet (12 + CSRCs + extension), or -1 if it does not fit. */
export function rtpHeaderLength(pkt: Uint8Array): number {
  if (pkt.length < 12) return -1;
  const b0 = pkt[0] as number;
  let n = 12 + 4 * (b0 & 0x0f);
  if (b0 & 0x10) {
    if (pkt.length < n + 4) return -1;
    n += 4 + 4 * (((pkt[n + 2] as number) << 8) | (pkt[n + 3] as number));
  }
  return n <= pkt.length ? n : -1;
}

export type SrtpReferenceError = 'auth_fail' | 'replay' | 'replay_old' | 'parse_err' | 'cant_check';

/** Result of unprotect: the plaintext packet, or a reason matching srtpErrorName's. */
export type UnprotectResult = { ok: true; packet: Buffer; index: number } | { ok: false; error: SrtpReferenceError };

class ReplayWindow {
  private highest = -1;
  private readonly seen = new Float64Array(REPLAY_WINDOW).fill(-1);

  check(index: number): 'ok' | 'replay' | 'replay_old' {
    if (index > this.highest) return 'ok';
    if (this.highest - index >= REPLAY_WINDOW) return 'replay_old';
    return this.seen[index % REPLAY_WINDOW] === index ? 'replay' : 'ok';
  }

  add(index: number): void {
    this.seen[index % REPLAY_WINDOW] = index;
    if (index > this.highest) this.highest = index;
  }
}

interface RtpStream {
  roc: number;
  /** highest sequence number seen/sent (s_l), -1 before the first packet */
  sl: number;
  replay: ReplayWindow;
  rtcpIndex: number;
  rtcpReplay: ReplayWindow;
}

/** RFC 3711 3.3.1: guess the ROC of a packet from the highest sequence number s_l. */
function estimateRoc(roc: number, sl: number, seq: number): number {
  if (sl < 0) return roc;
  if (sl < 0x8000) return seq - sl > 0x8000 ? (roc - 1) >>> 0 : roc;
  return sl - 0x8000 > seq ? (roc + 1) >>> 0 : roc;
}

/** Advance (ROC, s_l) if the packet index v||seq is the new highest. */
function commitIndex(s: RtpStream, v: number, seq: number): void {
  if (s.sl < 0 || v === (s.roc + 1) >>> 0 || (v === s.roc && seq > s.sl)) {
    s.roc = v;
    s.sl = seq;
  }
}

/**
 * One direction of one SRTP session for any number of SSRCs, like an ssrc_any libsrtp
 * session: protect* on a sender, unprotect* on a receiver. Keys are derived once.
 */
export class SrtpReferenceContext {
  readonly profile: SrtpProfile;
  readonly info: SrtpProfileInfo;
  private rtpKeys: SessionKeys;
  private rtcpKeys: SessionKeys;
  private readonly streams = new Map<number, RtpStream>();

  constructor(profile: SrtpProfile, masterKeySalt: Uint8Array) {
    const info = SRTP_PROFILES[profile];
    if (!info) throw new Error(`unknown SRTP profile ${profile}`);
    if (masterKeySalt.length !== info.keyLength + info.saltLength) {
      throw new Error(`${profile}: master key||salt must be ${info.keyLength + info.saltLength} bytes`);
    }
    this.profile = profile;
    this.info = info;
    this.rtpKeys = deriveKeys(profile, masterKeySalt, false);
    this.rtcpKeys = deriveKeys(profile, masterKeySalt, true);
  }

  /** Re-key (same profile); stream state (ROC, sequence, SRTCP index) is kept. */
  updateKey(masterKeySalt: Uint8Array): void {
    this.rtpKeys = deriveKeys(this.profile, masterKeySalt, false);
    this.rtcpKeys = deriveKeys(this.profile, masterKeySalt, true);
  }

  /** Use these session keys instead of derived ones (RFC 7714 16-17 give session keys). */
  setSessionKeys(rtp: SessionKeys, rtcp: SessionKeys): void {
    this.rtpKeys = rtp;
    this.rtcpKeys = rtcp;
  }

  /** Set the next SRTCP index a sender uses for an SSRC. */
  setRtcpIndex(ssrc: number, index: number): void {
    this.stream(ssrc).rtcpIndex = index & 0x7fffffff;
  }

  /** Set the sender's or receiver's ROC for an SSRC (e.g. to start a test near 2^32). */
  setRoc(ssrc: number, roc: number): void {
    this.stream(ssrc).roc = roc >>> 0;
  }

  streamState(ssrc: number): { roc: number; seq: number; rtcpIndex: number } | undefined {
    const s = this.streams.get(ssrc >>> 0);
    return s ? { roc: s.roc, seq: s.sl, rtcpIndex: s.rtcpIndex } : undefined;
  }

  private stream(ssrc: number): RtpStream {
    let s = this.streams.get(ssrc >>> 0);
    if (!s) {
      s = { roc: 0, sl: -1, replay: new ReplayWindow(), rtcpIndex: 0, rtcpReplay: new ReplayWindow() };
      this.streams.set(ssrc >>> 0, s);
    }
    return s;
  }

  private rtpTag(authPortion: Buffer, roc: number, length: number): Buffer {
    const rocBuf = Buffer.alloc(4);
    rocBuf.writeUInt32BE(roc >>> 0, 0);
    return createHmac('sha1', this.rtpKeys.authKey).update(authPortion).update(rocBuf).digest().subarray(0, length);
  }

  /** RTP -> SRTP (RFC 3711 3.1): encrypt the payload, append the tag over header,
   *  encrypted payload and ROC. ROC increments when the sequence number wraps. */
  protectRtp(rtp: Uint8Array): Buffer {
    const pkt = Buffer.from(rtp);
    const hlen = rtpHeaderLength(pkt);
    if (hlen < 0) throw new Error('protectRtp: malformed RTP header');
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const s = this.stream(ssrc);
    const v = estimateRoc(s.roc, s.sl, seq);
    commitIndex(s, v, seq);
    const index = v * 0x10000 + seq;
    if (this.info.aead) {
      // RFC 7714 8.2: the header is the AAD, the payload is encrypted, the tag appended.
      const iv = gcmRtpIv(this.rtpKeys.salt, ssrc, v, seq);
      return Buffer.concat([
        pkt.subarray(0, hlen),
        gcmSeal(this.rtpKeys.encKey, iv, pkt.subarray(0, hlen), pkt.subarray(hlen)),
      ]);
    }
    let body = pkt;
    if (this.info.encrypted) {
      const enc = aesCtr(this.rtpKeys.encKey, packetIv(this.rtpKeys.salt, ssrc, index), pkt.subarray(hlen));
      body = Buffer.concat([pkt.subarray(0, hlen), enc]);
    }
    return Buffer.concat([body, this.rtpTag(body, v, this.info.rtpTagLength)]);
  }

  /** SRTP -> RTP: estimate the index (RFC 3711 3.3.1), check replay, verify the tag in
   *  constant time, decrypt; state is committed only after the tag verifies. */
  unprotectRtp(srtp: Uint8Array): UnprotectResult {
    const pkt = Buffer.from(srtp);
    const tagLen = this.info.rtpTagLength;
    const hlen = rtpHeaderLength(pkt.subarray(0, Math.max(0, pkt.length - tagLen)));
    if (hlen < 0 || pkt.length < 12 + tagLen) return { ok: false, error: 'parse_err' };
    const seq = pkt.readUInt16BE(2);
    const ssrc = pkt.readUInt32BE(8);
    const known = this.streams.get(ssrc);
    const roc = known?.roc ?? 0;
    const sl = known?.sl ?? -1;
    const v = estimateRoc(roc, sl, seq);
    const index = v * 0x10000 + seq;
    if (known) {
      const r = known.replay.check(index);
      if (r !== 'ok') return { ok: false, error: r };
    }
    const body = pkt.subarray(0, pkt.length - tagLen);
    let out: Buffer;
    if (this.info.aead) {
      const iv = gcmRtpIv(this.rtpKeys.salt, ssrc, v, seq);
      const plain = gcmOpen(this.rtpKeys.encKey, iv, pkt.subarray(0, hlen), pkt.subarray(hlen));
      if (!plain) return { ok: false, error: 'auth_fail' };
      out = Buffer.concat([pkt.subarray(0, hlen), plain]);
    } else {
      const tag = pkt.subarray(pkt.length - tagLen);
      const expect = this.rtpTag(body, v, tagLen);
      if (!timingSafeEqual(tag, expect)) return { ok: false, error: 'auth_fail' };
      out = Buffer.from(body);
    }
    if (this.info.encrypted && !this.info.aead) {
      const dec = aesCtr(this.rtpKeys.encKey, packetIv(this.rtpKeys.salt, ssrc, index), body.subarray(hlen));
      out = Buffer.concat([body.subarray(0, hlen), dec]);
    }
    const s = known ?? this.stream(ssrc);
    commitIndex(s, v, seq);
    s.replay.add(index);
    return { ok: true, packet: out, index };
  }

  /** RTCP -> SRTCP (RFC 3711 3.4): encrypt after the first 8 bytes, append E||index and
   *  a tag over everything before it. The _32 suite keeps an 80-bit SRTCP tag. */
  protectRtcp(rtcp: Uint8Array): Buffer {
    const pkt = Buffer.from(rtcp);
    if (pkt.length < 8) throw new Error('protectRtcp: short RTCP packet');
    const ssrc = pkt.readUInt32BE(4);
    const s = this.stream(ssrc);
    const index = s.rtcpIndex;
    s.rtcpIndex = (s.rtcpIndex + 1) & 0x7fffffff;
    if (this.info.aead) {
      // RFC 7714 9.1-9.2: AAD = header || E||index, the tag precedes E||index.
      const trailer = Buffer.alloc(4);
      trailer.writeUInt32BE((0x80000000 | index) >>> 0, 0);
      const iv = gcmRtcpIv(this.rtcpKeys.salt, ssrc, index);
      const aad = Buffer.concat([pkt.subarray(0, 8), trailer]);
      return Buffer.concat([pkt.subarray(0, 8), gcmSeal(this.rtcpKeys.encKey, iv, aad, pkt.subarray(8)), trailer]);
    }
    let body = pkt;
    if (this.info.encrypted) {
      const enc = aesCtr(this.rtcpKeys.encKey, packetIv(this.rtcpKeys.salt, ssrc, index), pkt.subarray(8));
      body = Buffer.concat([pkt.subarray(0, 8), enc]);
    }
    const trailer = Buffer.alloc(4);
    trailer.writeUInt32BE(((this.info.encrypted ? 0x80000000 : 0) | index) >>> 0, 0);
    const authed = Buffer.concat([body, trailer]);
    const tag = createHmac('sha1', this.rtcpKeys.authKey).update(authed).digest().subarray(0, this.info.rtcpTagLength);
    return Buffer.concat([authed, tag]);
  }

  unprotectRtcp(srtcp: Uint8Array): UnprotectResult {
    const pkt = Buffer.from(srtcp);
    const tagLen = this.info.rtcpTagLength;
    if (pkt.length < 8 + 4 + tagLen) return { ok: false, error: 'parse_err' };
    if (this.info.aead) return this.unprotectRtcpAead(pkt);
    const authed = pkt.subarray(0, pkt.length - tagLen);
    const tag = pkt.subarray(pkt.length - tagLen);
    const expect = createHmac('sha1', this.rtcpKeys.authKey).update(authed).digest().subarray(0, tagLen);
    if (!timingSafeEqual(tag, expect)) return { ok: false, error: 'auth_fail' };
    const word = authed.readUInt32BE(authed.length - 4);
    const encrypted = (word & 0x80000000) !== 0;
    const index = word & 0x7fffffff;
    const ssrc = pkt.readUInt32BE(4);
    const s = this.stream(ssrc);
    const r = s.rtcpReplay.check(index);
    if (r !== 'ok') return { ok: false, error: r };
    const body = authed.subarray(0, authed.length - 4);
    let out = Buffer.from(body);
    if (encrypted) {
      const dec = aesCtr(this.rtcpKeys.encKey, packetIv(this.rtcpKeys.salt, ssrc, index), body.subarray(8));
      out = Buffer.concat([body.subarray(0, 8), dec]);
    }
    s.rtcpReplay.add(index);
    return { ok: true, packet: out, index };
  }

  /** RFC 7714 9: header | ciphertext | tag | E||index. Every suite here encrypts SRTCP,
   *  so a cleared E flag is refused (cant_check), as the engine does. */
  private unprotectRtcpAead(pkt: Buffer): UnprotectResult {
    const word = pkt.readUInt32BE(pkt.length - 4);
    if ((word & 0x80000000) === 0) return { ok: false, error: 'cant_check' };
    const index = word & 0x7fffffff;
    const ssrc = pkt.readUInt32BE(4);
    const s = this.stream(ssrc);
    const r = s.rtcpReplay.check(index);
    if (r !== 'ok') return { ok: false, error: r };
    const iv = gcmRtcpIv(this.rtcpKeys.salt, ssrc, index);
    const aad = Buffer.concat([pkt.subarray(0, 8), pkt.subarray(pkt.length - 4)]);
    const plain = gcmOpen(this.rtcpKeys.encKey, iv, aad, pkt.subarray(8, pkt.length - 4));
    if (!plain) return { ok: false, error: 'auth_fail' };
    s.rtcpReplay.add(index);
    return { ok: true, packet: Buffer.concat([pkt.subarray(0, 8), plain]), index };
  }
}
