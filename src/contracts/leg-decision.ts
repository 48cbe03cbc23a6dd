/**
 * THE decision table: per cluster mode and the phone's original security mode on UCM, what
 * the upstream signaling leg is and what media each leg carries. Nothing else in the
 * appliance decides this (docs/architecture.md).
 *
 * Behaviour from the ASA phone proxy (ASA phone proxy guide, "Phone Proxy Functionality";
 * docs/references.md): the remote phone is always forced to encrypted mode, so its leg is
 * always TLS + SRTP; the upstream leg follows what UCM expects from that phone.
 */
export type ClusterMode = 'nonsecure' | 'mixed';
export type PhoneSecurityMode = 'nonsecure' | 'authenticated' | 'encrypted';
export type UpstreamTransport = 'tcp' | 'tls';
export type MediaMode = 'rtp' | 'srtp';

export interface LegDecision {
  /** tcp: plain TCP to the member's sip-port; tls: TLS to sip-tls-port presenting the phone's LDC. */
  upstream: UpstreamTransport;
  /** Media on the leg facing the remote phone: always SRTP. */
  outsideMedia: 'srtp';
  /** Media on the leg facing the UCM-side peer. */
  insideMedia: MediaMode;
  /** The phone mode the decision was made for (after defaulting an unknown phone). */
  phoneMode: PhoneSecurityMode;
  /** True when no secure-phones record existed and the default below was used. */
  defaulted: boolean;
}

const TABLE: Record<ClusterMode, Record<PhoneSecurityMode, Pick<LegDecision, 'upstream' | 'insideMedia'>>> = {
  // A nonsecure cluster only speaks TCP and RTP, whatever the phone was configured as.
  nonsecure: {
    nonsecure: { upstream: 'tcp', insideMedia: 'rtp' },
    authenticated: { upstream: 'tcp', insideMedia: 'rtp' },
    encrypted: { upstream: 'tcp', insideMedia: 'rtp' },
  },
  mixed: {
    nonsecure: { upstream: 'tcp', insideMedia: 'rtp' },
    authenticated: { upstream: 'tls', insideMedia: 'rtp' },
    encrypted: { upstream: 'tls', insideMedia: 'srtp' },
  },
};

/**
 * Unknown phone (no secure-phones record: the phone never fetched its config through the
 * appliance, or the record aged out): on a nonsecure cluster it can only be nonsecure; on a
 * mixed cluster we assume `authenticated`, i.e. a TLS leg with an LDC but RTP inside. TLS is
 * the safe side for signaling (UCM accepts a TLS phone it expects on TCP only if the phone's
 * profile allows it, and never leaks signaling in clear), while RTP inside is what both
 * authenticated and nonsecure phones expect on the media side.
 */
export const UNKNOWN_PHONE_DEFAULT: Record<ClusterMode, PhoneSecurityMode> = {
  nonsecure: 'nonsecure',
  mixed: 'authenticated',
};

export function decideLegs(cluster: ClusterMode, phoneMode: PhoneSecurityMode | undefined): LegDecision {
  const mode = phoneMode ?? UNKNOWN_PHONE_DEFAULT[cluster];
  const cell = TABLE[cluster][mode];
  return { ...cell, outsideMedia: 'srtp', phoneMode: mode, defaulted: phoneMode === undefined };
}
