/**
 * What SIP inspection needs from media termination (src/media/service.ts, service 'media').
 * Declared here structurally so the inspector can be tested against a scripted relay and run
 * against the real media service without importing it.
 */
export type SrtpProfileName =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'NULL_HMAC_SHA1_80';

export interface MediaLegAddress {
  address: string;
  rtpPort: number;
  rtcpPort: number;
}

export interface MediaAllocation {
  id: string | number;
  /** Leg facing the remote phone. */
  outside: MediaLegAddress;
  /** Leg facing the UCM-side peer. */
  inside: MediaLegAddress;
}

export interface MediaLegUpdate {
  peer?: { address: string; rtpPort: number; rtcpPort?: number };
  mode: 'rtp' | 'srtp';
  /** recvKey: master key||salt the peer sends with; sendKey: the one the appliance sends with. */
  srtp?: { profile: SrtpProfileName; recvKey: Buffer; sendKey: Buffer };
}

export interface MediaAllocator {
  allocate(req: { callId: string; outsideInterface?: string; insideInterface?: string }): Promise<MediaAllocation>;
  updateLeg(id: MediaAllocation['id'], leg: 'outside' | 'inside', update: MediaLegUpdate): Promise<void>;
  release(id: MediaAllocation['id'], reason: string): Promise<void>;
}
