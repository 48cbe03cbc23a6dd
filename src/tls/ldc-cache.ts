/**
 * The LDCs minted for the upstream TLS leg, one per device name, shared by the cluster
 * (docs/cluster.md §6): a node that mints one writes it to Redis as `ldc:<device>` with the key
 * pair sealed (never in clear) and announces it; the other nodes keep a local copy, so a phone
 * that moves to another node is presented to UCM with the same certificate, and the connection
 * path never waits on Redis. Without a cluster it is the plain local cache it always was.
 */
import type pino from 'pino';
import type { ClusterStore } from '../contracts/cluster';
import { ppx } from '../messages';

export const LDC_KEY = 'ldc:';
export const LDC_CHANNEL = 'ldc';
/** Cached LDCs read at start: the bound of one scan. */
const MAX_SHARED = 100_000;
/** An LDC left in Redis this long after its last mint goes (re-minted when a phone needs it). */
const SHARED_TTL_MS = 30 * 24 * 3600 * 1000;

export interface LdcPair {
  certPem: string;
  keyPem: string;
}

export class LdcCache {
  private readonly local = new Map<string, LdcPair>();

  constructor(
    private readonly cluster: ClusterStore | undefined,
    private readonly log: pino.Logger,
  ) {}

  get(device: string): LdcPair | undefined {
    return this.local.get(device);
  }

  get size(): number {
    return this.local.size;
  }

  /** A pair minted here: kept, and (in a cluster) published sealed. */
  put(device: string, pair: LdcPair): void {
    this.local.set(device, pair);
    this.publish(device, pair);
  }

  async start(): Promise<void> {
    const c = this.cluster;
    if (!c) return;
    c.subscribe(LDC_CHANNEL, (m) => this.heard(m));
    c.onResync('ldc', () => {
      for (const [device, pair] of this.local) this.publish(device, pair);
    });
    if (!c.isUp()) return;
    let n = 0;
    for (const e of await c.scan(LDC_KEY, MAX_SHARED).catch(() => [])) {
      const pair = this.open(e.key, e.value);
      if (pair) {
        this.local.set(e.key.slice(LDC_KEY.length), pair);
        n++;
      }
    }
    if (n > 0) this.log.info({ ldcs: n }, 'LDCs minted by other nodes loaded from the cluster');
  }

  private publish(device: string, pair: LdcPair): void {
    const c = this.cluster;
    if (!c) return;
    const sealed = c.seal(LDC_KEY + device, JSON.stringify(pair));
    c.set(LDC_KEY + device, sealed, {
      ttlMs: SHARED_TTL_MS,
      notify: { channel: LDC_CHANNEL, message: JSON.stringify({ node: c.node, device, sealed }) },
    });
  }

  private heard(message: string): void {
    let m: { node?: unknown; device?: unknown; sealed?: unknown };
    try {
      m = JSON.parse(message) as typeof m;
    } catch {
      return;
    }
    if (typeof m.device !== 'string' || typeof m.sealed !== 'string' || m.node === this.cluster?.node) return;
    const pair = this.open(LDC_KEY + m.device, m.sealed);
    if (pair) this.local.set(m.device, pair);
  }

  private open(key: string, sealed: string): LdcPair | undefined {
    try {
      const v = JSON.parse((this.cluster as ClusterStore).openSecret(key, sealed).toString('utf8')) as LdcPair;
      return typeof v?.certPem === 'string' && typeof v.keyPem === 'string' ? v : undefined;
    } catch (err) {
      this.log.warn(...ppx(170015, { key, err: (err as Error).message }));
      return undefined;
    }
  }
}
