/**
 * TLS versions and cipher suites the phone-facing listener accepts (pure).
 *
 * - default: TLS 1.2 or later, ECDHE with AEAD only (forward secrecy, no CBC);
 * - `strict-cipher` (per remote subnet, as CUBE's `crypto signaling ... strict-cipher`):
 *   the AES-128 suites SIP is built around and nothing else — TLS_RSA_WITH_AES_128_CBC_SHA,
 *   SIP's mandatory-to-implement suite (RFC 3261 §26.3.1, RFC 5630), which every SIP phone
 *   has; TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256, the TLS 1.2 suite RFC 7525 §4.2 recommends
 *   (same cipher strength, plus forward secrecy and AEAD, preferred when the phone offers
 *   it); and TLS_AES_128_GCM_SHA256, TLS 1.3's mandatory suite (RFC 8446 §9.1). One suite per
 *   protocol generation, all AES-128: predictable on the wire and interoperable;
 * - `legacy-phones`: adds TLS 1.0/1.1 and AES128-SHA for phones that know nothing newer
 *   (OpenSSL 3 needs security level 0 for TLS < 1.2); the service logs it loudly at start.
 *
 * The leg toward UCM (`tls-proxy.upstream`, issue 13) uses the same table: `strong` is the
 * phone side's default profile, `legacy` its legacy-phones profile; its own `min-version` is
 * the floor (policy-rules: below TLS 1.2 only with legacy).
 */
import type { SecureVersion } from 'node:tls';
import type { TlsProxy, TlsUpstream } from '../config/policy-schema';

export const STRONG_CIPHERS = [
  'TLS_AES_128_GCM_SHA256',
  'TLS_AES_256_GCM_SHA384',
  'TLS_CHACHA20_POLY1305_SHA256',
  'ECDHE-ECDSA-AES128-GCM-SHA256',
  'ECDHE-RSA-AES128-GCM-SHA256',
  'ECDHE-ECDSA-AES256-GCM-SHA384',
  'ECDHE-RSA-AES256-GCM-SHA384',
  'ECDHE-ECDSA-CHACHA20-POLY1305',
  'ECDHE-RSA-CHACHA20-POLY1305',
].join(':');

export const STRICT_CIPHERS = ['TLS_AES_128_GCM_SHA256', 'ECDHE-RSA-AES128-GCM-SHA256', 'AES128-SHA'].join(':');

export interface CipherProfile {
  minVersion: SecureVersion;
  ciphers: string;
  /** What the log says this profile is. */
  label: 'strong' | 'strict' | 'legacy' | 'custom';
}

export function cipherProfile(
  tls: Pick<TlsProxy, 'min-version' | 'ciphers' | 'legacy-phones'>,
  strict: boolean,
): CipherProfile {
  const minVersion: SecureVersion = tls['min-version'];
  if (strict) {
    // Strict never goes below TLS 1.2, even when legacy phones are allowed elsewhere.
    const floor: SecureVersion = minVersion === 'TLSv1.3' ? 'TLSv1.3' : 'TLSv1.2';
    return { minVersion: floor, ciphers: STRICT_CIPHERS, label: 'strict' };
  }
  const base = tls.ciphers ?? STRONG_CIPHERS;
  if (tls['legacy-phones']) return { minVersion: 'TLSv1', ciphers: `${base}:AES128-SHA:@SECLEVEL=0`, label: 'legacy' };
  return { minVersion, ciphers: base, label: tls.ciphers ? 'custom' : 'strong' };
}

/** The UCM leg's profile: the phone side's default or legacy row, with the upstream's own floor. */
export function upstreamCipherProfile(up: TlsUpstream): CipherProfile {
  const row = cipherProfile({ 'min-version': up['min-version'], 'legacy-phones': up.ciphers === 'legacy' }, false);
  return { ...row, minVersion: up['min-version'] };
}
