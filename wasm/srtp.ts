/**
 * TypeScript binding for libsrtp compiled to WebAssembly (wasm/srtp.wasm, built by
 * wasm/build.sh from Debian's libsrtp2 source with Debian's emscripten).
 *
 * Packet path (protect/unprotect): the caller copies a datagram into a fixed slot of
 * WebAssembly memory (`engine.slot(i)`, a Buffer created once at load), calls
 * protect/unprotect, and gets the new length or a negative code back. Nothing on that
 * path allocates in JS or throws; memory is fixed at instantiation and never grows, so
 * the slot Buffers stay valid for the life of the thread (see docs/architecture.md, "The hot
 * path"). Error codes are integers; `srtpErrorName` maps them to static reason strings
 * for counters and rate-limited logs.
 *
 * One engine per thread: `SrtpEngine.load()` compiles and instantiates the module once
 * and caches it in this module's scope (each worker thread has its own).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { SrtpStreamState } from './stream-state';

export type { SrtpStreamState } from './stream-state';

export type SrtpProfile =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'NULL_HMAC_SHA1_80'
  | 'AEAD_AES_128_GCM'
  | 'AEAD_AES_256_GCM';

export interface SrtpProfileInfo {
  /** master key bytes (n_e of the key derivation input) */
  keyLength: number;
  /** master salt bytes (112 bits for AES-CM, 96 bits for AES-GCM: RFC 7714 12) */
  saltLength: number;
  /** SRTP authentication tag bytes appended by protectRtp */
  rtpTagLength: number;
  /** SRTCP authentication tag bytes */
  rtcpTagLength: number;
  /** false for NULL_HMAC_SHA1_80 (authentication only) */
  encrypted: boolean;
  /** AEAD (RFC 7714): the tag comes from AES-GCM, and on SRTCP it precedes the 4-byte
   *  E||index word (RFC 7714 9.1) instead of following it (RFC 3711 3.4) */
  aead: boolean;
  /** profile id understood by the C shim (wasm/shim.c, pp_policy) */
  wasmId: number;
}

/** The suites, as one table (RFC 4568 6.2, RFC 6188, RFC 7714 14). The _32 suite keeps
 *  an 80-bit tag on SRTCP (RFC 4568 6.2.2); the NULL suite still derives keys with
 *  AES-128. AEAD_AES_*_GCM: libsrtp's AEAD packet path with the shim's AES-GCM cipher
 *  (wasm/README.md), 12-byte salt, 16-byte tag on SRTP and SRTCP. */
export const SRTP_PROFILES: Readonly<Record<SrtpProfile, Readonly<SrtpProfileInfo>>> = Object.freeze({
  AES_CM_128_HMAC_SHA1_80: Object.freeze({
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
    encrypted: true,
    aead: false,
    wasmId: 0,
  }),
  AES_CM_128_HMAC_SHA1_32: Object.freeze({
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 4,
    rtcpTagLength: 10,
    encrypted: true,
    aead: false,
    wasmId: 1,
  }),
  AES_256_CM_HMAC_SHA1_80: Object.freeze({
    keyLength: 32,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
    encrypted: true,
    aead: false,
    wasmId: 2,
  }),
  NULL_HMAC_SHA1_80: Object.freeze({
    keyLength: 16,
    saltLength: 14,
    rtpTagLength: 10,
    rtcpTagLength: 10,
    encrypted: false,
    aead: false,
    wasmId: 3,
  }),
  AEAD_AES_128_GCM: Object.freeze({
    keyLength: 16,
    saltLength: 12,
    rtpTagLength: 16,
    rtcpTagLength: 16,
    encrypted: true,
    aead: true,
    wasmId: 4,
  }),
  AEAD_AES_256_GCM: Object.freeze({
    keyLength: 32,
    saltLength: 12,
    rtpTagLength: 16,
    rtcpTagLength: 16,
    encrypted: true,
    aead: true,
    wasmId: 5,
  }),
});

/** Profile by shim id, for updateKey (sessions remember their id, not their name). */
const PROFILE_BY_ID: readonly SrtpProfile[] = (Object.keys(SRTP_PROFILES) as SrtpProfile[]).reduce<SrtpProfile[]>(
  (a, name) => {
    a[SRTP_PROFILES[name].wasmId] = name;
    return a;
  },
  [],
);

