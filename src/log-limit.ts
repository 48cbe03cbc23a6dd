/**
 * Rate-limited warnings, after rtpengine's LOG_FLAG_LIMIT: the first message for a key is
 * written; more with the same key within the interval (15 s) are only counted, and the next
 * one written after the interval (or a flush) is preceded by "N similar messages suppressed".
 * Keys are static reason strings, never peer-supplied text, so the table stays small; it is
 * capped anyway. Pure apart from the clock passed in. Used by the TLS proxy for refusals an
 * unauthenticated peer can cause, and by the TFTP interceptor for its rate-limit refusals.
 */

export interface LimitDecision {
  /** Write this message. */
  write: boolean;
  /** Messages with this key suppressed since the last one written (report before writing). */
  suppressed: number;
}

interface Slot {
  lastWritten: number;
  suppressed: number;
}

export class LogLimiter {
  private readonly slots = new Map<string, Slot>();
  /** Suppressed messages in all (for counters). */
  suppressedTotal = 0;

  constructor(
    private readonly intervalMs = 15_000,
    private readonly maxKeys = 256,
  ) {}

  check(key: string, now: number): LimitDecision {
    const slot = this.slots.get(key);
    if (slot && now - slot.lastWritten < this.intervalMs) {
      slot.suppressed++;
      this.suppressedTotal++;
      return { write: false, suppressed: slot.suppressed };
    }
    const suppressed = slot?.suppressed ?? 0;
    if (!slot && this.slots.size >= this.maxKeys) this.evictOldest();
    this.slots.set(key, { lastWritten: now, suppressed: 0 });
    return { write: true, suppressed };
  }

  /**
   * Keys whose interval is over: their suppressed counts (to report now, so a burst that
   * stopped is still accounted for) are returned and the keys forgotten.
   */
  flush(now: number): { key: string; suppressed: number }[] {
    const out: { key: string; suppressed: number }[] = [];
    for (const [key, slot] of this.slots) {
      if (now - slot.lastWritten < this.intervalMs) continue;
      if (slot.suppressed > 0) out.push({ key, suppressed: slot.suppressed });
      this.slots.delete(key);
    }
    return out;
  }

  private evictOldest(): void {
    const first = this.slots.keys().next();
    if (!first.done) this.slots.delete(first.value);
  }
}
