/**
 * The secure-phones database shared by the cluster (docs/cluster.md §6): each record this node
 * makes or refreshes is written to Redis as `phone:<device>` with the time it has left as its
 * TTL (Redis expires it; a registration on any node re-writes it) and announced on `phones`;
 * every node keeps a local copy from those announcements (and a scan at start), so the TLS
 * proxy's lookups never leave the process. `clear … --cluster` goes out on `cmd`.
 */
import type pino from 'pino';
import { type ClusterStore, COMMAND_CHANNEL } from '../contracts/cluster';
import { deviceNameOf, reviveEntry, type SecurePhoneEntry, type SecurePhones } from './secure-phones';

export const PHONE_KEY = 'phone:';
export const PHONES_CHANNEL = 'phones';
export { COMMAND_CHANNEL };
/** Records read at start and listed by `show --cluster`: the bound of one scan. */
export const MAX_CLUSTER_PHONES = 100_000;

/** What `phone:<device>` holds and `phones` carries: the record and the node that last saw the phone. */
interface Published {
  node: string;
  entry: SecurePhoneEntry;
}

type Command = { op: 'clear-phones'; from: string; device?: string };

export interface ClusterPhone {
  node: string;
  entry: SecurePhoneEntry;
  ttlMs: number;
}

export class PhonesReplica {
  constructor(
    private readonly cluster: ClusterStore,
    private readonly phones: () => SecurePhones,
    /** Read per record: a live reload changes it (src/config/reload-plan.ts). */
    private readonly timeoutSec: () => number,
    private readonly log: pino.Logger,
    private readonly now: () => number = Date.now,
  ) {}

  /** Local copies of the records in Redis, then the announcements. */
  async start(): Promise<void> {
    this.cluster.subscribe(PHONES_CHANNEL, (m) => this.heard(m));
    this.cluster.subscribe(COMMAND_CHANNEL, (m) => this.command(m));
    // Back from an outage: ours go out, and what the others re-published before we listened comes in.
    this.cluster.onResync('secure-phones', () => {
      for (const e of this.phones().list()) this.publish(e);
      this.load().catch(() => undefined);
    });
    if (this.cluster.isUp()) await this.load().catch(() => undefined);
  }

  private async load(): Promise<void> {
    let n = 0;
    for (const p of await this.list()) if (p.node !== this.cluster.node && this.phones().adopt(p.entry)) n++;
    if (n > 0) this.log.info({ phones: n }, 'secure-phones: records of other nodes loaded from the cluster');
  }

  /** SecurePhones' onChange: a record made or refreshed here. Never waits (the outbox). */
  publish(entry: SecurePhoneEntry): void {
    const ttlMs = this.timeoutSec() * 1000 - (this.now() - entry.lastSeen.getTime());
    if (ttlMs <= 0) return;
    const text = JSON.stringify({ node: this.cluster.node, entry } satisfies Published);
    this.cluster.set(PHONE_KEY + entry.deviceName, text, { ttlMs, notify: { channel: PHONES_CHANNEL, message: text } });
  }

  /** Every node's records, from Redis (control plane: `show … --cluster`). */
  async list(): Promise<ClusterPhone[]> {
    const out: ClusterPhone[] = [];
    for (const e of await this.cluster.scan(PHONE_KEY, MAX_CLUSTER_PHONES)) {
      const p = parse(e.value);
      if (p) out.push({ ...p, ttlMs: e.ttlMs });
    }
    return out.sort((a, b) => b.entry.lastSeen.getTime() - a.entry.lastSeen.getTime());
  }

  /** `clear … --cluster`: the records in Redis go, and every node drops its copies. */
  async clearEverywhere(device?: string): Promise<number> {
    const want = device === undefined ? undefined : deviceNameOf(device);
    const keys = want ? [PHONE_KEY + want] : (await this.list()).map((p) => PHONE_KEY + p.entry.deviceName);
    const inRedis = want ? (await this.cluster.get(keys[0] as string)) !== undefined : keys.length;
    for (const k of keys) this.cluster.del(k);
    await this.cluster.sendCommand({ op: 'clear-phones', from: this.cluster.node, device: want } satisfies Command);
    const here = this.phones().forget(want);
    return Math.max(Number(inRedis), here);
  }

  private heard(message: string): void {
    const p = parse(message);
    if (p && p.node !== this.cluster.node) this.phones().adopt(p.entry);
  }

  private command(message: string): void {
    let c: Command;
    try {
      c = JSON.parse(message) as Command;
    } catch {
      return;
    }
    if (c?.op !== 'clear-phones' || c.from === this.cluster.node) return;
    const n = this.phones().forget(typeof c.device === 'string' ? c.device : undefined);
    this.log.info({ from: c.from, device: c.device ?? 'all', removed: n }, 'secure-phones cleared cluster-wide');
  }
}

function parse(text: string): Published | undefined {
  try {
    const v = JSON.parse(text) as { node?: unknown; entry?: unknown };
    const entry = reviveEntry(v?.entry);
    return typeof v?.node === 'string' && entry ? { node: v.node, entry } : undefined;
  } catch {
    return undefined;
  }
}