// Return codes: -srtp_err_status_t from libsrtp (include/srtp.h), then the shim's own.
export const SRTP_OK = 0;
export const SRTP_ERR_FAIL = -1;
export const SRTP_ERR_BAD_PARAM = -2;
export const SRTP_ERR_ALLOC = -3;
export const SRTP_ERR_INIT = -5;
export const SRTP_ERR_AUTH = -7;
export const SRTP_ERR_CIPHER = -8;
export const SRTP_ERR_REPLAY = -9;
export const SRTP_ERR_REPLAY_OLD = -10;
export const SRTP_ERR_NO_CTX = -13;
/** SRTCP: the E flag does not match the profile (libsrtp checks it before the tag, so
 *  a forged or truncated packet can get this instead of auth_fail) */
export const SRTP_ERR_CANT_CHECK = -14;
export const SRTP_ERR_KEY_EXPIRED = -15;
export const SRTP_ERR_PARSE = -21;
export const SRTP_ERR_BAD_MKI = -25;
export const SRTP_ERR_PKT_IDX_OLD = -26;
export const SRTP_ERR_PKT_IDX_ADV = -27;
/** length above the slot (or, for protect, above maxProtectInput) */
export const SRTP_ERR_TOO_LONG = -64;
/** slot index outside 0..slotCount-1 */
export const SRTP_ERR_BAD_SLOT = -65;
/** first byte's version bits are not 2 */
export const SRTP_ERR_BAD_VERSION = -66;
/** shorter than an RTP (12) or RTCP (8) header */
export const SRTP_ERR_TOO_SHORT = -67;
/** all session handles in use */
export const SRTP_ERR_TABLE_FULL = -68;
/** the WebAssembly module trapped (a bug): the engine fails closed, see `trapped` */
export const SRTP_ERR_TRAP = -69;

const ERROR_NAMES: ReadonlyMap<number, string> = new Map([
  [SRTP_OK, 'ok'],
  [SRTP_ERR_FAIL, 'fail'],
  [SRTP_ERR_BAD_PARAM, 'bad_param'],
  [SRTP_ERR_ALLOC, 'alloc_fail'],
  [-4, 'dealloc_fail'],
  [SRTP_ERR_INIT, 'init_fail'],
  [-6, 'terminus'],
  [SRTP_ERR_AUTH, 'auth_fail'],
  [SRTP_ERR_CIPHER, 'cipher_fail'],
  [SRTP_ERR_REPLAY, 'replay'],
  [SRTP_ERR_REPLAY_OLD, 'replay_old'],
  [-11, 'algo_fail'],
  [-12, 'no_such_op'],
  [SRTP_ERR_NO_CTX, 'no_ctx'],
  [SRTP_ERR_CANT_CHECK, 'cant_check'],
  [SRTP_ERR_KEY_EXPIRED, 'key_expired'],
  [SRTP_ERR_PARSE, 'parse_err'],
  [SRTP_ERR_BAD_MKI, 'bad_mki'],
  [SRTP_ERR_PKT_IDX_OLD, 'pkt_idx_old'],
  [SRTP_ERR_PKT_IDX_ADV, 'pkt_idx_adv'],
  [SRTP_ERR_TOO_LONG, 'too_long'],
  [SRTP_ERR_BAD_SLOT, 'bad_slot'],
  [SRTP_ERR_BAD_VERSION, 'bad_version'],
  [SRTP_ERR_TOO_SHORT, 'too_short'],
  [SRTP_ERR_TABLE_FULL, 'table_full'],
  [SRTP_ERR_TRAP, 'trap'],
]);

/** Static reason string for a return code ('ok' for any non-negative value). */
export function srtpErrorName(code: number): string {
  if (code >= 0) return 'ok';
  return ERROR_NAMES.get(code) ?? 'unknown';
}

