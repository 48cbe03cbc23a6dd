/**
 * Media session replication through the cluster link (issue 14, docs/cluster.md §7).
 *
 * Publishing (every node with a media service): each session's snapshot is sealed with the
 * cluster's secret box (it holds SRTP master keys) and SET under `media:NODE:ID`; a PUBLISH on
 * `media` says "put NODE ID" or "del NODE ID". The media service calls `publish` on create and
 * update and, at most once per worker report (200 ms), while the SRTP streams move; the link's
 * outbox coalesces by key, so a session never has more than one write pending. A heartbeat key
 * `media-alive:NODE` (PX deadAfterMs) is re-set every heartbeatMs (100 ms; PX 400 ms).
 *
 * Following (standby and active-active): pub/sub rather than keyspace notifications, because
 * those need `notify-keyspace-events` set on the server (often refused on a managed Redis) and
 * carry no more than the channel does; the link already holds a subscription connection. A
 * message is only a hint: the sealed value is read with GET, and a full SCAN refills the foreign
 * copies at start and after every reconnection (pub/sub loses what was sent during an outage).
 * Foreign copies are bounded (maxForeign). When a followed node's heartbeat key has expired, its
 * sessions are adopted (MediaTakeover.adopt: same addresses and ports) and its keys deleted.
 */
import type pino from 'pino';
import type { ClusterStore } from '../contracts/cluster';
import type { MediaReplicaSink, MediaTakeover } from '../contracts/media';
import { ppx } from '../messages';

export const MEDIA_CHANNEL = 'media';
const SESSION_TTL_MS = 24 * 3600_000;

export interface MediaReplicaOptions {
  store: ClusterStore;
  log: pino.Logger;
  /** Adopt dead nodes' sessions (role standby or active-active); false: publish only. */
  follow: boolean;
  heartbeatMs?: number;
  /** A node whose heartbeat is older than this is dead (the heartbeat key's PX). */
  deadAfterMs?: number;
  maxForeign?: number;
}

export interface TakeoverReport {
  from: string;
  adopted: string[];
  failed: number;
  ms: number;
}

export class MediaReplica implements MediaReplicaSink {
  /** Foreign sessions by node, then session id: the sealed snapshot as read from Redis. */
  readonly foreign = new Map<string, Map<string, string>>();
  readonly takeovers: TakeoverReport[] = [];
  private foreignCount = 0;
  private refused = 0;
  private timer: NodeJS.Timeout | undefined;
  private takeover: MediaTakeover | undefined;
  private readonly local = new Map<string, Uint8Array>();
  private readonly heartbeatMs: number;
  private readonly deadAfterMs: number;
  private readonly maxForeign: number;
  private busy = false;

  constructor(private readonly o: MediaReplicaOptions) {
    // Death is seen 300-500 ms after it (key PX 400 ms, re-set and polled every 100 ms), so
    // media is back within the 1 s issue 14 allows; a live node would need a 300 ms stall of
    // its heartbeat writes to be taken for dead (and then the standby's binds fail: see takeOver).
    this.heartbeatMs = o.heartbeatMs ?? 100;
    this.deadAfterMs = o.deadAfterMs ?? 400;
    this.maxForeign = o.maxForeign ?? 65_536;
  }

  private get node(): string {
    return this.o.store.node;
  }

  // ---- publishing (MediaReplicaSink) ----

  publish(id: string, snapshot: Uint8Array): void {
    this.local.set(id, snapshot);
    this.put(id, snapshot);
  }

  forget(id: string): void {
    this.local.delete(id);
    this.o.store.del(`media:${this.node}:${id}`, { channel: MEDIA_CHANNEL, message: `del ${this.node} ${id}` });
  }

  private put(id: string, snapshot: Uint8Array): void {
    this.o.store.setSecret(`media:${this.node}:${id}`, Buffer.from(snapshot), {
      ttlMs: SESSION_TTL_MS,
      notify: { channel: MEDIA_CHANNEL, message: `put ${this.node} ${id}` },
    });
  }

  // ---- lifecycle ----

