/**
 * Rewritten/signed configuration files keyed by what determines them: the upstream content hash,
 * the name served and the appliance address written in. A boot storm signs each distinct file
 * once; a changed upstream file has a new hash and is rewritten and signed again. Concurrent
 * requests for the same key share one computation. Bounded by entries and bytes (least recently
 * used go first).
 */

export interface CacheStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
}

export class ResultCache<T extends { bytes: Buffer }> {
  private readonly map = new Map<string, T>();
  private readonly pending = new Map<string, Promise<T>>();
  private total = 0;
  hits = 0;
  misses = 0;

  constructor(
    private readonly maxEntries = 4096,
    private readonly maxBytes = 64 * 1024 * 1024,
  ) {}

  /** The cached value, or `make()`'s (run once per key however many callers wait). */
  async get(key: string, make: () => T | Promise<T>): Promise<{ value: T; hit: boolean }> {
    const v = this.map.get(key);
    if (v) {
      this.hits++;
      // Re-insert: Map order is the LRU order.
      this.map.delete(key);
      this.map.set(key, v);
      return { value: v, hit: true };
    }
    const p = this.pending.get(key);
    if (p) {
      this.hits++;
      return { value: await p, hit: true };
    }
    this.misses++;
    const run = (async () => make())();
    this.pending.set(key, run);
    try {
      const value = await run;
      this.put(key, value);
      return { value, hit: false };
    } finally {
      this.pending.delete(key);
    }
  }

  private put(key: string, v: T): void {
    if (v.bytes.length > this.maxBytes) return;
    this.map.set(key, v);
    this.total += v.bytes.length;
    for (const [k, old] of this.map) {
      if (this.map.size <= this.maxEntries && this.total <= this.maxBytes) break;
      this.map.delete(k);
      this.total -= old.bytes.length;
    }
  }

  clear(): void {
    this.map.clear();
    this.total = 0;
  }

  stats(): CacheStats {
    return { entries: this.map.size, bytes: this.total, hits: this.hits, misses: this.misses };
  }
}