// The project compiles with lib ES2022 and no DOM, where TypeScript has no WebAssembly
// declarations: describe the little used here instead of adding a global.
type WasmModule = object;
interface WasmApi {
  Module: new (bytes: Uint8Array) => WasmModule;
  Instance: new (module: WasmModule, imports: Record<string, Record<string, unknown>>) => { exports: unknown };
}
const WA = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** The module's exports, as wasm/shim.c declares them. */
interface ShimExports {
  memory: { readonly buffer: ArrayBuffer };
  _initialize?: () => void;
  pp_init(): number;
  pp_slot_base(): number;
  pp_slot_size(): number;
  pp_slot_count(): number;
  pp_max_in(): number;
  pp_key_buf(): number;
  pp_state_buf(): number;
  pp_max_sessions(): number;
  pp_heap_used(): number;
  pp_session_create(profile: number, outbound: number, keyLen: number): number;
  pp_session_destroy(h: number): number;
  pp_session_update(h: number, profile: number, outbound: number, keyLen: number): number;
  pp_protect_rtp(h: number, slot: number, len: number): number;
  pp_unprotect_rtp(h: number, slot: number, len: number): number;
  pp_protect_rtcp(h: number, slot: number, len: number): number;
  pp_unprotect_rtcp(h: number, slot: number, len: number): number;
  pp_stream_state(h: number, ssrc: number): number;
  pp_xfer_buf(): number;
  pp_session_export(h: number): number;
  pp_stream_import(h: number): number;
  pp_aes_cm_kat(keyLen: number, len: number): number;
  pp_kat_session_keys(h: number, ssrc: number, rtcpIndex: number): number;
}

export const WASM_FILE = 'srtp.wasm';
export const MANIFEST_FILE = 'srtp.wasm.json';

export interface SrtpWasmManifest {
  file: string;
  sha256: string;
  bytes: number;
  libsrtp: string;
  debian_source: string;
  emscripten: string;
  flags: string;
}

/** Where the committed module lives: next to this file (ts-jest runs from wasm/),
 *  or two levels up from dist/wasm/ (compiled code). */
export function findWasmFile(name: string = WASM_FILE): string {
  const here = path.join(__dirname, name);
  if (existsSync(here)) return here;
  return path.resolve(__dirname, '../../wasm', name);
}

export function readManifest(): SrtpWasmManifest {
  return JSON.parse(readFileSync(findWasmFile(MANIFEST_FILE), 'utf8')) as SrtpWasmManifest;
}

let cachedModule: WasmModule | undefined;
let cachedEngine: SrtpEngine | undefined;

function compileCommitted(): WasmModule {
  if (cachedModule) return cachedModule;
  // SRTP_WASM_PATH lets CI run the known-answer tests against a freshly rebuilt module.
  const override = process.env.SRTP_WASM_PATH;
  const file = override ? path.resolve(override) : findWasmFile();
  const bytes = readFileSync(file);
  if (!override) {
    const manifest = readManifest();
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (sha !== manifest.sha256) {
      throw new Error(
        `${file}: SHA-256 ${sha} does not match ${MANIFEST_FILE} (${manifest.sha256}); run wasm/build.sh`,
      );
    }
  }
  cachedModule = new WA.Module(bytes);
  return cachedModule;
}

const SESSION_OUTBOUND = 0x80;
/** pp_xfer in wasm/shim.c: PP_XFER_MAX records of PP_XFER_WORDS words. */
const XFER_WORDS = 16;
const XFER_MAX = 8;

export class SrtpEngine {
  /** max bytes in a slot (packet plus tag room) */
  readonly slotSize: number;
  readonly slotCount: number;
  /** largest packet protectRtp/protectRtcp accept (room is kept for tag and SRTCP index) */
  readonly maxProtectInput: number;
  readonly maxSessions: number;
  /** total WebAssembly memory, fixed at instantiation */
  readonly memoryBytes: number;
  /** WebAssembly heap bytes used by one inbound+outbound session pair, each carrying one
   *  live stream (template + cloned stream), measured at load. */
  readonly bytesPerStreamPair: number;
  /** true once the module trapped; every call then returns SRTP_ERR_TRAP (fail closed) */
  trapped = false;

  private readonly x: ShimExports;
  private readonly slots: Buffer[];
  private readonly keyBuf: Buffer;
  private readonly state: Uint32Array;
  /** pp_xfer: stream records of pp_session_export / pp_stream_import (wasm/shim.c) */
  private readonly xfer: Uint32Array;
  /** per session table index: profile id | SESSION_OUTBOUND, for updateKey */
  private readonly sessionInfo: Uint8Array;

