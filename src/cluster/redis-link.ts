/**
 * The cluster link: this node's one connection to Redis (plus one for subscriptions), behind
 * the ClusterStore contract (docs/cluster.md §5). The data plane never waits on it: writes land
 * in the bounded outbox and return; a background flush sends them as one pipeline per batch.
 * While Redis is away the node serves alone: one counter per outage, one rate-limited log line
 * (src/log-limit.ts), reads fail fast; when it returns every publisher re-puts its local state.
 * Reconnects back off from 100 ms to 5 s, forever (ioredis retryStrategy).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import type pino from 'pino';
import { Counter, Gauge, type Registry } from 'prom-client';
import { type LoadedPolicy, redisPassword } from '../config/load-policy';
import { redactUrl } from '../config/policy-rules';
import type { ApplianceCluster } from '../config/policy-schema';
import {
  type ClusterEntry,
  type ClusterNotify,
  type ClusterRole,
  type ClusterStore,
  type ClusterWriteOptions,
  COMMAND_CHANNEL,
} from '../contracts/cluster';
import type { OperatorViews } from '../contracts/service';
import { LogLimiter } from '../log-limit';
import { ppx } from '../messages';
import { Outbox, type OutboxOp } from './outbox';
import { ROLE_MEANING } from './roles';
import { parseSecretKeys, SecretBox } from './secret-box';

/** Every key this appliance writes starts so: a shared Redis can hold other data. */
export const KEY_PREFIX = 'pp:';
/** Outbox entries: ~10 k phones refreshed during an outage fit; beyond, the oldest go (counted). */
export const OUTBOX_MAX = 10_000;
// One pipeline per round trip: 1000 writes (≈ 100 KB) keeps a boot storm from filling the outbox.
const BATCH = 1000;
const COMMAND_TIMEOUT_MS = 2000;
const SCAN_COUNT = 500;
const SEALED = 'sealed:';
/** `node:<name>` says a node is alive: refreshed every 10 s, gone 30 s after the last refresh. */
export const NODE_KEY = 'node:';
const HEARTBEAT_MS = 10_000;
const HEARTBEAT_TTL_MS = 30_000;
/**
 * Cluster-wide commands are numbered (INCR `cmd-epoch`) and kept as `cmd-log:<n>` for a day:
 * a node away from Redis when one went out applies it when it returns (docs/cluster.md §5).
 */
export const COMMAND_EPOCH_KEY = 'cmd-epoch';
export const COMMAND_LOG_KEY = 'cmd-log:';
const COMMAND_LOG_TTL_MS = 24 * 3600_000;
/** Commands read back after one outage, at most (an operator does not clear a thousand times a day). */
const COMMAND_REPLAY_MAX = 1000;
/** Commands heard ahead of a gap, at most: beyond, the oldest are taken as done. */
const COMMAND_AHEAD_MAX = 1024;

/** Bounded reconnect backoff: 100 ms doubling to 5 s, never giving up (an outage ends some day). */
export function reconnectDelay(attempt: number): number {
  return Math.min(100 * 2 ** Math.min(Math.max(attempt - 1, 0), 6), 5000);
}

export interface RedisLinkOptions {
  node: string;
  role: ClusterRole;
  /** What to connect to, as ioredis takes it; `describe` names it in logs without a password. */
  connect: { url?: string; options: RedisOptions; describe: string };
  secrets: SecretBox;
  log: pino.Logger;
  metrics: Registry;
  outboxMax?: number;
}

export class RedisLink implements ClusterStore {
  readonly node: string;
  readonly role: ClusterRole;
  private readonly cmd: Redis;
  private readonly sub: Redis;
  private readonly outbox: Outbox;
  private readonly handlers = new Map<string, ((message: string) => void)[]>();
  private readonly resyncs = new Map<string, () => void>();
  private readonly limiter = new LogLimiter();
  private up = false;
  private started = false;
  /** The connection's last error (a message from ioredis or the TLS stack: no password in it). */
  private lastError: string | undefined;
  /**
   * Commands numbered up to here are applied here (or older than this node's first connection);
   * undefined until Redis first answered. `commandsAhead`: applied, past a gap below them.
   */
  private commandFloor: number | undefined;
  private readonly commandsAhead = new Set<number>();
  private commandsReplayed = 0;
  private stopped = false;
  private flushing = false;
  private flushQueued = false;
  private pubSeq = 0;
  private outages = 0;
  /** The subscription connection is ready: a resync waits for it, or other nodes' answers go unheard. */
  private subUp = false;
  private resyncPending = false;
  private heartbeat: NodeJS.Timeout | undefined;
  private readonly since = new Date().toISOString();
  private readonly m: {
    up: Gauge;
    outages: Counter;
    dropped: Counter;
    commands: Counter;
    failed: Counter;
    resyncs: Counter;
  };

