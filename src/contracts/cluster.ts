/**
 * What services ask of the cluster link (issue 14, docs/cluster.md): shared state in Redis
 * without ever waiting on it. Writes are queued and return at once (a bounded outbox, coalesced
 * by key, flushed in the background); reads are for the control plane (start, show --cluster)
 * and fail fast while Redis is away. Keys are logical (`phone:SEP…`); the link adds its prefix.
 * Built by the daemon only when the policy has `appliance-cluster`; absent, services run alone.
 */
import type { ClusterRole } from '../config/policy-schema';

export type { ClusterRole };

/** The word `show|clear … --cluster` hands a view: answer for every node, through Redis. */
export const CLUSTER_FLAG = '--cluster';
/** Where cluster-wide operator commands go (`clear … --cluster`); each service acts on its own `op`s. */
export const COMMAND_CHANNEL = 'cmd';

/** After the write, PUBLISH `message` on `channel` (other nodes learn of it without a read). */
export interface ClusterNotify {
  channel: string;
  message: string;
}

export interface ClusterWriteOptions {
  /** Key lifetime (PX); absent: no expiry. */
  ttlMs?: number;
  notify?: ClusterNotify;
}

export interface ClusterEntry {
  key: string;
  value: string;
  /** Remaining lifetime, -1 when the key has none. */
  ttlMs: number;
}

export interface ClusterStore {
  /** This node's name (appliance-cluster.node). */
  readonly node: string;
  readonly role: ClusterRole;
  /** Redis answered since the last outage began. */
  isUp(): boolean;

  /** Queued SET; never waits. A later write to the same key replaces a pending one. */
  set(key: string, value: string, opts?: ClusterWriteOptions): void;
  /** Like set, the value sealed (AES-256-GCM, the policy's secret file) before it leaves the process. */
  setSecret(key: string, plain: Buffer | string, opts?: ClusterWriteOptions): void;
  /** Queued PEXPIRE (a registration keeps a record alive); merges into a pending set. */
  expire(key: string, ttlMs: number, notify?: ClusterNotify): void;
  del(key: string, notify?: ClusterNotify): void;
  /** Queued PUBLISH; `topic` coalesces repeats (the newest message per channel and topic goes). */
  publish(channel: string, message: string, topic?: string): void;

  get(key: string): Promise<string | undefined>;
  /** Opens a value written by setSecret; throws when it does not open (wrong key, tampered). */
  getSecret(key: string): Promise<Buffer | undefined>;
  /** The sealed form setSecret stores, for a value written some other way (setIfAbsent, a message). */
  seal(key: string, plain: Buffer | string): string;
  /** Opens a sealed value read some other way (scan, notify): `key` is the logical key it was written under. */
  openSecret(key: string, sealed: string): Buffer;
  /** Atomic create-if-absent (SET NX), control plane only: true when this call created it. */
  setIfAbsent(key: string, value: string): Promise<boolean>;
  /** Keys under a logical prefix with their values and TTLs, at most `max` (SCAN, not KEYS). */
  scan(prefix: string, max: number): Promise<ClusterEntry[]>;

  /**
   * A cluster-wide operator command (`clear … --cluster`) on COMMAND_CHANNEL: numbered and kept
   * in Redis for a day, so a node away from Redis when it went out applies it on its return,
   * before re-publishing its state. The message carries `epoch`. Fails while Redis is away.
   */
  sendCommand(command: Record<string, unknown>): Promise<void>;
  /** Messages on a channel, this node's own included (the message says who sent it). */
  subscribe(channel: string, onMessage: (message: string) => void): void;
  /**
   * Run on every (re)connection after the first: the publisher re-puts its local state, which
   * an outage may have lost (dropped outbox entries, a restarted Redis without persistence).
   */
  onResync(name: string, resync: () => void): void;
}
