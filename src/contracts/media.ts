/**
 * What signaling (SIP and SCCP inspection) asks of media termination: the one contract between
 * them. The media service implements it; the inspectors' tests may script it.
 */
import type { SrtpProfile } from '../../wasm/srtp';

export type { SrtpProfile };

/** Where a leg listens: the media-termination address and its RTP/RTCP port pair. */
export interface LegEndpoint {
  address: string;
  /** What a phone is told instead of `address` when a NAT maps it (outside leg only; absent: `address`). */
  advertised?: string;
  rtpPort: number;
  rtcpPort: number;
}

export interface MediaSessionInfo {
  id: string;
  /** Leg facing the remote phone. */
  outside: LegEndpoint;
  /** Leg facing the UCM-side peer. */
  inside: LegEndpoint;
}

export interface UpdateLegConfig {
  /** Omitted: keep the current destination and latch (re-INVITE without an address change). */
  peer?: { address: string; rtpPort: number; rtcpPort?: number };
  mode: 'rtp' | 'srtp';
  /** recvKey: master key||salt the peer sends with; sendKey: the one the appliance sends with. */
  srtp?: { profile: SrtpProfile; recvKey: Uint8Array; sendKey: Uint8Array };
}

/** The SDP direction of a session's stream (RFC 4566 §6). */
export type MediaDirection = 'sendrecv' | 'sendonly' | 'recvonly' | 'inactive';

export interface AllocateRequest {
  callId: string;
  outsideInterface?: string;
  insideInterface?: string;
  /**
   * Who asks (issue 12): admission counts the session against this phone (device name from its
   * certificate) and this signaling connection (e.g. "sip-12"); absent, it is not counted there.
   */
  phone?: string;
  connection?: string;
  /** Asked by the media idle timeout: a live dialog's session is not reaped. */
  dialogAlive?: () => boolean;
  /**
   * The offering side's leg as signaling already knows it: bound and programmed in one worker
   * round trip (bench/RESULTS.md, bench:sip). The updateLeg that follows with the same config
   * then costs nothing; one the service cannot apply here is left to that updateLeg to report.
   */
  first?: { leg: 'outside' | 'inside'; cfg: UpdateLegConfig };
}

export interface MediaAllocator {
  allocate(req: AllocateRequest): Promise<MediaSessionInfo>;
  updateLeg(id: string, leg: 'outside' | 'inside', cfg: UpdateLegConfig): Promise<void>;
  release(id: string, reason: string): Promise<void>;
  /**
   * Release without waiting for the worker: the session is gone at once (has() false, not
   * counted against any cap); its sockets close with the worker's next request or within a
   * few ms, and its ports and slot come back then. One worker round trip less per call
   * (bench:sip). Optional: callers fall back to release().
   */
  releaseLater?(id: string, reason: string): void;
  /** False once the session was released (idle timer, operator): the next offer re-creates it. Optional for scripted allocators. */
  has?(id: string): boolean;
  /** A held call (sendonly/recvonly/inactive) is not idle media. */
  setDirection?(id: string, direction: MediaDirection): void;
  /**
   * A BYE or CANCEL for a call this node holds no dialog of (issue 14): release the sessions
   * taken over from a dead node for that Call-ID that the same phone (device name from its
   * certificate) owned, never another phone's. Returns how many. Optional for scripted allocators.
   */
  releaseTakenOver?(callId: string, phone: string, reason: string): Promise<number>;
  /**
   * A re-INVITE (or UPDATE) for a call this node holds no dialog of (issue 14): the session taken
   * over from a dead node for that Call-ID and owned by the same phone, for signaling to carry on
   * with (same ports, same keys: no new allocation, no re-keying). `dialogAlive` replaces the
   * owner's, as for a session signaling allocated. Optional for scripted allocators.
   */
  claimTakenOver?(callId: string, phone: string, dialogAlive?: () => boolean): TakenOverSession | undefined;
}

/** A session taken over, as signaling continues it: its endpoints and the keys it sends with per leg. */
export interface TakenOverSession {
  info: MediaSessionInfo;
  sendKeys: Partial<Record<'outside' | 'inside', { profile: SrtpProfile; key: Uint8Array }>>;
}

/**
 * Media replication (issue 14): where the active node's media service hands each session's
 * snapshot (src/media/snapshot.ts) on create, update and, at a bounded rate, as its SRTP streams
 * move. The bytes hold master keys in clear: the sink seals them before they leave the process.
 */
export interface MediaReplicaSink {
  publish(id: string, snapshot: Uint8Array): void;
  forget(id: string): void;
}

/** A standby's media service takes over a session another node published. */
export interface MediaTakeover {
  /** Binds the session's addresses and ports (retrying while the dead node's sockets linger) and relays on; returns the local id. */
  adopt(snapshot: Uint8Array, from: string): Promise<string>;
}
