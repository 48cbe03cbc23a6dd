/**
 * RTP/RTCP port pairs of one media-termination address: RTP on an even port, RTCP on the next
 * odd one (RFC 3550 §11). Released pairs that may still receive late packets wait in quarantine
 * before reuse, so those packets never reach a new call; pairs are handed out oldest-free first
 * for the same reason. Quarantine never refuses a call on its own: with no free pair left, the
 * pair longest in quarantine is taken early (issue 12: a flood of calls that never got media
 * must not starve the pool). Pure: the clock is passed in.
 */
import { PortExhaustedError } from '../errors';

export interface PortStats {
  total: number;
  inUse: number;
  free: number;
  quarantined: number;
  /** Pairs taken out of quarantine early because no free pair was left. */
  reusedEarly: number;
}

export class PortPool {
  /** Free RTP ports, a FIFO. */
  private free: number[] = [];
  private freeHead = 0;
  /** Released RTP ports with the time they become free again, in release order. */
  private quarantine: { port: number; until: number }[] = [];
  private quarantineHead = 0;
  private readonly used = new Set<number>();
  private reusedEarly = 0;
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

  /** An RTP port (RTCP is +1), or a PortExhaustedError when every pair is in use. */
  allocate(): number {
    this.expire();
    let port: number;
    do {
      if (this.freeHead < this.free.length) {
        port = this.free[this.freeHead++] as number;
      } else if (this.quarantineHead < this.quarantine.length) {
        port = (this.quarantine[this.quarantineHead++] as { port: number }).port;
        this.reusedEarly++;
      } else {
        throw new PortExhaustedError(this.address, this.used.size, 0);
      }
    } while (this.used.has(port)); // claimed while listed
    this.compact();
    this.used.add(port);
    return port;
  }

  /**
   * A given pair, for a session taken over from another node (issue 14): it must be the same
   * port. Its entry in the free list or quarantine stays there and is skipped when reached.
   */
  claim(rtpPort: number): void {
    if (rtpPort < this.minPort || rtpPort + 1 > this.maxPort || rtpPort % 2 !== 0)
      throw new RangeError(`${this.address}: port ${rtpPort} is not an RTP port of ${this.minPort}-${this.maxPort}`);
    if (this.used.has(rtpPort)) throw new RangeError(`${this.address}: port ${rtpPort} is in use`);
    this.used.add(rtpPort);
  }

  /**
   * Back into quarantine, or straight back to the free list when nothing can still arrive on
   * the pair (`quarantine` false: e.g. no packet ever came, as for a call answered 404).
   * Releasing a pair not in use is ignored.
   */
  release(rtpPort: number, quarantine = true): void {
    if (!this.used.delete(rtpPort)) return;
    if (quarantine && this.quarantineMs > 0)
      this.quarantine.push({ port: rtpPort, until: this.now() + this.quarantineMs });
    else this.free.push(rtpPort);
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
      reusedEarly: this.reusedEarly,
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
