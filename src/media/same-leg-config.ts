/**
 * Whether a leg update changes nothing the worker holds (pure): same mode, same SRTP profile and
 * keys, and the same peer or none (none keeps the destination and latch). A re-INVITE for hold or
 * resume with the address and keys it had is the common case; sending it to the worker costs a
 * thread round trip and resets the latch toward a phone behind a NAT (bench/RESULTS.md, bench:sip).
 */
import type { LegConfig } from './messages';

/** Key bytes compared (not secret-dependent timing: both sides are the appliance's own copies). */
export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

export function sameLegConfig(current: LegConfig | undefined, next: LegConfig): boolean {
  if (!current || current.mode !== next.mode) return false;
  const p = next.peer;
  const q = current.peer;
  if (p && !(q && p.address === q.address && p.rtpPort === q.rtpPort && p.rtcpPort === q.rtcpPort)) return false;
  const a = current.srtp;
  const b = next.srtp;
  if (!a || !b) return a === b;
  return a.profile === b.profile && sameBytes(a.recvKey, b.recvKey) && sameBytes(a.sendKey, b.sendKey);
}
