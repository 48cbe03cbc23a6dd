/**
 * THE decision table: per cluster mode, the phone's security mode on UCM, and the mode the
 * appliance holds the remote phone in, what each leg is: signaling toward the phone and toward
 * UCM, media on the outside and inside legs. Nothing else in the appliance decides this
 * (docs/architecture.md).
 *
 * Behaviour from the ASA phone proxy (ASA phone proxy guide, "Phone Proxy Functionality",
 * "Cisco IP Communicator Prerequisites"; docs/references.md): a remote phone is forced to
 * encrypted mode (TLS + SRTP toward it); CIPC under `cipc security-mode authenticated` is
 * forced to authenticated (TLS, no SRTP: it has no voice encryption); a phone on a nonsecure
 * listener (LSC provisioning, CIPC before its LSC) is nonsecure (TCP + RTP). The upstream leg
 * follows what UCM expects from that phone.
 */
export type ClusterMode = 'nonsecure' | 'mixed';
export type PhoneSecurityMode = 'nonsecure' | 'authenticated' | 'encrypted';
export type UpstreamTransport = 'tcp' | 'tls';
export type MediaMode = 'rtp' | 'srtp';

export interface LegDecision {
  /** tcp: plain TCP to the member's sip-port; tls: TLS to sip-tls-port presenting the phone's LDC. */
  upstream: UpstreamTransport;
  /** Signaling toward the phone: TLS on the secure listeners, TCP on the nonsecure ones. */
  phoneSignaling: UpstreamTransport;
  /** Media on the leg facing the remote phone. */
  outsideMedia: MediaMode;
  /** Media on the leg facing the UCM-side peer. */
  insideMedia: MediaMode;
  /** The phone's mode on UCM the decision was made for (after defaulting an unknown phone). */
  phoneMode: PhoneSecurityMode;
  /** The mode the appliance holds the remote phone in. */
  forcedMode: PhoneSecurityMode;
  /** True when no secure-phones record existed and the default below was used. */
  defaulted: boolean;
}

type UpstreamCell = Pick<LegDecision, 'upstream' | 'insideMedia'>;

/** The UCM side, for a phone on a secure listener (TLS toward the phone). */
const UPSTREAM: Record<ClusterMode, Record<PhoneSecurityMode, UpstreamCell>> = {
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
 * The phone side per forced mode. A nonsecure phone also goes upstream over TCP with RTP inside,
 * whatever UCM has on record: it presented no certificate, so there is no device name to mint
 * an LDC for when the upstream connection opens, and UCM sees what the phone really is.
 */
const PHONE_SIDE: Record<PhoneSecurityMode, Pick<LegDecision, 'phoneSignaling' | 'outsideMedia'>> = {
  encrypted: { phoneSignaling: 'tls', outsideMedia: 'srtp' },
  authenticated: { phoneSignaling: 'tls', outsideMedia: 'rtp' },
  nonsecure: { phoneSignaling: 'tcp', outsideMedia: 'rtp' },
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

/**
 * What the appliance forces a phone on a secure listener to when no record says otherwise: the
 * phone proxy's whole point (a record from TFTP says `authenticated` for CIPC under
 * `cipc security-mode authenticated`).
 */
export const DEFAULT_FORCED_MODE: PhoneSecurityMode = 'encrypted';

export function decideLegs(
  cluster: ClusterMode,
  phoneMode: PhoneSecurityMode | undefined,
  forcedMode: PhoneSecurityMode = DEFAULT_FORCED_MODE,
): LegDecision {
  const mode = phoneMode ?? UNKNOWN_PHONE_DEFAULT[cluster];
  const upstream: UpstreamCell =
    forcedMode === 'nonsecure' ? { upstream: 'tcp', insideMedia: 'rtp' } : UPSTREAM[cluster][mode];
  return { ...upstream, ...PHONE_SIDE[forcedMode], phoneMode: mode, forcedMode, defaulted: phoneMode === undefined };
}
