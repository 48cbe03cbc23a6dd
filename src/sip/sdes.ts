/**
 * SDES `a=crypto` attributes (RFC 4568 §9.1):
 *
 *   a=crypto:<tag> <crypto-suite> <key-params> [<session-params>]
 *   key-params = "inline:" <base64(master key || master salt)> ["|" lifetime] ["|" MKI ":" length]
 *
 * We know the suites the media service implements: RFC 4568 6.2's AES_CM_128 suites,
 * RFC 6188's AES_256_CM_HMAC_SHA1_80 and RFC 7714 14.1's AEAD_AES_128_GCM /
 * AEAD_AES_256_GCM. Which of them a leg accepts is the caller's choice (parseCryptoFor):
 * by default the AES-CM suites only, the set every phone and cluster took before the GCM
 * suites existed, so a GCM line is refused as "not enabled" until the SIP inspector
 * decides per leg that both ends can use it. Lifetime is parsed and validated
 * (decimal or 2^n, RFC 4568 §6.1) and otherwise ignored: the appliance never sends more
 * packets in a call than the phones' 2^31 lifetimes. MKI and session parameters
 * (UNENCRYPTED_SRTP, KDR, ...) change the packet format or key derivation, which the media
 * path does not do, so such lines are refused with a reason; the caller picks another line.
 */

export type SdesSuite =
  | 'AES_CM_128_HMAC_SHA1_80'
  | 'AES_CM_128_HMAC_SHA1_32'
  | 'AES_256_CM_HMAC_SHA1_80'
  | 'AEAD_AES_128_GCM'
  | 'AEAD_AES_256_GCM';

/** Master key + salt length in bytes per suite (RFC 4568 §6.2, RFC 6188 §7.1; RFC 7714 §12
 *  and §14.1: a 128- or 256-bit key with a 96-bit salt). */
export const SDES_KEY_BYTES: Record<SdesSuite, number> = {
  AES_CM_128_HMAC_SHA1_80: 30,
  AES_CM_128_HMAC_SHA1_32: 30,
  AES_256_CM_HMAC_SHA1_80: 46,
  AEAD_AES_128_GCM: 28,
  AEAD_AES_256_GCM: 44,
};

/** What parseCrypto accepts unless told otherwise: the AES-CM suites. */
export const SDES_DEFAULT_SUITES: readonly SdesSuite[] = Object.freeze([
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
] as const);

/** The RFC 7714 suites, for a leg whose two ends can both use them. */
export const SDES_AEAD_SUITES: readonly SdesSuite[] = Object.freeze(['AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const);

/** A suite name this module knows (whether or not a leg accepts it). */
export function isSdesSuite(s: string): s is SdesSuite {
  return Object.hasOwn(SDES_KEY_BYTES, s);
}

export interface SdesCrypto {
  tag: number;
  suite: SdesSuite;
  /** master key || master salt. */
  key: Buffer;
  lifetime?: number;
}

export type SdesParse = { ok: true; crypto: SdesCrypto } | { ok: false; reason: string };

/** Parses the value after `a=crypto:` for a leg that takes the default (AES-CM) suites;
 *  never throws. One parameter only, so it stays safe to pass to `Array.map`. */
export function parseCrypto(value: string): SdesParse {
  return parseCryptoFor(value, SDES_DEFAULT_SUITES);
}

/** parseCrypto for a leg that takes the suites in `accept`; a known suite outside it is
 *  refused with a reason of its own. Never throws. */
export function parseCryptoFor(value: string, accept: readonly SdesSuite[]): SdesParse {
  const parts = value.trim().split(/\s+/);
  const [tagText, suite, keyParams, ...session] = parts;
  if (!tagText || !/^\d{1,9}$/.test(tagText)) return { ok: false, reason: `bad tag "${tagText ?? ''}"` };
  const tag = Number(tagText);
  if (!suite || !isSdesSuite(suite)) return { ok: false, reason: `unsupported crypto suite "${suite ?? ''}"` };
  if (!accept.includes(suite)) return { ok: false, reason: `crypto suite "${suite}" not enabled on this leg` };
  if (!keyParams) return { ok: false, reason: 'no key parameters' };
  if (keyParams.includes(';')) return { ok: false, reason: 'more than one master key is not supported' };
  if (session.length > 0) return { ok: false, reason: `session parameters not supported: ${session.join(' ')}` };
  const m = /^inline:([A-Za-z0-9+/=]+)(?:\|([^|]+))?(?:\|([^|]+))?$/.exec(keyParams);
  if (!m) return { ok: false, reason: 'key parameters are not "inline:<base64>[|lifetime][|MKI:len]"' };
  const key = Buffer.from(m[1] ?? '', 'base64');
  if (key.length !== SDES_KEY_BYTES[suite]) {
    return { ok: false, reason: `${suite} needs ${SDES_KEY_BYTES[suite]} bytes of key and salt, got ${key.length}` };
  }
  let lifetime: number | undefined;
  for (const extra of [m[2], m[3]]) {
    if (extra === undefined) continue;
    if (extra.includes(':')) return { ok: false, reason: `MKI "${extra}" not supported` };
    const pow = /^2\^(\d{1,2})$/.exec(extra);
    if (pow) lifetime = 2 ** Number(pow[1]);
    else if (/^\d{1,15}$/.test(extra)) lifetime = Number(extra);
    else return { ok: false, reason: `bad lifetime "${extra}"` };
  }
  return { ok: true, crypto: { tag, suite, key, ...(lifetime !== undefined ? { lifetime } : {}) } };
}

export function formatCrypto(c: SdesCrypto): string {
  return `${c.tag} ${c.suite} inline:${c.key.toString('base64')}`;
}
