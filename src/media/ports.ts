/**
 * RTP/RTCP port pairs of one media-termination address: RTP on an even port, RTCP on the next
 * odd one (RFC 3550 §11). Released pairs wait in quarantine before reuse, so late packets of an
 * old call never reach a new one; pairs are handed out oldest-free first for the same reason.
 * Pure: the clock is passed in.
 */

export class PortExhaustedError extends Error {
  constructor(address: string, inUse: number, quarantined: number) {
    super(`media: no free RTP port pair on ${address} (${inUse} in use, ${quarantined} in quarantine)`);
    this.name = 'PortExhaustedError';
  }
}

export interface PortStats {
  total: number;
  inUse: number;
  free: number;
  quarantined: number;
}

export class PortPool {
  /** Free RTP ports, a FIFO. */
  private free: number[] = [];
  private freeHead = 0;
  /** Released RTP ports with the time they become free again, in release order. */
  private quarantine: { port: number; until: number }[] = [];
  private quarantineHead = 0;
  private readonly used = new Set<number>();
  readonly total: number;

  constructor(
    readonly address: string,
    readonly minPort: number,
    readonly maxPort: number,
    readonly quarantineMs: number,
    private readonly now: () => number,
  ) {
    for (let p = minPort + (minPort % 2); p + 1 <= maxPort; p += 2) this.free.push(p);
    this.total = this.free.length;
  }

  /** An RTP port (RTCP is +1), or a PortExhaustedError. */
  allocate(): number {
    this.expire();
    if (this.freeHead >= this.free.length) {
      throw new PortExhaustedError(this.address, this.used.size, this.quarantine.length - this.quarantineHead);
    }
    const port = this.free[this.freeHead++] as number;
    this.compact();
    this.used.add(port);
    return port;
  }

  /** Back into quarantine; releasing a pair not in use is ignored. */
  release(rtpPort: number): void {
    if (!this.used.delete(rtpPort)) return;
    this.quarantine.push({ port: rtpPort, until: this.now() + this.quarantineMs });
  }

  isInUse(rtpPort: number): boolean {
    return this.used.has(rtpPort);
  }

  stats(): PortStats {
    this.expire();
    return {
      total: this.total,
      inUse: this.used.size,
      free: this.free.length - this.freeHead,
      quarantined: this.quarantine.length - this.quarantineHead,
    };
  }

  private expire(): void {
    const t = this.now();
    while (this.quarantineHead < this.quarantine.length) {
      const q = this.quarantine[this.quarantineHead] as { port: number; until: number };
      if (q.until > t) break;
      this.free.push(q.port);
      this.quarantineHead++;
    }
    this.compact();
  }

  /** Drop consumed queue heads once they outweigh the live part (amortised O(1)). */
  private compact(): void {
    if (this.freeHead > 1024 && this.freeHead * 2 > this.free.length) {
      this.free = this.free.slice(this.freeHead);
      this.freeHead = 0;
    }
    if (this.quarantineHead > 1024 && this.quarantineHead * 2 > this.quarantine.length) {
      this.quarantine = this.quarantine.slice(this.quarantineHead);
      this.quarantineHead = 0;
    }
  }
}
