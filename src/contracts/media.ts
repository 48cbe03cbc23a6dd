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

export interface MediaAllocator {
  allocate(req: { callId: string; outsideInterface?: string; insideInterface?: string }): Promise<MediaSessionInfo>;
  updateLeg(id: string, leg: 'outside' | 'inside', cfg: UpdateLegConfig): Promise<void>;
  release(id: string, reason: string): Promise<void>;
}
