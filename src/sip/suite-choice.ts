/**
 * Which SDES suites a SIP leg negotiates (issue 17), pure. The appliance terminates SRTP on
 * each leg, so each leg's suite is between the appliance and that leg's peer alone:
 *
 * - answering a side's offer, it takes the strongest of that side's lines it allows;
 * - offering toward a side, it offers AEAD_AES_256_GCM and AEAD_AES_128_GCM (RFC 7714 §14.1)
 *   first, then AES_CM_128_HMAC_SHA1_80 and _32, only when that side can use them: it offered or
 *   answered a GCM line itself, or the policy says so (`media-termination.srtp-gcm-sides`).
 *   Otherwise the offer is the one AES_CM_128_HMAC_SHA1_80 line every phone and cluster takes
 *   (unchanged from before GCM): a peer that does not know a suite may refuse the whole offer
 *   instead of skipping the line (RFC 4568 §7.1.1 asks it to skip, not every stack does).
 */
import type { SdesCrypto, SdesSuite } from './sdes';

/** Strongest first: AEAD over encrypt-then-MAC, a 256-bit key over 128, an 80-bit tag over 32. */
export const SUITE_STRENGTH: readonly SdesSuite[] = Object.freeze([
  'AEAD_AES_256_GCM',
  'AEAD_AES_128_GCM',
  'AES_256_CM_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_80',
  'AES_CM_128_HMAC_SHA1_32',
] as const);

/** What the appliance negotiates unless the policy narrows it: every suite the engine implements. */
export const ALL_SUITES: readonly SdesSuite[] = SUITE_STRENGTH;

export function isAeadSuite(s: SdesSuite): boolean {
  return s === 'AEAD_AES_128_GCM' || s === 'AEAD_AES_256_GCM';
}

/** The strongest of a side's usable lines (already filtered to the allowed suites), or undefined. */
export function strongestCrypto(cryptos: readonly SdesCrypto[]): SdesCrypto | undefined {
  let best: SdesCrypto | undefined;
  for (const c of cryptos) if (!best || rank(c.suite) < rank(best.suite)) best = c;
  return best;
}

/** A side "can use GCM" once one of its own usable lines is a GCM one. */
export function showsGcm(cryptos: readonly SdesCrypto[]): boolean {
  return cryptos.some((c) => isAeadSuite(c.suite));
}

/**
 * The suites of an offer toward a side, in the order written (tags 1, 2, ...). Never empty:
 * a policy that allows GCM suites only gets them offered even to a side that has not shown them
 * (the operator asked for nothing else).
 */
export function offerSuites(allowed: readonly SdesSuite[], sideTakesGcm: boolean): SdesSuite[] {
  const has = (s: SdesSuite) => allowed.includes(s);
  const gcm = SUITE_STRENGTH.filter((s) => isAeadSuite(s) && has(s));
  const cm = (['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AES_256_CM_HMAC_SHA1_80'] as const).filter(has);
  if (sideTakesGcm && gcm.length > 0) return [...gcm, ...cm.filter((s) => s !== 'AES_256_CM_HMAC_SHA1_80')];
  const first = cm[0];
  return first ? [first] : gcm;
}

function rank(s: SdesSuite): number {
  return SUITE_STRENGTH.indexOf(s);
}
