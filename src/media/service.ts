/**
 * The media service: the control plane of media termination, in the main thread. Signaling
 * allocates a session per call (two legs: outside towards the remote phone, inside towards the
 * UCM-side peer), sets each leg's peer and keys, and releases it. Packets never pass here:
 * they run in the workers (worker.ts); counters come back through a shared array.
 */
import { isIPv4 } from 'node:net';
import os from 'node:os';
import type pino from 'pino';
import { touches } from '../config/reload-plan';
import type { MediaCapture, MediaCaptureSink, MediaWatch } from '../contracts/capture';
import type {
  AllocateRequest,
  LegEndpoint,
  MediaAllocator,
  MediaDirection,
  MediaReplicaSink,
  MediaSessionInfo,
  MediaTakeover,
  TakenOverSession,
  UpdateLegConfig,
} from '../contracts/media';
import type { Listening, OperatorViews, Reconfiguration, Service, ServiceContext } from '../contracts/service';
import { MediaError, PortExhaustedError, type WorkerError } from '../errors';
import { ppx } from '../messages';
import { advertisedAddress, legAddress, type MediaPlan, mediaPlan, planAddresses } from './addresses';
import { MediaReplica } from './cluster-replica';
import { clearSlot, createCounterArray, LAST_RX_MS, legBase, RX_PACKETS, SESSION_FIELDS, SlotTable } from './counters';
import { isSrtpProfile, keySaltLength } from './engine';
import {
  FIRST_REFUSED,
  type FirstLeg,
  type FromWorker,
  type LegConfig,
  type SocketIo,
  type WorkerIo,
} from './messages';
import { registerMediaMetrics } from './metrics';
import { PortPool } from './ports';
import type { AdmissionCaps, MediaLegRecord, MediaObservable, MediaOwner, MediaSessionRecord } from './records';
import { TAP_CLEAR, TAP_WIRE } from './relay';
import { type AdoptHost, adoptSnapshot, publishPositions, sessionSnapshot } from './replica';
import { sameLegConfig } from './same-leg-config';
import { mediaViews } from './views';
import { WorkerPool } from './workers';

export type { AdmissionCaps, MediaLegRecord, MediaOwner, MediaSessionRecord } from './records';
export type { LegEndpoint, MediaSessionInfo, UpdateLegConfig };

export interface MediaServiceOptions {
  /** How long a released port pair waits before reuse (default 30 s). */
  quarantineMs?: number;
  /** Worker threads, overriding the policy's `workers`. */
  workers?: number;
  now?: () => number;
  /**
   * Admission caps (issue 12), from the policy's `media-termination.max-sessions-per-phone`,
   * `max-sessions-per-connection` and `max-sessions` (src/appliance.ts). A Cisco phone rarely holds more than a few calls at once
   * (active, held, consultation, conference), so these leave room and still stop one phone or
   * one connection from taking the whole port range.
   */
  maxSessionsPerPhone?: number;
  maxSessionsPerConnection?: number;
  /** All sessions together; default and ceiling: the session table (one pair per leg). */
  maxSessions?: number;
  /** Replication (issue 14): snapshots go here on create/update and as SRTP streams move. */
  replica?: MediaReplicaSink;
  /** How often workers report SRTP stream states for the replica (default 200 ms). */
  replicaEveryMs?: number;
  /** Takeover: how long to keep retrying the binds of a session a dead process still holds (default 5 s). */
  adoptBindMs?: number;
  /** The workers' socket path, overriding the policy's `socket-io` (tests). */
  socketIo?: SocketIo;
  /** Another batched-addon file than the built one (tests of the fallback). */
  socketIoAddon?: string;
}

export const DEFAULT_MAX_SESSIONS_PER_PHONE = 12;
export const DEFAULT_MAX_SESSIONS_PER_CONNECTION = 8;

/** What the rest of the appliance (composition root, tests, benchmarks) uses of the service. */
export interface MediaTermination extends Service, MediaAllocator, MediaObservable, MediaCapture, MediaTakeover {
  operatorViews(): OperatorViews;
  readonly errors: Map<string, number>;
  readonly releases: Map<string, number>;
  /** Tests: make a worker die as a crash would; its sessions are re-created on the new one. */
  killWorker(index: number): Promise<void>;
  workerOf(id: string): number | undefined;
  /** Whether the session still exists (signaling re-creates one the operator or a timer released). */
  has(id: string): boolean;
  /** The SDP direction of the session's stream: a held call is not idle. */
  setDirection(id: string, direction: MediaDirection): void;
}

const BIND_RETRIES = 4;
/** Lowest port a takeover-only address claims for an adopted session. */
const TAKEOVER_MIN_PORT = 1024;

/**
 * How long a deferred release waits for a create to ride with before it is sent alone: long
 * enough that a busy appliance's next call carries it, short enough that the ports and the
 * session slot of a quiet one come back at once for practical purposes.
 */
