/**
 * Token buckets for TFTP requests: one per source address and one global (ASA phone proxy guide,
 * docs/references.md: police TFTP, any Internet host can send requests). Pure: the caller passes
 * the time in milliseconds.
 */

export interface RateLimitConfig {
  /** Requests per second per source address. */
  perSource: number;
  /** Requests per second for all sources together. */
  global: number;
  /** Bucket size per source: requests a source may send at once before the rate applies. */
  burst: number;
}

export type RateVerdict = 'ok' | 'per-source' | 'global';

interface Bucket {
  tokens: number;
  at: number;
}

/** Sources kept before idle (full) buckets are swept, so a scan of many addresses cannot grow memory. */
const MAX_SOURCES = 10_000;

export class RateLimiter {
  private readonly sources = new Map<string, Bucket>();
  private readonly globalBucket: Bucket;
  private readonly globalBurst: number;

  constructor(private readonly cfg: RateLimitConfig) {
    // The global bucket holds one second of the global rate, at least one source burst.
    this.globalBurst = Math.max(cfg.global, cfg.burst);
    this.globalBucket = { tokens: this.globalBurst, at: 0 };
  }

  private refill(b: Bucket, rate: number, cap: number, now: number): void {
    if (now > b.at) {
      b.tokens = Math.min(cap, b.tokens + ((now - b.at) / 1000) * rate);
      b.at = now;
    }
  }

  /** Takes a token for one request from `source` at time `now` (ms), or says which limit refused it. */
  take(source: string, now: number): RateVerdict {
    let b = this.sources.get(source);
    if (!b) {
      if (this.sources.size >= MAX_SOURCES) this.sweep(now);
      b = { tokens: this.cfg.burst, at: now };
      this.sources.set(source, b);
    }
    this.refill(b, this.cfg.perSource, this.cfg.burst, now);
    if (b.tokens < 1) return 'per-source';
    this.refill(this.globalBucket, this.cfg.global, this.globalBurst, now);
    if (this.globalBucket.tokens < 1) return 'global';
    b.tokens -= 1;
    this.globalBucket.tokens -= 1;
    return 'ok';
  }

  /** Drops buckets that have refilled completely: they behave exactly like new ones. */
  sweep(now: number): void {
    for (const [k, b] of this.sources) {
      this.refill(b, this.cfg.perSource, this.cfg.burst, now);
      if (b.tokens >= this.cfg.burst) this.sources.delete(k);
    }
    // Still full of active sources: forget the oldest half rather than grow without bound.
    if (this.sources.size >= MAX_SOURCES) {
      let n = this.sources.size / 2;
      for (const k of this.sources.keys()) {
        if (n-- <= 0) break;
        this.sources.delete(k);
      }
    }
  }

  get trackedSources(): number {
    return this.sources.size;
  }
}

/** One token bucket (pure: the caller passes the time in ms). */
export class TokenBucket {
  private tokens: number;
  private at = Number.NEGATIVE_INFINITY;

  constructor(
    private readonly rate: number,
    private readonly burst: number,
  ) {
    this.tokens = burst;
  }

  take(now: number): boolean {
    if (now > this.at) {
      this.tokens = Number.isFinite(this.at)
        ? Math.min(this.burst, this.tokens + ((now - this.at) / 1000) * this.rate)
        : this.burst;
      this.at = now;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
