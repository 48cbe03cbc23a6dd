/**
 * For an inspector that does not report heldFromPhone(): a framer of its own over a copy of
 * the phone's bytes, only to know where messages end (the complete-message timeout needs it).
 * Costs a second framing pass on signaling (not media) bytes. Temporary: SipInspector can
 * report its own framer's `pending` and this wrapper then goes.
 */
import type { Inspector } from '../contracts/signaling';

export interface BoundaryFramer {
  push(chunk: Buffer): unknown;
  readonly pending: number;
}

export function withHeldBytes(inner: Inspector, framer: BoundaryFramer): Inspector {
  if (inner.heldFromPhone) return inner;
  let broken = false;
  return {
    fromPhone(chunk) {
      if (!broken) {
        try {
          framer.push(chunk);
        } catch {
          // Unframable: the inspector closes the connection itself; nothing is held any more.
          broken = true;
        }
      }
      inner.fromPhone(chunk);
    },
    fromUpstream: (chunk) => inner.fromUpstream(chunk),
    closed: () => inner.closed(),
    tick: (now) => inner.tick(now),
    sessions: () => inner.sessions(),
    heldFromPhone: () => (broken ? 0 : framer.pending),
  };
}