  /** The thread's engine over the committed module (compiled and instantiated once). */
  static load(): SrtpEngine {
    if (!cachedEngine) cachedEngine = new SrtpEngine(compileCommitted());
    return cachedEngine;
  }

  /** A separate, uncached engine over another build (benchmarks of build flags). */
  static fromFile(file: string): SrtpEngine {
    return new SrtpEngine(new WA.Module(readFileSync(file)));
  }

  private constructor(module: WasmModule) {
    const instance = new WA.Instance(module, {
      wasi_snapshot_preview1: {
        proc_exit: (code: number) => {
          throw new Error(`libsrtp wasm called proc_exit(${code})`);
        },
      },
    });
    const x = instance.exports as unknown as ShimExports;
    this.x = x;
    if (x._initialize) x._initialize();
    const rc = x.pp_init();
    if (rc !== 0) throw new Error(`libsrtp srtp_init failed: ${srtpErrorName(rc)}`);

    const buf = x.memory.buffer;
    this.memoryBytes = buf.byteLength;
    this.slotSize = x.pp_slot_size();
    this.slotCount = x.pp_slot_count();
    this.maxProtectInput = x.pp_max_in();
    this.maxSessions = x.pp_max_sessions();
    const base = x.pp_slot_base();
    this.slots = [];
    for (let i = 0; i < this.slotCount; i++) {
      this.slots.push(Buffer.from(buf, base + i * this.slotSize, this.slotSize));
    }
    this.keyBuf = Buffer.from(buf, x.pp_key_buf(), 64);
    this.state = new Uint32Array(buf, x.pp_state_buf(), 2);
    this.xfer = new Uint32Array(buf, x.pp_xfer_buf(), XFER_MAX * XFER_WORDS);
    this.sessionInfo = new Uint8Array(this.maxSessions);
    this.bytesPerStreamPair = this.measurePair();
  }

  /** Buffer view over slot i of WebAssembly memory (the same object every call). */
  slot(i: number): Buffer {
    const s = this.slots[i];
    if (s === undefined) throw new RangeError(`slot ${i} outside 0..${this.slotCount - 1}`);
    return s;
  }

  /** New session for every SSRC (ssrc_any) in one direction. Returns a handle >= 0 or a
   *  negative code (SRTP_ERR_BAD_PARAM for an unknown profile or wrong key length). */
  createSession(profile: SrtpProfile, masterKeySalt: Uint8Array, direction: 'inbound' | 'outbound'): number {
    const info = Object.hasOwn(SRTP_PROFILES, profile) ? SRTP_PROFILES[profile] : undefined;
    if (info === undefined) return SRTP_ERR_BAD_PARAM;
    const id = info.wasmId;
    if (direction !== 'inbound' && direction !== 'outbound') return SRTP_ERR_BAD_PARAM;
    const keyLen = info.keyLength + info.saltLength;
    if (masterKeySalt.length !== keyLen) return SRTP_ERR_BAD_PARAM;
    this.keyBuf.set(masterKeySalt);
    const outbound = direction === 'outbound' ? 1 : 0;
    const h = this.call3(this.x.pp_session_create, id, outbound, keyLen);
    if (h >= 0) this.sessionInfo[h & 0xffff] = id | (outbound ? SESSION_OUTBOUND : 0);
    return h;
  }

  destroySession(handle: number): void {
    this.call1(this.x.pp_session_destroy, handle | 0);
  }

  /** New master key and salt for an existing session (same profile). Streams keep their
   *  ROC, sequence and replay state, so the call does not drop. Returns SRTP_OK or a code. */
  updateKey(handle: number, masterKeySalt: Uint8Array): number {
    if (!Number.isInteger(handle) || handle < 0) return SRTP_ERR_NO_CTX;
    const info = this.sessionInfo[handle & 0xffff] ?? 0;
    const id = info & 0x7f;
    const outbound = info & SESSION_OUTBOUND ? 1 : 0;
    const profile = PROFILE_BY_ID[id];
    if (profile === undefined) return SRTP_ERR_NO_CTX;
    const p = SRTP_PROFILES[profile];
    const keyLen = p.keyLength + p.saltLength;
    if (masterKeySalt.length !== keyLen) return SRTP_ERR_BAD_PARAM;
    if (this.trapped) return SRTP_ERR_TRAP;
    this.keyBuf.set(masterKeySalt);
    try {
      return this.x.pp_session_update(handle, id, outbound, keyLen);
    } catch {
      this.keyBuf.fill(0);
      return this.trap();
    }
  }

