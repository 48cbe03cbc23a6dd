/** What the state directory gives the rest of the appliance once opened (see state.ts). */
import type { X509Certificate } from 'node:crypto';

/** A certificate with its private key (PEM), as the appliance presents or signs with it. */
export interface Credential {
  name: string;
  certPem: string;
  keyPem: string;
  cert: X509Certificate;
}

export interface ApplianceState {
  /** Absolute path of the state directory. */
  dir: string;
  /** Trustpoints by name: generated ones carry their key; imported ones may not. */
  trustpoints: Map<string, { name: string; certPem: string; cert: X509Certificate; keyPem?: string }>;
  /** SAST credentials `_internal_<ctl-name>_SAST_<n>`, n = 0..sast-count-1. */
  sast: Credential[];
  /** Local CA that signs the LDCs presented to a mixed-mode UCM, when the policy has one. */
  ldcIssuer?: Credential;
  /** The key pair every LDC is minted for (PEM), when there is an LDC issuer. */
  ldcKeyPem?: string;
  /** PEM certificates phones' certificates must chain to (tls-proxy.client-trustpoints and CTL import). */
  clientTrustAnchors: string[];
}
