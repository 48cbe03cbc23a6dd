/**
 * What the packet path needs from the SRTP engine (wasm/srtp.ts, libsrtp in WebAssembly):
 * packet slots in WebAssembly memory and in-place protect/unprotect on integer handles.
 * Loaded lazily, once per worker thread, on the first SRTP leg.
 */

import type { SrtpProfile } from '../../wasm/srtp';
import type { SrtpStreamState } from '../../wasm/stream-state';

export type { SrtpProfile };

export interface PacketEngine {
  readonly slotSize: number;
  readonly slotCount: number;
  /** Largest packet protect accepts (slot size less tag room). */
  readonly maxProtectInput?: number;
  slot(i: number): Buffer;
  createSession(profile: SrtpProfile, masterKeySalt: Uint8Array, direction: 'inbound' | 'outbound'): number;
  destroySession(handle: number): void;
  /** New master key for a live session; stream state (ROC, replay window) is kept. */
  updateKey?(handle: number, masterKeySalt: Uint8Array): number;
  /** ROC and highest sequence number of one SSRC's stream (control plane only: allocates). */
  streamState(handle: number, ssrc: number): { roc: number; seq: number } | undefined;
  /** Every stream's state, for a standby (issue 14; control plane only). */
  exportStreams?(handle: number): SrtpStreamState[];
  importStream?(handle: number, state: SrtpStreamState): number;
  protectRtp(handle: number, slotIndex: number, length: number): number;
  unprotectRtp(handle: number, slotIndex: number, length: number): number;
  protectRtcp(handle: number, slotIndex: number, length: number): number;
  unprotectRtcp(handle: number, slotIndex: number, length: number): number;
}

/** The engine's negative result codes the packet path tells apart. */
export interface EngineCodes {
  auth: number;
  replay: number;
  replayOld: number;
}

export interface LoadedEngine {
  engine: PacketEngine;
  codes: EngineCodes;
  errorName(code: number): string;
}

interface SrtpModule {
  SrtpEngine: { load(): PacketEngine };
  SRTP_PROFILES: Record<SrtpProfile, { keyLength: number; saltLength: number }>;
  SRTP_ERR_AUTH: number;
  SRTP_ERR_REPLAY: number;
  SRTP_ERR_REPLAY_OLD: number;
  srtpErrorName(code: number): string;
}

let loaded: LoadedEngine | undefined;
let srtpModule: SrtpModule | undefined;

function binding(): SrtpModule {
  // Same relative path from src/media (ts-jest) and dist/src/media (workers).
  srtpModule ??= require('../../wasm/srtp') as SrtpModule;
  return srtpModule;
}

/** Whether the engine has this suite (its table of suites is the one list of them). */
export function isSrtpProfile(name: string): name is SrtpProfile {
  return Object.hasOwn(binding().SRTP_PROFILES, name);
}

/** Master key + salt bytes of a profile, for checks at the control plane (no engine needed). */
export function keySaltLength(profile: SrtpProfile): number {
  const s = binding().SRTP_PROFILES[profile];
  return s.keyLength + s.saltLength;
}

/** The engine of this thread (compiled and instantiated on first use). */
export function loadEngine(): LoadedEngine {
  if (loaded) return loaded;
  const m = binding();
  const engine = m.SrtpEngine.load();
  loaded = {
    engine,
    codes: { auth: m.SRTP_ERR_AUTH, replay: m.SRTP_ERR_REPLAY, replayOld: m.SRTP_ERR_REPLAY_OLD },
    errorName: m.srtpErrorName,
  };
  return loaded;
}