const DEFERRED_DESTROY_MS = 20;

const DIRECTIONS: readonly MediaDirection[] = ['sendrecv', 'sendonly', 'recvonly', 'inactive'];

export class MediaService implements MediaTermination {
  readonly name = 'media';
  readonly plan: MediaPlan;
  readonly counters: Float64Array;
  /** Control-plane errors by cause (exhausted ports, unknown sessions, bad requests, ...). */
  readonly errors = new Map<string, number>();
  /** Sessions released, by reason. */
  readonly releases = new Map<string, number>();
  /** Counters of released sessions, summed per leg (SESSION_FIELDS doubles). */
  readonly releasedTotals = new Float64Array(SESSION_FIELDS);
  readonly caps: AdmissionCaps;

  private readonly log: pino.Logger;
  private readonly now: () => number;
  private readonly addressPools: { address: string; interfaces: string[]; pool: PortPool }[];
  private readonly poolByAddress: Map<string, PortPool>;
  /**
   * Other nodes' media addresses this node binds only for sessions adopted from them
   * (appliance-cluster.takeover-addresses): claimed port by port, never allocated from, so no
   * new call lands on a peer's address.
   */
  private readonly takeoverPoolByAddress: Map<string, PortPool>;
  private readonly capacity: number;
  private readonly slots: SlotTable;
  private readonly table = new Map<string, MediaSessionRecord>();
  private readonly perWorker: number[] = [];
  private pool: WorkerPool | undefined;
  /** Replication through the cluster link, when the policy has appliance-cluster (issue 14). */
  private clusterReplica: MediaReplica | undefined;
  private idleTimer: NodeJS.Timeout | undefined;
  /** Released sessions (releaseLater) per worker, destroyed with its next create or by the timer. */
  private readonly pendingDestroy = new Map<number, MediaSessionRecord[]>();
  private destroyTimer: NodeJS.Timeout | undefined;
  private seq = 0;
  private restarts = 0;
  /** Sessions taken over from a dead node (issue 14) still here. */
  private takenOverCount = 0;
  /** Sessions admitted (allocated or being bound), in all and per phone and connection. */
  private admitted = 0;
  private readonly perPhone = new Map<string, number>();
  private readonly perConnection = new Map<string, number>();
  /** What captures watch (issue 15), and where the tapped packets go. */
  private watches: readonly MediaWatch[] = [];
  private captureSink: MediaCaptureSink | undefined;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: MediaServiceOptions = {},
  ) {
    this.plan = mediaPlan(ctx.loaded.policy);
    this.log = ctx.logs.for('media');
    this.now = opts.now ?? Date.now;
    const quarantineMs = opts.quarantineMs ?? 30_000;
    this.addressPools = planAddresses(this.plan).map((a) => ({
      ...a,
      pool: new PortPool(a.address, this.plan.minPort, this.plan.maxPort, quarantineMs, this.now),
    }));
    this.poolByAddress = new Map(this.addressPools.map((a) => [a.address, a.pool]));
    // The dead node's port range may differ from ours: any unprivileged RTP port is claimable.
    this.takeoverPoolByAddress = new Map(
      (ctx.loaded.policy['appliance-cluster']?.['takeover-addresses'] ?? [])
        .filter((a) => !this.poolByAddress.has(a))
        .map((a) => [a, new PortPool(a, TAKEOVER_MIN_PORT, 65535, 0, this.now)]),
    );
    // A session takes one pair per leg; with a global address both come from one pool.
    const pairs = this.addressPools.reduce((n, a) => n + a.pool.total, 0);
    this.capacity = Math.max(1, Math.min(65536, this.plan.global !== undefined ? Math.floor(pairs / 2) : pairs));
    this.counters = createCounterArray(this.capacity);
    this.slots = new SlotTable(this.capacity);
    this.caps = { perPhone: 0, perConnection: 0, global: 0 };
    this.setCaps(opts);
  }

  private setCaps(o: Pick<MediaServiceOptions, 'maxSessionsPerPhone' | 'maxSessionsPerConnection' | 'maxSessions'>) {
    const cap = (v: number | undefined, d: number) => Math.max(1, Math.min(this.capacity, Math.floor(v ?? d)));
    this.caps.perPhone = cap(o.maxSessionsPerPhone, DEFAULT_MAX_SESSIONS_PER_PHONE);
    this.caps.perConnection = cap(o.maxSessionsPerConnection, DEFAULT_MAX_SESSIONS_PER_CONNECTION);
    this.caps.global = cap(o.maxSessions, this.capacity);
  }

  /**
   * Live reload: the session caps admit new sessions against the new values (sessions over a
   * lowered cap stay up), the idle sweep uses the new timeout. Ports and addresses stay.
   */
  reconfigure({ changed }: Reconfiguration): string[] {
    const mine = changed.filter((c) => touches([c], 'media-termination'));
    if (mine.length === 0) return [];
    const mt = this.ctx.loaded.policy['media-termination'];
    this.setCaps({
      maxSessionsPerPhone: mt['max-sessions-per-phone'],
      maxSessionsPerConnection: mt['max-sessions-per-connection'],
      maxSessions: mt['max-sessions'],
    });
    this.plan.idleTimeoutMs = mt['idle-timeout'] * 1000;
    if (this.idleTimer) this.startIdleSweep();
    this.log.info({ changed: mine, caps: this.caps, idleTimeoutMs: this.plan.idleTimeoutMs }, 'media reconfigured');
    return mine;
  }

  private startIdleSweep(): void {
    if (this.idleTimer) clearInterval(this.idleTimer);
    const tick = Math.max(100, Math.min(1000, this.plan.idleTimeoutMs / 4));
    this.idleTimer = setInterval(() => this.checkIdle(), tick);
    this.idleTimer.unref();
  }

  // ---- the MediaAllocator contract ------------------------------------------------------

  async allocate(req: AllocateRequest): Promise<MediaSessionInfo> {
    const { callId, outsideInterface, insideInterface } = req;
    this.running();
    if (typeof callId !== 'string' || callId === '') this.fail('bad-request', 'media: allocate needs a callId');
    let outsideAddress: string;
    let insideAddress: string;
    try {
      outsideAddress = legAddress(this.plan, 'outside', outsideInterface);
      insideAddress = legAddress(this.plan, 'inside', insideInterface);
    } catch (err) {
      return this.fail('bad-request', (err as Error).message);
    }
    const owner: MediaOwner = { phone: req.phone, connection: req.connection, dialogAlive: req.dialogAlive };
    let first = this.firstLeg(req.first);
    this.admit(owner, callId);
    const slot = this.slots.take();
    if (slot === undefined) {
      this.unadmit(owner);
      return this.fail('sessions-full', `media: session table full (${this.capacity} sessions)`);
    }
    const s: MediaSessionRecord = {
      id: `m${(++this.seq).toString(16)}`,
      callId,
      slot,
      worker: this.leastLoaded(),
      created: 0,
      lastChange: 0,
      legs: [this.legRecord('outside', outsideAddress), this.legRecord('inside', insideAddress)],
      owner,
      direction: 'sendrecv',
    };
    try {
      first = await this.bindWithRetries(s, first);
    } catch (err) {
      this.slots.give(slot);
      this.unadmit(owner);
      throw err;
    }
    this.table.set(s.id, s);
    this.perWorker[s.worker] = (this.perWorker[s.worker] ?? 0) + 1;
    if (first) {
      (s.legs[first.leg] as MediaLegRecord).cfg = first.cfg;
      if (first.leg === 0) this.applyCapture(s);
    }
    const [outside, inside] = s.legs;
    this.log.debug(
      {
        session: s.id,
        callId,
        worker: s.worker,
        outside: `${outside.address}:${outside.rtpPort}`,
        inside: `${inside.address}:${inside.rtpPort}`,
      },
      'media session allocated',
    );
    this.publish(s);
    return this.info(s);
  }

  /** Where signaling tells each side to send: the outside leg as the phone reaches it (NAT). */
  private info(s: MediaSessionRecord): MediaSessionInfo {
    const [outside, inside] = s.legs;
    const shown = advertisedAddress(this.plan, outside.address);
    const outsideEndpoint = shown === outside.address ? endpoint(outside) : { ...endpoint(outside), advertised: shown };
    return { id: s.id, outside: outsideEndpoint, inside: endpoint(inside) };
  }

  async updateLeg(id: string, leg: 'outside' | 'inside', cfg: UpdateLegConfig): Promise<void> {
    const pool = this.running();
    const s = this.table.get(id) ?? this.fail('unknown-session', `media: unknown media session "${id}"`);
    if (leg !== 'outside' && leg !== 'inside')
      this.fail('bad-request', `media: leg must be "outside" or "inside", not "${leg}"`);
    const index = leg === 'outside' ? 0 : 1;
    const checked = this.checkConfig(cfg);
    const record = s.legs[index];
    // Nothing new (hold/resume with the same SDP): no worker round trip, the latch stands.
    if (sameLegConfig(record.cfg, checked)) {
      s.lastChange = this.now();
      return;
    }
    try {
      // Without a peer the worker keeps its destination and latch (re-key, hold/resume).
      await pool.request(s.worker, { op: 'update', id, leg: index, cfg: checked });
    } catch (err) {
      return this.fail('update-failed', `media: session ${id} ${leg} leg: ${(err as Error).message}`);
    }
    // A new profile or mode means new SRTP contexts in the worker: old positions no longer apply.
    if (record.cfg?.mode !== checked.mode || record.cfg?.srtp?.profile !== checked.srtp?.profile) record.streams = {};
    // The last peer stays on record: a restarted worker is given it again.
    if (!checked.peer && record.cfg?.peer) checked.peer = record.cfg.peer;
    record.cfg = checked;
    if (cfg.peer) record.latched = {};
    s.lastChange = this.now();
    if (index === 0) this.applyCapture(s);
    this.publish(s);
    this.log.debug({ session: id, leg, mode: checked.mode, peer: checked.peer }, 'media leg updated');
  }

  async release(id: string, reason: string): Promise<void> {
    const s = this.detach(id, reason);
    try {
      await this.pool?.request(s.worker, { op: 'destroy', id });
    } catch {
      // A dead worker took the sockets with it: nothing left to close.
    }
    this.giveBack(s);
  }

  releaseLater(id: string, reason: string): void {
    const s = this.detach(id, reason);
    let list = this.pendingDestroy.get(s.worker);
    if (!list) {
      list = [];
      this.pendingDestroy.set(s.worker, list);
    }
    list.push(s);
    // No create to ride with soon (a quiet appliance): closed by themselves shortly.
    if (!this.destroyTimer) {
      this.destroyTimer = setTimeout(() => {
        this.destroyTimer = undefined;
        // Worker errors are taken inside; anything else is a bug, counted where operators see errors.
        this.flushDestroys().catch(() => count(this.errors, 'release-failed'));
      }, DEFERRED_DESTROY_MS);
      this.destroyTimer.unref();
    }
  }

  /** Gone for signaling, views, caps and replication; its slot and ports wait for giveBack. */
  private detach(id: string, reason: string): MediaSessionRecord {
    const s = this.table.get(id) ?? this.fail('unknown-session', `media: unknown media session "${id}"`);
    this.table.delete(id);
    if (s.takenOver) this.takenOverCount--;
    this.replicaSink()?.forget(id);
    this.perWorker[s.worker] = (this.perWorker[s.worker] ?? 1) - 1;
    this.unadmit(s.owner);
    count(this.releases, reason);
    this.log.debug({ session: id, callId: s.callId, reason }, `media session ${id} released: ${reason}`);
    return s;
  }

  /** Once the worker closed the session's sockets (or died with them): its counters, ports and slot. */
  private giveBack(s: MediaSessionRecord): void {
    const base = s.slot * SESSION_FIELDS;
    for (let i = 0; i < SESSION_FIELDS; i++)
      this.releasedTotals[i] = (this.releasedTotals[i] ?? 0) + (this.counters[base + i] ?? 0);
    // Only a pair that has heard its peer may still get late packets: the rest skip quarantine
    // (a call answered 404 gives its ports straight back, issue 12).
    s.legs.forEach((l, i) => {
      l.pool.release(l.rtpPort, (this.counters[legBase(s.slot, i as 0 | 1) + RX_PACKETS] ?? 0) > 0);
    });
    clearSlot(this.counters, s.slot);
    this.slots.give(s.slot);
  }

  /** The worker's deferred releases, taken to travel with a request to it. */
  private takeDestroys(worker: number): MediaSessionRecord[] {
    const list = this.pendingDestroy.get(worker);
    if (!list || list.length === 0) return [];
    this.pendingDestroy.delete(worker);
    return list;
  }

  /** Every deferred release destroyed now, one request each (the timer, stop). */
  private async flushDestroys(): Promise<void> {
    for (const worker of [...this.pendingDestroy.keys()]) {
      for (const s of this.takeDestroys(worker)) {
        try {
          await this.pool?.request(worker, { op: 'destroy', id: s.id });
        } catch {
          // A dead worker took the sockets with it.
        }
        this.giveBack(s);
      }
    }
  }

  // ---- the Service contract and what views, metrics and tests read --------------------------

  /** Which socket path worker `index` runs (media-termination.socket-io), with the addon's totals. */
  socketIo(index = 0): Promise<WorkerIo> {
    return this.running().query(index, { op: 'io' });
  }

  async start(): Promise<Listening[]> {
    const plan = this.plan;
    const n = this.opts.workers ?? (plan.workers || os.availableParallelism());
    for (let i = 0; i < n; i++) this.perWorker[i] = 0;
    this.pool = new WorkerPool(
      n,
      this.counters,
      this.opts.socketIo ?? plan.socketIo,
      {
        onLatched: (m) => this.latched(m),
        onStreams: (m) => {
          const s = this.table.get(m.id);
          if (s) s.legs[m.leg].streams = m.streams;
        },
        onCaptured: (m) => this.captureSink?.media(m.records, m.dropped),
        onPositions: (m) => publishPositions(this.table, m.legs, this.now(), (s) => this.publish(s)),
        onRestarted: (index, code) => {
          this.recoverWorker(index, code).catch((err: Error) =>
            this.log.error(...ppx(160001, { worker: index, err: err.message })),
          );
        },
        onError: (index, err) => this.log.error(...ppx(160002, { worker: index, err: err.message })),
        onSocketIo: (_io, reason) => {
          // socket-io: dgram is a choice, not a fallback worth a warning.
          if ((this.opts.socketIo ?? plan.socketIo) === 'auto') this.log.warn(...ppx(160020, { reason }));
        },
      },
      undefined,
      this.opts.socketIoAddon,
    );
    await this.pool.start();
    const cluster = this.ctx.cluster;
    if (cluster && !this.opts.replica) {
      this.clusterReplica = new MediaReplica({ store: cluster, log: this.log, follow: cluster.role !== 'active' });
      this.clusterReplica.start(this);
    }
    if (this.replicaSink()) await this.trackStreams(n);
    this.startIdleSweep();
    registerMediaMetrics(this.ctx.metrics, this);
    this.log.info(
      { workers: n, addresses: this.addressPools.map((a) => a.address), ports: `${plan.minPort}-${plan.maxPort}` },
      'media termination started',
    );
    return this.addressPools.map((a) => ({
      what: `media ${plan.minPort}-${plan.maxPort}`,
      protocol: 'udp',
      address: a.address,
    }));
  }

  async stop(): Promise<void> {
    if (this.idleTimer) clearInterval(this.idleTimer);
    if (this.destroyTimer) clearTimeout(this.destroyTimer);
    this.destroyTimer = undefined;
    await this.flushDestroys();
    this.clusterReplica?.stop();
    for (const id of [...this.table.keys()]) await this.release(id, 'shutdown').catch(() => undefined);
    await this.pool?.stop();
    this.pool = undefined;
  }

  operatorViews(): OperatorViews {
    return mediaViews(this, this.now, () => this.clusterReplica);
  }

  sessions(): MediaSessionRecord[] {
    return [...this.table.values()];
  }

  pools(): { address: string; interfaces: string[]; pool: PortPool }[] {
    return this.addressPools;
  }

  /** Takeover-only addresses and their claimed ports (views). */
  takeoverPools(): { address: string; pool: PortPool }[] {
    return [...this.takeoverPoolByAddress].map(([address, pool]) => ({ address, pool }));
  }

  workerCount(): number {
    return this.pool?.size ?? 0;
  }

  workerRestarts(): number {
    return this.restarts;
  }

  workerOf(id: string): number | undefined {
    return this.table.get(id)?.worker;
  }

  has(id: string): boolean {
    return this.table.has(id);
  }

  setDirection(id: string, direction: MediaDirection): void {
    const s = this.table.get(id) ?? this.fail('unknown-session', `media: unknown media session "${id}"`);
    if (!DIRECTIONS.includes(direction))
      this.fail('bad-request', `media: direction "${direction}" is not an SDP direction`);
    s.direction = direction;
  }

  // ---- capture (issue 15) -----------------------------------------------------------------

  watchMedia(watch: readonly MediaWatch[], sink: MediaCaptureSink): void {
    this.watches = watch;
    this.captureSink = sink;
    for (const s of this.table.values()) this.applyCapture(s);
  }

  /** What the captures want tapped on the session's outside leg: by its peer, the remote phone. */
  private tapsFor(s: MediaSessionRecord): number {
    const leg = s.legs[0];
    const peer = leg.latched.rtp?.address ?? leg.cfg?.peer?.address;
    let taps = 0;
    for (const w of this.watches) {
      if (w.address !== undefined && w.address !== peer) continue;
      taps |= TAP_WIRE | (w.clear ? TAP_CLEAR : 0);
    }
    return peer === undefined ? 0 : taps;
  }

  /** Tells the session's worker when what is tapped on its outside leg changes. */
  private applyCapture(s: MediaSessionRecord, force = false): void {
    const taps = this.tapsFor(s);
    const leg = s.legs[0];
    if (!force && (leg.taps ?? 0) === taps) return;
    leg.taps = taps;
    this.pool?.request(s.worker, { op: 'capture', id: s.id, leg: 0, taps }).catch((err: Error) => {
      count(this.errors, 'capture-failed');
      this.log.warn(...ppx(180003, { session: s.id, err: err.message }));
    });
  }

  // ---- replication and takeover (issue 14; src/media/replica.ts) ---------------------------

  async releaseTakenOver(callId: string, phone: string, reason: string): Promise<number> {
    const mine = [...this.table.values()].filter(
      (s) => s.takenOver !== undefined && s.callId === callId && s.owner.phone === phone,
    );
    for (const s of mine) await this.release(s.id, reason);
    return mine.length;
  }

  claimTakenOver(callId: string, phone: string, dialogAlive?: () => boolean): TakenOverSession | undefined {
    if (this.takenOverCount === 0) return undefined; // the common case: no scan
    const s = [...this.table.values()].find(
      (x) => x.takenOver !== undefined && x.callId === callId && x.owner.phone === phone,
    );
    if (!s) return undefined;
    if (dialogAlive) s.owner.dialogAlive = dialogAlive;
    const sendKeys: TakenOverSession['sendKeys'] = {};
    s.legs.forEach((l, i) => {
      const srtp = l.cfg?.mode === 'srtp' ? l.cfg.srtp : undefined;
      if (srtp) sendKeys[i === 0 ? 'outside' : 'inside'] = { profile: srtp.profile, key: srtp.sendKey };
    });
    this.log.info({ session: s.id, callId, phone, from: s.takenOver?.from }, 'call taken over: dialog continued here');
    return { info: this.info(s), sendKeys };
  }

  async adopt(snapshot: Uint8Array, from: string): Promise<string> {
    return adoptSnapshot(this.adoptHost(), snapshot, from);
  }

  /** The session as a standby would take it over (keys in clear: seal before it leaves). */
  snapshot(id: string): Uint8Array | undefined {
    const s = this.table.get(id);
    return s ? sessionSnapshot(s, this.now()) : undefined;
  }

  private replicaSink(): MediaReplicaSink | undefined {
    return this.opts.replica ?? this.clusterReplica;
  }

  private publish(s: MediaSessionRecord): void {
    const sink = this.replicaSink();
    if (!sink) return;
    try {
      sink.publish(s.id, sessionSnapshot(s, this.now()));
    } catch (err) {
      count(this.errors, 'replica-failed');
      this.log.warn(...ppx(160007, { session: s.id, err: (err as Error).message }));
    }
  }

  private async trackStreams(workers: number): Promise<void> {
    const everyMs = this.opts.replicaEveryMs ?? 200;
    for (let i = 0; i < workers; i++) await this.running().request(i, { op: 'track', everyMs });
  }

  private adoptHost(): AdoptHost {
    return {
      plan: this.plan,
      log: this.log,
      now: this.now,
      bindMs: this.opts.adoptBindMs ?? 5000,
      has: (id) => this.table.has(id),
      pool: (address) => this.poolByAddress.get(address) ?? this.takeoverPoolByAddress.get(address),
      take: (owner, callId) => {
        this.admit(owner, callId);
        const slot = this.slots.take();
        if (slot === undefined) {
          this.unadmit(owner);
          return this.fail('sessions-full', `media: session table full (${this.capacity} sessions)`);
        }
        clearSlot(this.counters, slot);
        return { slot, worker: this.leastLoaded() };
      },
      giveBack: (s) => {
        this.slots.give(s.slot);
        this.unadmit(s.owner);
      },
      bind: (s) => this.bindLegs(s),
      request: (worker, msg) => this.running().request(worker, msg),
      install: (s) => {
        this.table.set(s.id, s);
        this.takenOverCount++;
        this.perWorker[s.worker] = (this.perWorker[s.worker] ?? 0) + 1;
        this.publish(s);
      },
      fail: (cause, message) => this.fail(cause, message),
    };
  }

  async killWorker(index: number): Promise<void> {
    await this.running().kill(index);
  }

  // ---- admission (issue 12) ----------------------------------------------------------------

  /** Counts the session against its caps, or refuses it (counted under the cap's name). */
  private admit(owner: MediaOwner, callId: string): void {
    const { phone, connection } = owner;
    if (this.admitted >= this.caps.global)
      this.fail('global-cap', `media: ${this.admitted} sessions, the most allowed (call ${callId})`);
    if (phone !== undefined && (this.perPhone.get(phone) ?? 0) >= this.caps.perPhone)
      this.fail(
        'phone-cap',
        `media: phone ${phone} has ${this.caps.perPhone} sessions, the most allowed (call ${callId})`,
      );
    if (connection !== undefined && (this.perConnection.get(connection) ?? 0) >= this.caps.perConnection) {
      this.fail(
        'connection-cap',
        `media: connection ${connection} has ${this.caps.perConnection} sessions, the most allowed (call ${callId})`,
      );
    }
    this.admitted++;
    if (phone !== undefined) this.perPhone.set(phone, (this.perPhone.get(phone) ?? 0) + 1);
    if (connection !== undefined) this.perConnection.set(connection, (this.perConnection.get(connection) ?? 0) + 1);
  }

  private unadmit(owner: MediaOwner): void {
    this.admitted--;
    for (const [map, key] of [
      [this.perPhone, owner.phone],
      [this.perConnection, owner.connection],
    ] as const) {
      if (key === undefined) continue;
      const n = (map.get(key) ?? 1) - 1;
      if (n > 0) map.set(key, n);
      else map.delete(key);
    }
  }

  // ---- allocation -------------------------------------------------------------------------

  private legRecord(role: MediaLegRecord['role'], address: string): MediaLegRecord {
    return { role, address, rtpPort: -1, pool: this.poolByAddress.get(address) as PortPool, latched: {}, streams: {} };
  }

  private leastLoaded(): number {
    let best = 0;
    const load = this.perWorker;
    for (let i = 1; i < load.length; i++) if ((load[i] ?? 0) < (load[best] ?? 0)) best = i;
    return best;
  }

  /**
   * Takes a port pair per leg and has the worker bind them. Someone else may hold a port
   * (another program): that pair goes to quarantine and the next one is tried, a few times.
   */
  private async bindWithRetries(s: MediaSessionRecord, withFirst?: FirstLeg): Promise<FirstLeg | undefined> {
    let first = withFirst;
    const [outside, inside] = s.legs;
    for (let attempt = 0; ; attempt++) {
      outside.rtpPort = -1;
      try {
        outside.rtpPort = outside.pool.allocate();
        inside.rtpPort = inside.pool.allocate();
      } catch (err) {
        if (outside.rtpPort >= 0) outside.pool.release(outside.rtpPort);
        if (err instanceof PortExhaustedError) return this.fail('ports-exhausted', `${err.message} (call ${s.callId})`);
        throw err;
      }
      s.created = this.now();
      s.lastChange = s.created;
      clearSlot(this.counters, s.slot);
      try {
        await this.bindLegs(s, s.worker, first);
        return first;
      } catch (err) {
        outside.pool.release(outside.rtpPort);
        inside.pool.release(inside.rtpPort);
        const e = err as WorkerError;
        // The worker refused the first leg's config: bind without it; the updateLeg after says why.
        if (e.sysCode === FIRST_REFUSED && first) {
          first = undefined;
          continue;
        }
        if (e.sysCode === 'EADDRINUSE' && attempt < BIND_RETRIES) {
          this.log.warn(...ppx(160003, { address: e.address, port: e.port }));
          continue;
        }
        return this.fail('bind-failed', `media: ${e.message} (call ${s.callId})`);
      }
    }
  }

  private bindLegs(s: MediaSessionRecord, worker = s.worker, first?: FirstLeg): Promise<void> {
    const [outside, inside] = s.legs;
    const pool = this.running();
    const released = this.takeDestroys(worker);
    const done = pool.request(worker, {
      op: 'create',
      id: s.id,
      slot: s.slot,
      legs: [
        { address: outside.address, rtpPort: outside.rtpPort, inside: false },
        { address: inside.address, rtpPort: inside.rtpPort, inside: true, latch: this.plan.insideLatch },
      ],
      ...(first ? { first } : {}),
      ...(released.length > 0 ? { release: released.map((r) => r.id) } : {}),
    });
    // The worker destroys them before it binds, whatever the create's outcome (or died with them).
    if (released.length > 0) {
      const back = () => {
        for (const r of released) this.giveBack(r);
      };
      done.then(back, back);
    }
    return done;
  }

  /** The offer's leg, checked without counting: one that fails is left to updateLeg to refuse and count. */
  private firstLeg(first: AllocateRequest['first']): FirstLeg | undefined {
    if (!first || (first.leg !== 'outside' && first.leg !== 'inside')) return undefined;
    try {
      const quiet = (cause: string, message: string): never => {
        throw new MediaError(cause, message);
      };
      return { leg: first.leg === 'outside' ? 0 : 1, cfg: this.checkConfig(first.cfg, quiet) };
    } catch {
      return undefined;
    }
  }

  // ---- leg updates ------------------------------------------------------------------------

  private checkConfig(
    cfg: UpdateLegConfig,
    fail = (cause: string, message: string) => this.fail(cause, message),
  ): LegConfig {
    if (!cfg || (cfg.mode !== 'rtp' && cfg.mode !== 'srtp'))
      fail('bad-request', 'media: leg mode must be "rtp" or "srtp"');
    const out: LegConfig = { mode: cfg.mode };
    if (cfg.peer) {
      const { address, rtpPort, rtcpPort } = cfg.peer;
      if (!isIPv4(address)) fail('bad-request', `media: peer address "${address}" is not an IPv4 address`);
      for (const [what, port] of [
        ['rtpPort', rtpPort],
        ['rtcpPort', rtcpPort ?? rtpPort + 1],
      ] as const) {
        if (!Number.isInteger(port) || port < 1 || port > 65535)
          fail('bad-request', `media: peer ${what} ${port} is not a port (1-65535)`);
      }
      out.peer = { address, rtpPort, rtcpPort: rtcpPort ?? rtpPort + 1 };
    }
    if (cfg.mode === 'srtp') {
      const k = cfg.srtp;
      if (!k) return fail('bad-request', 'media: srtp mode needs srtp.profile, recvKey and sendKey');
      if (!isSrtpProfile(k.profile)) fail('bad-request', `media: unknown SRTP profile "${k.profile}"`);
      const want = keySaltLength(k.profile);
      for (const [what, key] of [
        ['recvKey', k.recvKey],
        ['sendKey', k.sendKey],
      ] as const) {
        // Lengths only: key bytes never reach an error message or a log.
        if (!(key instanceof Uint8Array) || key.length !== want) {
          fail(
            'bad-request',
            `media: srtp.${what} must be ${want} bytes (master key || salt) for ${k.profile}, got ${key?.length ?? 'none'}`,
          );
        }
      }
      out.srtp = { profile: k.profile, recvKey: Uint8Array.from(k.recvKey), sendKey: Uint8Array.from(k.sendKey) };
    }
    return out;
  }

  private latched(m: Extract<FromWorker, { op: 'latched' }>): void {
    const s = this.table.get(m.id);
    if (!s) return;
    s.legs[m.leg].latched[m.rtcp ? 'rtcp' : 'rtp'] = { address: m.address, port: m.port };
    if (m.leg === 0 && !m.rtcp) this.applyCapture(s);
    this.log.debug(
      { session: m.id, leg: s.legs[m.leg].role, rtcp: m.rtcp, peer: `${m.address}:${m.port}` },
      'media peer latched',
    );
  }

  // ---- idle timeout -----------------------------------------------------------------------

  private lastActivity(s: MediaSessionRecord): number {
    return Math.max(
      s.lastChange,
      this.counters[legBase(s.slot, 0) + LAST_RX_MS] ?? 0,
      this.counters[legBase(s.slot, 1) + LAST_RX_MS] ?? 0,
    );
  }

  private checkIdle(): void {
    const t = this.now();
    const limit = this.plan.idleTimeoutMs;
    for (const s of [...this.table.values()]) {
      const idle = t - this.lastActivity(s);
      if (idle < limit) continue;
      // A held call sends nothing, and a live dialog ends with a BYE: neither is idle media.
      if (s.direction !== 'sendrecv' || s.owner.dialogAlive?.() === true) continue;
      const why = `no media for ${Math.round(idle / 1000)} s (idle-timeout ${limit / 1000} s)`;
      this.log.debug({ session: s.id, callId: s.callId }, `media session ${s.id} idle: ${why}`);
      this.release(s.id, 'idle-timeout').catch((err: Error) =>
        this.log.error(...ppx(160004, { session: s.id, err: err.message })),
      );
    }
  }

  // ---- worker recovery --------------------------------------------------------------------

  /** A new worker at `index`: bind its sessions again and replay their legs' settings. */
  private async recoverWorker(index: number, exitCode: number): Promise<void> {
    this.restarts++;
    // Deferred releases of the dead worker: their sockets went with it.
    for (const r of this.takeDestroys(index)) this.giveBack(r);
    const mine = [...this.table.values()].filter((s) => s.worker === index);
    this.log.warn(...ppx(160005, { worker: index, exitCode, sessions: mine.length }));
    for (const s of mine) {
      if (this.table.get(s.id) !== s) continue;
      try {
        await this.recreate(s, index);
      } catch (err) {
        count(this.errors, 'restart-failed');
        this.log.error(...ppx(160006, { session: s.id, err: (err as Error).message }));
        await this.release(s.id, 'worker-restart-failed').catch(() => undefined);
      }
    }
  }

  private async recreate(s: MediaSessionRecord, index: number): Promise<void> {
    const pool = this.running();
    await this.bindLegs(s, index);
    if (this.table.get(s.id) !== s) {
      // Released while its sockets were being bound again: close them.
      await pool.request(index, { op: 'destroy', id: s.id });
      return;
    }
    for (const l of [0, 1] as const) {
      const leg = s.legs[l];
      if (leg.cfg) await pool.request(index, { op: 'update', id: s.id, leg: l, cfg: leg.cfg });
      if (leg.cfg?.mode === 'srtp' && (leg.streams.in || leg.streams.out)) {
        await pool.request(index, { op: 'restore', id: s.id, leg: l, streams: leg.streams });
      }
      leg.latched = {};
    }
    // The new worker taps nothing yet.
    if ((s.legs[0].taps ?? 0) !== 0) this.applyCapture(s, true);
  }

  // ---- errors -----------------------------------------------------------------------------

  private running(): WorkerPool {
    return this.pool ?? this.fail('not-running', 'media: service is not started');
  }

  private fail(cause: string, message: string): never {
    count(this.errors, cause);
    throw new MediaError(cause, message);
  }
}

/** The factory the composition root, tests and benchmarks call. */
export function createMediaService(ctx: ServiceContext, opts: MediaServiceOptions = {}): MediaService {
  return new MediaService(ctx, opts);
}

function count(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

function endpoint(l: MediaLegRecord): LegEndpoint {
  return { address: l.address, rtpPort: l.rtpPort, rtcpPort: l.rtpPort + 1 };
}