  constructor(private readonly opts: RedisLinkOptions) {
    this.node = opts.node;
    this.role = opts.role;
    this.outbox = new Outbox(opts.outboxMax ?? OUTBOX_MAX);
    const base: RedisOptions = {
      ...opts.connect.options,
      lazyConnect: true,
      // Fail, never queue: a command while Redis is away must not wait for it to come back.
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      commandTimeout: COMMAND_TIMEOUT_MS,
      connectTimeout: COMMAND_TIMEOUT_MS,
      retryStrategy: reconnectDelay,
    };
    const make = (o: RedisOptions) => (opts.connect.url ? new Redis(opts.connect.url, o) : new Redis(o));
    this.cmd = make(base);
    // Subscriptions are queued until connected (one entry per channel) and re-made on reconnect.
    this.sub = make({ ...base, enableOfflineQueue: true, commandTimeout: undefined, autoResubscribe: true });
    this.cmd.on('ready', () => this.markUp());
    this.cmd.on('close', () => this.markDown('connection closed'));
    // During an outage every reconnect fails: the outage's own line says it once.
    this.cmd.on('error', (err: Error) => {
      // A command failed because the connection did: the connection's own error is the cause.
      if (!/max retries per request/i.test(err.message)) this.lastError = err.message;
      if (this.up || !this.started) this.warn('redis-error', ppx(170002, { err: err.message }));
    });
    this.sub.on('error', () => undefined); // the command connection reports the outage
    this.sub.on('ready', () => {
      this.subUp = true;
      this.maybeResync();
    });
    this.sub.on('close', () => {
      this.subUp = false;
    });
    this.sub.on('message', (channel: string, message: string) => {
      if (channel === KEY_PREFIX + COMMAND_CHANNEL && !this.firstHearing(message)) return;
      this.dispatch(channel, message);
    });
    const registers = [opts.metrics];
    this.m = {
      up: new Gauge({ name: 'phone_proxy_cluster_redis_up', help: '1 while Redis answers', registers }),
      outages: new Counter({
        name: 'phone_proxy_cluster_redis_outages_total',
        help: 'Times Redis became unreachable (the node served alone meanwhile)',
        registers,
      }),
      dropped: new Counter({
        name: 'phone_proxy_cluster_outbox_dropped_total',
        help: 'Queued Redis writes dropped because the outbox was full (oldest first)',
        registers,
      }),
      commands: new Counter({
        name: 'phone_proxy_cluster_redis_commands_total',
        help: 'Redis commands sent',
        registers,
      }),
      failed: new Counter({
        name: 'phone_proxy_cluster_redis_failed_commands_total',
        help: 'Redis commands that failed (outage, timeout)',
        registers,
      }),
      resyncs: new Counter({
        name: 'phone_proxy_cluster_resyncs_total',
        help: 'Local state re-published after Redis came back',
        registers,
      }),
    };
    this.m.up.set(0);
  }

