/**
 * The bounded write queue between the appliance and Redis (docs/cluster.md §5): writes are
 * coalesced by key (a phone refreshed ten times while Redis is slow is written once, the newest
 * value), at most `max` entries are held, and when full the oldest entry is dropped and counted.
 * Pure: no clock, no I/O; the link drains it.
 */

export type OutboxOp =
  | { op: 'set'; key: string; value: string; ttlMs?: number; notify?: { channel: string; message: string } }
  | { op: 'expire'; key: string; ttlMs: number; notify?: { channel: string; message: string } }
  | { op: 'del'; key: string; notify?: { channel: string; message: string } }
  | { op: 'publish'; channel: string; message: string };

export class Outbox {
  /** Insertion order is age order: a coalesced write moves to the back. */
  private readonly pending = new Map<string, OutboxOp>();
  dropped = 0;
  coalesced = 0;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`outbox size must be a positive integer, not ${max}`);
  }

  get size(): number {
    return this.pending.size;
  }

  /** `slot`: what the op coalesces on (the Redis key; for publish, channel and topic). */
  put(slot: string, op: OutboxOp): void {
    const old = this.pending.get(slot);
    if (old) {
      this.coalesced++;
      this.pending.delete(slot);
      // An expiry refresh on a value not yet written: write the value with the new lifetime; on a
      // pending delete: the key is going, the delete stays.
      if (op.op === 'expire' && old.op === 'set') op = { ...old, ttlMs: op.ttlMs, notify: op.notify ?? old.notify };
      else if (op.op === 'expire' && old.op === 'del') op = old;
    } else if (this.pending.size >= this.max) {
      const oldest = this.pending.keys().next();
      if (!oldest.done) this.pending.delete(oldest.value);
      this.dropped++;
    }
    this.pending.set(slot, op);
  }

  /** Up to `n` ops, oldest first, removed from the queue. */
  take(n: number): OutboxOp[] {
    const out: OutboxOp[] = [];
    for (const [slot, op] of this.pending) {
      if (out.length >= n) break;
      out.push(op);
      this.pending.delete(slot);
    }
    return out;
  }
}