  /** Starts the heartbeat and, when following, the foreign copies and the death watch. */
  start(takeover?: MediaTakeover): void {
    this.takeover = takeover;
    const s = this.o.store;
    s.onResync('media', () => {
      // Redis may have restarted empty: our sessions again, and the foreign copies afresh.
      for (const [id, snap] of this.local) this.put(id, snap);
      if (this.o.follow) this.refill().catch(() => undefined);
    });
    if (this.o.follow) {
      s.subscribe(MEDIA_CHANNEL, (m) => this.onMessage(m));
      this.refill().catch(() => undefined);
    }
    this.beat();
    this.timer = setInterval(() => {
      this.beat();
      if (this.o.follow) this.watch().catch((err: Error) => this.o.log.warn(...ppx(160008, { err: err.message })));
    }, this.heartbeatMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Counters for views and tests. */
  status() {
    return {
      node: this.node,
      local: this.local.size,
      foreign: this.foreignCount,
      refused: this.refused,
      takeovers: this.takeovers.length,
    };
  }

  private beat(): void {
    this.o.store.set(`media-alive:${this.node}`, String(Date.now()), { ttlMs: this.deadAfterMs });
  }

  // ---- following ----

  private keep(node: string, id: string, sealed: string): void {
    let m = this.foreign.get(node);
    if (!m) {
      m = new Map();
      this.foreign.set(node, m);
    }
    if (!m.has(id)) {
      if (this.foreignCount >= this.maxForeign) {
        this.refused++;
        return;
      }
      this.foreignCount++;
    }
    m.set(id, sealed);
  }

  private drop(node: string, id: string): void {
    if (this.foreign.get(node)?.delete(id)) this.foreignCount--;
  }

  private onMessage(message: string): void {
    const [op, node, id] = message.split(' ');
    if (!node || !id || node === this.node) return;
    if (op === 'del') this.drop(node, id);
    else if (op === 'put') {
      const key = `media:${node}:${id}`;
      this.o.store
        .get(key)
        .then((v) => {
          if (v !== undefined) this.keep(node, id, v);
        })
        .catch(() => undefined); // an outage: the refill after it catches up
    }
  }

  private async refill(): Promise<void> {
    const entries = await this.o.store.scan('media:', this.maxForeign + this.local.size);
    const seen = new Set<string>();
    for (const e of entries) {
      const [, node, id] = e.key.split(':');
      if (!node || !id || node === this.node) continue;
      seen.add(`${node}:${id}`);
      this.keep(node, id, e.value);
    }
    for (const [node, m] of this.foreign)
      for (const id of [...m.keys()]) if (!seen.has(`${node}:${id}`)) this.drop(node, id);
  }

  /** A followed node whose heartbeat key is gone is dead: take its sessions over. */
  private async watch(): Promise<void> {
    if (this.busy || !this.o.store.isUp() || !this.takeover) return;
    this.busy = true;
    try {
      for (const [node, m] of this.foreign) {
        if (m.size === 0) continue;
        if ((await this.o.store.get(`media-alive:${node}`)) !== undefined) continue;
        await this.takeOver(node, m);
      }
    } finally {
      this.busy = false;
    }
  }

  private async takeOver(node: string, sessions: Map<string, string>): Promise<void> {
    const t0 = Date.now();
    const report: TakeoverReport = { from: node, adopted: [], failed: 0, ms: 0 };
    this.o.log.warn(...ppx(160009, { node, sessions: sessions.size }));
    const all = [...sessions];
    await Promise.all(
      all.map(async ([id, sealed]) => {
        const key = `media:${node}:${id}`;
        this.drop(node, id);
        try {
          const snap = this.o.store.openSecret(key, sealed);
          report.adopted.push(await (this.takeover as MediaTakeover).adopt(snap, node));
          this.o.store.del(key);
        } catch (err) {
          // Kept in Redis: if the node was only slow (its sockets still bound), it goes on
          // publishing and the next refill brings the copy back.
          report.failed++;
          this.o.log.error(...ppx(160010, { node, session: id, err: (err as Error).message }));
        }
      }),
    );
    report.ms = Date.now() - t0;
    this.takeovers.push(report);
    if (this.takeovers.length > 100) this.takeovers.shift();
    this.o.log.warn(...ppx(160011, { node, adopted: report.adopted.length, failed: report.failed, ms: report.ms }));
  }
}