  /** Connects; true when Redis answered within `timeoutMs`. Reconnects go on in the background either way. */
  async start(timeoutMs: number): Promise<boolean> {
    const ready = new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.cmd.once('ready', () => {
        clearTimeout(timer);
        resolve(true);
      });
    });
    this.cmd.connect().catch(() => undefined);
    this.sub.connect().catch(() => undefined);
    const ok = await ready;
    // Where the command log stands: what is numbered after this is for this node.
    if (ok) await this.replayCommands().catch(() => undefined);
    this.started = true;
    this.beat();
    this.heartbeat = setInterval(() => {
      this.beat();
      this.flushWarnings(Date.now());
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
    // Started alone: the first connection later is a return, with state to publish.
    if (!ok) this.resyncPending = true;
    if (ok) this.scheduleFlush();
    return ok;
  }

  async stop(): Promise<void> {
    this.flushWarnings(Number.POSITIVE_INFINITY);
    this.stopped = true;
    clearInterval(this.heartbeat);
    if (this.started) this.del(NODE_KEY + this.node);
    // What is still queued goes out when Redis is there; an outage does not delay the stop.
    if (this.up) await this.flush().catch(() => undefined);
    this.sub.disconnect();
    this.cmd.disconnect();
  }

  private beat(): void {
    this.set(NODE_KEY + this.node, JSON.stringify({ role: this.role, pid: process.pid, since: this.since }), {
      ttlMs: HEARTBEAT_TTL_MS,
    });
  }

  isUp(): boolean {
    return this.up;
  }

  /**
   * Why Redis does not answer, as an operator can act on it: the last error, and what it most
   * likely means here. A TLS server that requires a client certificate drops a client without
   * one after the handshake (TLS 1.3): the client sees only a reset.
   */
  failureCause(): string {
    const err = this.lastError;
    if (err === undefined) return 'no answer';
    const o = this.opts.connect.options;
    const tls = o.tls as { cert?: unknown } | undefined;
    if (tls && !tls.cert && /ECONNRESET|socket disconnected|certificate required|alert/i.test(err))
      return `${err}: the server may require a client certificate (appliance-cluster.tls.certificate and key)`;
    if (/WRONGPASS|NOAUTH|invalid password|AUTH/i.test(err))
      return `${err}: check the Redis user and password (URL or appliance-cluster.password-file)`;
    if (/self.signed|unable to verify|certificate/i.test(err))
      return `${err}: check appliance-cluster.tls.ca (the CA that signed the server's certificate) and server-name`;
    return err;
  }

  /** Counters and state for `show cluster` and the tests. */
  status() {
    return {
      node: this.node,
      role: this.role,
      redis: this.opts.connect.describe,
      up: this.up,
      outbox: this.outbox.size,
      outboxMax: this.outbox.max,
      dropped: this.outbox.dropped,
      coalesced: this.outbox.coalesced,
      outages: this.outages,
      secretKey: this.opts.secrets.currentId,
      commandEpoch: this.commandFloor ?? null,
      commandsReplayed: this.commandsReplayed,
    };
  }

  set(key: string, value: string, opts: ClusterWriteOptions = {}): void {
    this.enqueue(key, { op: 'set', key: KEY_PREFIX + key, value, ttlMs: opts.ttlMs, notify: opts.notify });
  }

  setSecret(key: string, plain: Buffer | string, opts: ClusterWriteOptions = {}): void {
    this.set(key, this.seal(key, plain), opts);
  }

  /** The sealed form setSecret stores (for values carried in a message rather than a key). */
  seal(key: string, plain: Buffer | string): string {
    return SEALED + this.opts.secrets.seal(plain, key).toString('base64');
  }

  openSecret(key: string, sealed: string): Buffer {
    if (!sealed.startsWith(SEALED)) throw new Error(`${key}: not a sealed value`);
    return this.opts.secrets.open(Buffer.from(sealed.slice(SEALED.length), 'base64'), key);
  }

  expire(key: string, ttlMs: number, notify?: ClusterNotify): void {
    this.enqueue(key, { op: 'expire', key: KEY_PREFIX + key, ttlMs, notify });
  }

  del(key: string, notify?: ClusterNotify): void {
    this.enqueue(key, { op: 'del', key: KEY_PREFIX + key, notify });
  }

  publish(channel: string, message: string, topic?: string): void {
    // Without a topic every message is its own slot (still bounded by the outbox size).
    const slot = `\0pub\0${channel}\0${topic ?? `#${this.pubSeq++}`}`;
    this.enqueue(slot, { op: 'publish', channel: KEY_PREFIX + channel, message });
  }

  async get(key: string): Promise<string | undefined> {
    this.needUp();
    return (await this.cmd.get(KEY_PREFIX + key)) ?? undefined;
  }

  async getSecret(key: string): Promise<Buffer | undefined> {
    const v = await this.get(key);
    return v === undefined ? undefined : this.openSecret(key, v);
  }

  async setIfAbsent(key: string, value: string): Promise<boolean> {
    this.needUp();
    this.m.commands.inc();
    return (await this.cmd.set(KEY_PREFIX + key, value, 'NX')) === 'OK';
  }

  async scan(prefix: string, max: number): Promise<ClusterEntry[]> {
    this.needUp();
    const keys: string[] = [];
    let cursor = '0';
    do {
      const [next, batch] = await this.cmd.scan(
        cursor,
        'MATCH',
        `${KEY_PREFIX}${escapeGlob(prefix)}*`,
        'COUNT',
        SCAN_COUNT,
      );
      this.m.commands.inc();
      cursor = next;
      for (const k of batch) if (keys.length < max) keys.push(k);
    } while (cursor !== '0' && keys.length < max);
    if (keys.length === 0) return [];
    const p = this.cmd.pipeline();
    for (const k of keys) p.get(k).pttl(k);
    const res = (await p.exec()) ?? [];
    this.m.commands.inc(keys.length * 2);
    const out: ClusterEntry[] = [];
    keys.forEach((k, n) => {
      const value = res[2 * n]?.[1];
      const ttl = res[2 * n + 1]?.[1];
      if (typeof value === 'string')
        out.push({ key: k.slice(KEY_PREFIX.length), value, ttlMs: typeof ttl === 'number' ? ttl : -1 });
    });
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * A cluster-wide command on the command channel, numbered and kept in Redis for a day so a
   * node cut off from Redis meanwhile applies it when it returns. Control plane: fails while
   * Redis is away (as the reads before it do).
   */
  async sendCommand(command: Record<string, unknown>): Promise<void> {
    this.needUp();
    const epoch = await this.cmd.incr(KEY_PREFIX + COMMAND_EPOCH_KEY);
    const text = JSON.stringify({ ...command, epoch });
    await this.cmd
      .multi()
      .set(KEY_PREFIX + COMMAND_LOG_KEY + epoch, text, 'PX', COMMAND_LOG_TTL_MS)
      .publish(KEY_PREFIX + COMMAND_CHANNEL, text)
      .exec();
    this.m.commands.inc(3);
  }

  private dispatch(channel: string, message: string): void {
    for (const h of this.handlers.get(channel) ?? []) {
      try {
        h(message);
      } catch (err) {
        this.warn('handler', ppx(170003, { channel, err: (err as Error).message }));
      }
    }
  }

  /** A numbered command not applied yet (a replay and pub/sub may both bring one): note it, true. */
  private firstHearing(message: string): boolean {
    let epoch: unknown;
    try {
      epoch = (JSON.parse(message) as { epoch?: unknown })?.epoch;
    } catch {
      return true; // the handlers ignore what they cannot read
    }
    if (typeof epoch !== 'number' || !Number.isSafeInteger(epoch)) return true;
    if (this.commandFloor === undefined) return true;
    if (epoch <= this.commandFloor || this.commandsAhead.has(epoch)) return false;
    this.commandsAhead.add(epoch);
    while (this.commandsAhead.delete(this.commandFloor + 1)) this.commandFloor++;
    if (this.commandsAhead.size > COMMAND_AHEAD_MAX) {
      this.commandFloor = Math.max(...this.commandsAhead);
      this.commandsAhead.clear();
    }
    return true;
  }

  /**
   * After an outage, before the publishers re-put their state: the commands this node missed,
   * in order (a clear must not be undone by the re-publish of what it cleared). The first
   * connection only notes where the log stands: older commands are not this node's.
   */
  private async replayCommands(): Promise<void> {
    const current = Number((await this.cmd.get(KEY_PREFIX + COMMAND_EPOCH_KEY)) ?? 0);
    this.m.commands.inc();
    const floor = this.commandFloor;
    if (floor === undefined || current <= floor) {
      // Below the floor: Redis lost the log (restarted empty) and numbers from 1 again.
      if (floor !== undefined && current < floor) this.commandsAhead.clear();
      this.commandFloor = current;
      return;
    }
    const from = Math.max(floor + 1, current - COMMAND_REPLAY_MAX + 1);
    const p = this.cmd.pipeline();
    for (let e = from; e <= current; e++) p.get(KEY_PREFIX + COMMAND_LOG_KEY + e);
    const res = (await p.exec()) ?? [];
    this.m.commands.inc(current - from + 1);
    let missed = from - (floor + 1);
    const texts: string[] = [];
    res.forEach(([, v], i) => {
      if (this.commandsAhead.has(from + i)) return;
      if (typeof v === 'string') texts.push(v);
      else missed++;
    });
    this.commandFloor = current;
    for (const e of [...this.commandsAhead]) if (e <= current) this.commandsAhead.delete(e);
    for (const t of texts) this.dispatch(KEY_PREFIX + COMMAND_CHANNEL, t);
    this.commandsReplayed += texts.length;
    if (texts.length > 0)
      this.opts.log.info(
        { commands: texts.length, upTo: current },
        'cluster commands missed during the outage applied',
      );
    if (missed > 0) this.warn('commands-missed', ppx(170016, { missed, upTo: current }));
  }

  subscribe(channel: string, onMessage: (message: string) => void): void {
    const full = KEY_PREFIX + channel;
    const list = this.handlers.get(full);
    if (list) list.push(onMessage);
    else {
      this.handlers.set(full, [onMessage]);
      this.sub
        .subscribe(full)
        .catch((err: Error) => this.warn('subscribe', ppx(170004, { channel, err: err.message })));
    }
  }

  onResync(name: string, resync: () => void): void {
    this.resyncs.set(name, resync);
  }

  operatorViews(): OperatorViews {
    return {
      show: [
        {
          name: 'cluster',
          help: 'this node in the appliance cluster: Redis link, outbox, outage counters',
          render: async () => {
            const s = this.status();
            const nodes = this.up ? await this.scan(NODE_KEY, 1000).catch(() => []) : [];
            const name = (key: string) => key.slice(NODE_KEY.length);
            return {
              data: { ...s, nodes: nodes.map((n) => ({ node: name(n.key), ...safeJson(n.value) })) },
              lines: [
                `node ${s.node} (${s.role}), Redis ${s.redis}: ${s.up ? 'up' : 'DOWN: serving alone'}`,
                `role ${s.role}: ${ROLE_MEANING[s.role]}`,
                `outbox ${s.outbox}/${s.outboxMax}, coalesced ${s.coalesced}, dropped ${s.dropped}, outages ${s.outages}; sealing key ${s.secretKey}`,
              ],
              tables: [
                {
                  title: 'Nodes alive (heartbeat within 30 s)',
                  columns: ['node', 'role', 'pid', 'since'],
                  rows: nodes.map((n) => {
                    const v = safeJson(n.value);
                    return [name(n.key), String(v.role ?? ''), Number(v.pid ?? 0), String(v.since ?? '')];
                  }),
                },
              ],
            };
          },
        },
      ],
      clear: [],
    };
  }

  private needUp(): void {
    if (!this.up) throw new Error(`Redis ${this.opts.connect.describe} is unreachable`);
  }

  private enqueue(slot: string, op: OutboxOp): void {
    const before = this.outbox.dropped;
    this.outbox.put(slot, op);
    if (this.outbox.dropped !== before) {
      this.m.dropped.inc(this.outbox.dropped - before);
      this.warn('outbox-full', ppx(170005, { max: this.outbox.max }));
    }
    this.scheduleFlush();
  }

  private scheduleFlush(): void {
    if (!this.up || this.flushing || this.flushQueued || this.outbox.size === 0) return;
    this.flushQueued = true;
    setImmediate(() => {
      this.flushQueued = false;
      this.flush().catch((err: Error) => this.warn('flush', ppx(170006, { err: err.message })));
    });
  }

  private async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (this.up && this.outbox.size > 0) {
        const ops = this.outbox.take(BATCH);
        const p = this.cmd.pipeline();
        let n = 0;
        for (const op of ops) n += addOp(p, op);
        this.m.commands.inc(n);
        let res: [Error | null, unknown][] | null;
        try {
          res = await p.exec();
        } catch {
          // Lost with the connection: the resync after reconnecting re-puts the state.
          this.m.failed.inc(n);
          break;
        }
        const failed = (res ?? []).filter(([err]) => err).length;
        if (failed > 0) {
          this.m.failed.inc(failed);
          this.warn('write-failed', ppx(170007, { failed }));
        }
      }
    } finally {
      this.flushing = false;
    }
    this.scheduleFlush();
  }

  private markUp(): void {
    if (this.up) return;
    this.up = true;
    this.m.up.set(1);
    this.maybeResync();
    this.scheduleFlush();
  }

  private maybeResync(): void {
    if (!this.resyncPending || !this.up || !this.subUp || this.stopped) return;
    this.resyncPending = false;
    this.opts.log.warn(...ppx(170008, { redis: this.opts.connect.describe }));
    this.m.resyncs.inc();
    this.replayCommands()
      .catch((err: Error) => this.warn('resync', ppx(170009, { name: 'commands', err: err.message })))
      .finally(() => {
        if (this.stopped) return;
        for (const [name, resync] of this.resyncs) {
          try {
            resync();
          } catch (err) {
            this.warn('resync', ppx(170009, { name, err: (err as Error).message }));
          }
        }
      });
  }

  private markDown(why: string): void {
    if (!this.up || this.stopped) return;
    this.up = false;
    this.m.up.set(0);
    this.m.outages.inc();
    this.outages++;
    if (this.started) this.resyncPending = true;
    this.warn('redis-down', ppx(170010, { redis: this.opts.connect.describe, why }));
  }

  /** What the limiter held back and no later warning of its kind reported: said once its interval is over. */
  private flushWarnings(now: number): void {
    for (const { key, suppressed } of this.limiter.flush(now))
      this.opts.log.warn(...ppx(100001, { kind: key, suppressed }));
  }

  /** A warning through the rate limiter: the first per kind in 15 s, after the count held back. */
  private warn(kind: string, line: [Record<string, unknown>, string]): void {
    if (this.stopped) return;
    const d = this.limiter.check(kind, Date.now());
    if (!d.write) return;
    if (d.suppressed > 0) this.opts.log.warn(...ppx(100001, { kind, suppressed: d.suppressed }));
    this.opts.log.warn(...line);
  }
}

