/** In-memory stand-in for the media service (unit tests only): records every call. */
import type { MediaAllocator, MediaSessionInfo, UpdateLegConfig } from '../../src/contracts/media';

export class MediaDouble implements MediaAllocator {
  readonly allocations: { id: string; callId: string; allocation: MediaSessionInfo }[] = [];
  readonly updates: { id: string; leg: 'outside' | 'inside'; update: UpdateLegConfig }[] = [];
  readonly released: { id: string; reason: string }[] = [];
  failNextAllocate: string | undefined;
  private next = 1;

  async allocate(req: { callId: string }): Promise<MediaSessionInfo> {
    if (this.failNextAllocate) {
      const msg = this.failNextAllocate;
      this.failNextAllocate = undefined;
      throw new Error(msg);
    }
    const n = this.next++;
    const allocation = {
      id: `m${n}`,
      outside: { address: '192.0.2.10', rtpPort: 20000 + n * 2, rtcpPort: 20001 + n * 2 },
      inside: { address: '10.1.1.10', rtpPort: 30000 + n * 2, rtcpPort: 30001 + n * 2 },
    };
    this.allocations.push({ id: allocation.id, callId: req.callId, allocation });
    return allocation;
  }

  async updateLeg(id: string | number, leg: 'outside' | 'inside', update: UpdateLegConfig): Promise<void> {
    if (!this.allocations.some((a) => a.id === id)) throw new Error(`no media session ${id}`);
    this.updates.push({ id: String(id), leg, update });
  }

  async release(id: string | number, reason: string): Promise<void> {
    this.released.push({ id: String(id), reason });
  }

  /** The latest update of a leg. */
  last(id: string, leg: 'outside' | 'inside'): UpdateLegConfig | undefined {
    return this.updates.filter((u) => u.id === id && u.leg === leg).at(-1)?.update;
  }

  get live(): string[] {
    return this.allocations.map((a) => a.id).filter((id) => !this.released.some((r) => r.id === id));
  }
}