  // ---- packet path: integers in, integer out, no allocation, no throw ----

  protectRtp(handle: number, slotIndex: number, length: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return this.x.pp_protect_rtp(handle, slotIndex, length);
    } catch {
      return this.trap();
    }
  }

  unprotectRtp(handle: number, slotIndex: number, length: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return this.x.pp_unprotect_rtp(handle, slotIndex, length);
    } catch {
      return this.trap();
    }
  }

  protectRtcp(handle: number, slotIndex: number, length: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return this.x.pp_protect_rtcp(handle, slotIndex, length);
    } catch {
      return this.trap();
    }
  }

  unprotectRtcp(handle: number, slotIndex: number, length: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return this.x.pp_unprotect_rtcp(handle, slotIndex, length);
    } catch {
      return this.trap();
    }
  }

  // ---- control plane ----

  /** ROC and sequence number of the highest packet index seen (inbound) or sent
   *  (outbound) on one SSRC; undefined if the session has no stream for it yet. */
  streamState(handle: number, ssrc: number): { roc: number; seq: number } | undefined {
    const rc = this.call2(this.x.pp_stream_state, handle | 0, ssrc | 0);
    if (rc !== 0) return undefined;
    return { roc: this.state[0] ?? 0, seq: this.state[1] ?? 0 };
  }

  /** Every stream of a session (up to 8; a leg has one per SSRC the peer or relay used):
   *  what a standby needs to continue it (wasm/stream-state.ts). Control plane only. */
  exportStreams(handle: number): SrtpStreamState[] {
    const total = this.call1(this.x.pp_session_export, handle | 0);
    if (total < 0) return [];
    const out: SrtpStreamState[] = [];
    const x = this.xfer;
    for (let i = 0; i < Math.min(total, XFER_MAX); i++) {
      const w = i * XFER_WORDS;
      const word = (k: number) => (x[w + k] ?? 0) >>> 0;
      out.push({
        ssrc: word(0),
        direction: word(1) === 1 ? 'send' : 'receive',
        roc: word(2),
        seq: word(3),
        rtpWindow: [word(4), word(5), word(6), word(7)],
        rtcpIndex: word(8),
        rtcpWindow: [word(9), word(10), word(11), word(12)],
      });
    }
    return out;
  }

  /** Installs a stream state (from exportStreams, on this or another engine) into a session
   *  made from the same profile and key; the stream is created if the session has none for
   *  that SSRC. Returns SRTP_OK or a negative code. */
  importStream(handle: number, s: SrtpStreamState): number {
    const x = this.xfer;
    x.fill(0, 0, XFER_WORDS);
    x[0] = s.ssrc >>> 0;
    x[1] = s.direction === 'send' ? 1 : 2;
    x[2] = s.roc >>> 0;
    x[3] = s.seq;
    x[8] = s.rtcpIndex >>> 0;
    for (let i = 0; i < 4; i++) {
      x[4 + i] = (s.rtpWindow[i] ?? 0) >>> 0;
      x[9 + i] = (s.rtcpWindow[i] ?? 0) >>> 0;
    }
    return this.call1(this.x.pp_stream_import, handle | 0);
  }

  /** Bytes currently allocated on the module's heap (sessions and streams). */
  heapUsed(): number {
    return this.x.pp_heap_used();
  }

  /** Known-answer-test hook: libsrtp's own AES-ICM cipher, key||salt (30 or 46 bytes),
   *  16-byte IV (XORed into salt||0000 as libsrtp does), keystream of `length` bytes.
   *  Uses slots 0 and 1: tests only, never while packets are in flight. */
  aesCmKeystream(keySalt: Uint8Array, iv: Uint8Array, length: number): Buffer {
    const s0 = this.slot(0);
    const s1 = this.slot(1);
    s0.fill(0);
    s0.set(iv.subarray(0, 16));
    s1.fill(0, 0, length);
    this.keyBuf.set(keySalt);
    const n = this.x.pp_aes_cm_kat(keySalt.length, length);
    if (n < 0) throw new Error(`pp_aes_cm_kat: ${srtpErrorName(n)}`);
    return Buffer.from(s1.subarray(0, n));
  }

  /** Known-answer-test hook for RFC 7714 16-17, whose vectors give a session key and
   *  salt, not a master key: install `sessionKeySalt` (28 or 44 bytes) in a GCM session
   *  in place of what libsrtp derived, for its template and for the stream of `ssrc` if it
   *  exists; `rtcpNextIndex` > 0 sets that stream's next SRTCP index. Tests only. */
  katSessionKeys(handle: number, ssrc: number, sessionKeySalt: Uint8Array, rtcpNextIndex = 0): number {
    if (sessionKeySalt.length > this.keyBuf.length) return SRTP_ERR_BAD_PARAM;
    this.keyBuf.set(sessionKeySalt);
    return this.call3(this.x.pp_kat_session_keys, handle | 0, ssrc >>> 0, rtcpNextIndex >>> 0);
  }

  /** A trap (out-of-bounds access, unreachable) means a bug in the module: the shadow
   *  stack and heap may be inconsistent, so the engine fails closed from then on and
   *  every call returns SRTP_ERR_TRAP. The owner should restart the worker. */
  private trap(): number {
    this.trapped = true;
    return SRTP_ERR_TRAP;
  }

  private call1(f: (a: number) => number, a: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return f(a);
    } catch {
      return this.trap();
    }
  }

  private call2(f: (a: number, b: number) => number, a: number, b: number): number {
    if (this.trapped) return SRTP_ERR_TRAP;
    try {
      return f(a, b);
    } catch {
      return this.trap();
    }
  }

  private call3(f: (a: number, b: number, c: number) => number, a: number, b: number, c: number): number {
    if (this.trapped) {
      this.keyBuf.fill(0);
      return SRTP_ERR_TRAP;
    }
    try {
      return f(a, b, c);
    } catch {
      this.keyBuf.fill(0);
      return this.trap();
    }
  }

  /** Heap bytes per inbound+outbound pair, each with one live SSRC stream: 16 pairs are
   *  created, one RTP and one RTCP packet go through each direction, then all is freed. */
  private measurePair(): number {
    const pairs = 16;
    const key = Buffer.alloc(30, 0x5a);
    const slot = this.slots[this.slotCount - 1] as Buffer;
    const before = this.x.pp_heap_used();
    const handles: number[] = [];
    for (let i = 0; i < pairs; i++) {
      const out = this.createSession('AES_CM_128_HMAC_SHA1_80', key, 'outbound');
      const inb = this.createSession('AES_CM_128_HMAC_SHA1_80', key, 'inbound');
      if (out < 0 || inb < 0) throw new Error('bytesPerStreamPair: cannot create sessions');
      handles.push(out, inb);
      slot.fill(0, 0, 172);
      slot[0] = 0x80;
      slot.writeUInt32BE(0x1000 + i, 8);
      let n = this.x.pp_protect_rtp(out, this.slotCount - 1, 172);
      if (this.x.pp_unprotect_rtp(inb, this.slotCount - 1, n) !== 172)
        throw new Error('bytesPerStreamPair: self-test failed');
      slot.fill(0, 0, 28);
      slot[0] = 0x80;
      slot[1] = 200;
      slot.writeUInt16BE(6, 2);
      slot.writeUInt32BE(0x1000 + i, 4);
      n = this.x.pp_protect_rtcp(out, this.slotCount - 1, 28);
      if (this.x.pp_unprotect_rtcp(inb, this.slotCount - 1, n) !== 28)
        throw new Error('bytesPerStreamPair: RTCP self-test failed');
    }
    const after = this.x.pp_heap_used();
    for (const h of handles) this.x.pp_session_destroy(h);
    slot.fill(0);
    return Math.ceil((after - before) / pairs);
  }
}