function addOp(p: ReturnType<Redis['pipeline']>, op: OutboxOp): number {
  let n = 1;
  if (op.op === 'set') {
    if (op.ttlMs !== undefined) p.set(op.key, op.value, 'PX', Math.max(1, Math.round(op.ttlMs)));
    else p.set(op.key, op.value);
  } else if (op.op === 'expire') p.pexpire(op.key, Math.max(1, Math.round(op.ttlMs)));
  else if (op.op === 'del') p.del(op.key);
  else p.publish(op.channel, op.message);
  if (op.op !== 'publish' && op.notify) {
    p.publish(KEY_PREFIX + op.notify.channel, op.notify.message);
    n++;
  }
  return n;
}

function escapeGlob(s: string): string {
  return s.replace(/[*?[\]\\]/g, '\\$&');
}

function safeJson(s: string): Record<string, unknown> {
  try {
    const v = JSON.parse(s);
    return v && typeof v === 'object' ? (v as Record<string, unknown>) : { value: v };
  } catch {
    return { value: s };
  }
}

/** What the policy's `appliance-cluster` connects to, in ioredis' terms (TLS files read here). */
export function redisConnectOptions(c: ApplianceCluster, policyDir: string): RedisLinkOptions['connect'] {
  const file = (f: string | undefined) => (f === undefined ? undefined : readFileSync(path.resolve(policyDir, f)));
  const t = c.tls;
  // Read here, never logged: `describe` names the server only.
  const pw = c['password-file'];
  const password = pw === undefined ? undefined : redisPassword(readFileSync(path.resolve(policyDir, pw), 'utf8'));
  const tls =
    t || (typeof c.redis === 'string' && c.redis.startsWith('rediss:'))
      ? { ca: file(t?.ca), cert: file(t?.certificate), key: file(t?.key), servername: t?.['server-name'] }
      : undefined;
  if (typeof c.redis === 'string')
    return {
      url: c.redis,
      options: { ...(tls ? { tls } : {}), ...(password !== undefined ? { password } : {}) },
      describe: redactUrl(c.redis),
    };
  const r = c.redis;
  return {
    options: {
      sentinels: r.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: r.name,
      db: r.db,
      username: r.username,
      password: password ?? r.password,
      ...(tls ? { tls, sentinelTLS: tls, enableTLSForSentinelMode: true } : {}),
    },
    describe: `sentinel ${r.name} via ${r.sentinels.map((s) => `${s.host}:${s.port}`).join(',')}`,
  };
}

/** The link the daemon builds from the policy (secret file checked by the policy loader). */
export function createRedisLink(loaded: LoadedPolicy, log: pino.Logger, metrics: Registry): RedisLink {
  const c = loaded.policy['appliance-cluster'];
  if (!c) throw new Error('createRedisLink: the policy has no appliance-cluster');
  const dir = path.dirname(loaded.file);
  const keys = parseSecretKeys(readFileSync(path.resolve(dir, c['secret-file']), 'utf8'));
  return new RedisLink({
    node: c.node,
    role: c.role,
    connect: redisConnectOptions(c, dir),
    secrets: new SecretBox(keys),
    log,
    metrics,
  });
}
