/**
 * The media service: the control plane of media termination, in the main thread. Signaling
 * allocates a session per call (two legs: outside towards the remote phone, inside towards the
 * UCM-side peer), sets each leg's peer and keys, and releases it. Packets never pass here:
 * they run in the workers (worker.ts); counters come back through a shared array.
 */
import { isIPv4 } from 'node:net';
import os from 'node:os';
import type pino from 'pino';
import type { LegEndpoint, MediaAllocator, MediaSessionInfo, UpdateLegConfig } from '../contracts/media';
import type { Listening, OperatorViews, Service, ServiceContext } from '../contracts/service';
import { type LegRole, legAddress, type MediaPlan, mediaPlan, planAddresses } from './addresses';
import { clearSlot, createCounterArray, LAST_RX_MS, legBase, SESSION_FIELDS, SlotTable } from './counters';
import { isSrtpProfile, keySaltLength } from './engine';
import type { LegConfig, LegStreams } from './messages';
import { registerMediaMetrics } from './metrics';
import { PortExhaustedError, PortPool } from './ports';
import { mediaViews } from './views';
import { type WorkerError, WorkerPool } from './workers';

export type { LegEndpoint, MediaSessionInfo, UpdateLegConfig };

export interface MediaLegRecord {
  role: LegRole;
  address: string;
  rtpPort: number;
  pool: PortPool;
  cfg?: LegConfig;
  /** Last reported SRTP stream positions (restored into a restarted worker). */
  streams: LegStreams;
  /** Where the worker learnt the peer really is (symmetric RTP), per RTP and RTCP. */
  latched: { rtp?: { address: string; port: number }; rtcp?: { address: string; port: number } };
}

export interface MediaSessionRecord {
  id: string;
  callId: string;
  slot: number;
  worker: number;
  created: number;
  /** Last allocation or leg update: a call being set up is not idle yet. */
  lastChange: number;
  legs: [MediaLegRecord, MediaLegRecord];
}

export interface MediaServiceOptions {
  /** How long a released port pair waits before reuse (default 30 s). */
  quarantineMs?: number;
  /** Worker threads, overriding the policy's `workers`. */
  workers?: number;
  now?: () => number;
}

export interface MediaService extends Service, MediaAllocator {
  operatorViews(): OperatorViews;
  sessions(): MediaSessionRecord[];
  readonly plan: MediaPlan;
  readonly counters: Float64Array;
  /** Control-plane errors by cause (exhausted ports, unknown sessions, bad requests, ...). */
  readonly errors: Map<string, number>;
  /** Sessions released, by reason. */
  readonly releases: Map<string, number>;
  /** Counters of released sessions, summed per leg (SESSION_FIELDS doubles). */
  readonly releasedTotals: Float64Array;
  pools(): { address: string; interfaces: string[]; pool: PortPool }[];
  workerCount(): number;
  workerRestarts(): number;
  /** Tests: make a worker die as a crash would; its sessions are re-created on the new one. */
  killWorker(index: number): Promise<void>;
  workerOf(id: string): number | undefined;
}

const BIND_RETRIES = 4;

class MediaError extends Error {
  constructor(
    readonly kind: string,
    message: string,
  ) {
    super(message);
    this.name = 'MediaError';
  }
}

export function createMediaService(ctx: ServiceContext, opts: MediaServiceOptions = {}): MediaService {
  const plan = mediaPlan(ctx.loaded.policy);
  const log: pino.Logger = ctx.logs.for('media');
  const now = opts.now ?? Date.now;
  const quarantineMs = opts.quarantineMs ?? 30_000;
  const addressPools = planAddresses(plan).map((a) => ({
    ...a,
    pool: new PortPool(a.address, plan.minPort, plan.maxPort, quarantineMs, now),
  }));
  const poolByAddress = new Map(addressPools.map((a) => [a.address, a.pool]));
  // A session takes one pair per leg; with a global address both come from one pool.
  const pairs = addressPools.reduce((n, a) => n + a.pool.total, 0);
  const capacity = Math.max(1, Math.min(65536, plan.global !== undefined ? Math.floor(pairs / 2) : pairs));
  const counters = createCounterArray(capacity);
  const slots = new SlotTable(capacity);
  const table = new Map<string, MediaSessionRecord>();
  const perWorker: number[] = [];
  const errors = new Map<string, number>();
  const releases = new Map<string, number>();
  const releasedTotals = new Float64Array(SESSION_FIELDS);
  let pool: WorkerPool | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let seq = 0;
  let restarts = 0;

  const count = (m: Map<string, number>, key: string) => m.set(key, (m.get(key) ?? 0) + 1);
  const fail = (cause: string, message: string): never => {
    count(errors, cause);
    throw new MediaError(cause, message);
  };
  const need = (): WorkerPool => pool ?? fail('not-running', 'media: service is not started');

  const bindLegs = (s: MediaSessionRecord) =>
    need().request(s.worker, {
      op: 'create',
      id: s.id,
      slot: s.slot,
      legs: [
        { address: s.legs[0].address, rtpPort: s.legs[0].rtpPort, inside: false },
        { address: s.legs[1].address, rtpPort: s.legs[1].rtpPort, inside: true },
      ],
    });

  const leastLoaded = (): number => {
    let best = 0;
    for (let i = 1; i < perWorker.length; i++) if ((perWorker[i] ?? 0) < (perWorker[best] ?? 0)) best = i;
    return best;
  };

  const allocate: MediaService['allocate'] = async ({ callId, outsideInterface, insideInterface }) => {
    need();
    if (typeof callId !== 'string' || callId === '') fail('bad-request', 'media: allocate needs a callId');
    let outsideAddress: string;
    let insideAddress: string;
    try {
      outsideAddress = legAddress(plan, 'outside', outsideInterface);
      insideAddress = legAddress(plan, 'inside', insideInterface);
    } catch (err) {
      return fail('bad-request', (err as Error).message);
    }
    const slot = slots.take() ?? fail('sessions-full', `media: session table full (${capacity} sessions)`);
    const outsidePool = poolByAddress.get(outsideAddress) as PortPool;
    const insidePool = poolByAddress.get(insideAddress) as PortPool;
    const id = `m${(++seq).toString(16)}`;
    const worker = leastLoaded();
    for (let attempt = 0; ; attempt++) {
      let outsidePort = -1;
      let insidePort = -1;
      try {
        outsidePort = outsidePool.allocate();
        insidePort = insidePool.allocate();
      } catch (err) {
        if (outsidePort >= 0) outsidePool.release(outsidePort);
        slots.give(slot);
        if (err instanceof PortExhaustedError) return fail('ports-exhausted', `${err.message} (call ${callId})`);
        throw err;
      }
      const t = now();
      const s: MediaSessionRecord = {
        id,
        callId,
        slot,
        worker,
        created: t,
        lastChange: t,
        legs: [
          {
            role: 'outside',
            address: outsideAddress,
            rtpPort: outsidePort,
            pool: outsidePool,
            latched: {},
            streams: {},
          },
          { role: 'inside', address: insideAddress, rtpPort: insidePort, pool: insidePool, latched: {}, streams: {} },
        ],
      };
      clearSlot(counters, slot);
      try {
        await bindLegs(s);
      } catch (err) {
        // Someone else holds the port (another program): quarantine the pair, try the next.
        outsidePool.release(outsidePort);
        insidePool.release(insidePort);
        const e = err as WorkerError;
        if (e.code === 'EADDRINUSE' && attempt < BIND_RETRIES) {
          log.warn({ address: e.address, port: e.port }, 'media port pair busy, trying another');
          continue;
        }
        slots.give(slot);
        return fail('bind-failed', `media: ${e.message} (call ${callId})`);
      }
      table.set(id, s);
      perWorker[worker] = (perWorker[worker] ?? 0) + 1;
      log.debug(
        {
          session: id,
          callId,
          worker,
          outside: `${outsideAddress}:${outsidePort}`,
          inside: `${insideAddress}:${insidePort}`,
        },
        'media session allocated',
      );
      return { id, outside: endpoint(s.legs[0]), inside: endpoint(s.legs[1]) };
    }
  };

  const checkConfig = (cfg: UpdateLegConfig): LegConfig => {
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
  };

  const updateLeg: MediaService['updateLeg'] = async (id, leg, cfg) => {
    need();
    const s = table.get(id) ?? fail('unknown-session', `media: unknown media session "${id}"`);
    if (leg !== 'outside' && leg !== 'inside')
      fail('bad-request', `media: leg must be "outside" or "inside", not "${leg}"`);
    const index = leg === 'outside' ? 0 : 1;
    const checked = checkConfig(cfg);
    const record = s.legs[index];
    try {
      // Without a peer the worker keeps its destination and latch (re-key, hold/resume).
      await need().request(s.worker, { op: 'update', id, leg: index, cfg: checked });
    } catch (err) {
      return fail('update-failed', `media: session ${id} ${leg} leg: ${(err as Error).message}`);
    }
    // A new profile or mode means new SRTP contexts in the worker: old positions no longer apply.
    if (record.cfg?.mode !== checked.mode || record.cfg?.srtp?.profile !== checked.srtp?.profile) record.streams = {};
    // The last peer stays on record: a restarted worker is given it again.
    if (!checked.peer && record.cfg?.peer) checked.peer = record.cfg.peer;
    record.cfg = checked;
    if (cfg.peer) record.latched = {};
    s.lastChange = now();
    log.debug({ session: id, leg, mode: checked.mode, peer: checked.peer }, 'media leg updated');
  };

  const release: MediaService['release'] = async (id, reason) => {
    const s = table.get(id) ?? fail('unknown-session', `media: unknown media session "${id}"`);
    table.delete(id);
    perWorker[s.worker] = (perWorker[s.worker] ?? 1) - 1;
    try {
      await pool?.request(s.worker, { op: 'destroy', id });
    } catch {
      // A dead worker took the sockets with it: nothing left to close.
    }
    const base = s.slot * SESSION_FIELDS;
    for (let i = 0; i < SESSION_FIELDS; i++) releasedTotals[i] = (releasedTotals[i] ?? 0) + (counters[base + i] ?? 0);
    clearSlot(counters, s.slot);
    slots.give(s.slot);
    for (const l of s.legs) l.pool.release(l.rtpPort);
    count(releases, reason);
    log.debug({ session: id, callId: s.callId, reason }, `media session ${id} released: ${reason}`);
  };

  const lastActivity = (s: MediaSessionRecord): number =>
    Math.max(
      s.lastChange,
      counters[legBase(s.slot, 0) + LAST_RX_MS] ?? 0,
      counters[legBase(s.slot, 1) + LAST_RX_MS] ?? 0,
    );

  const checkIdle = () => {
    const t = now();
    for (const s of [...table.values()]) {
      const idle = t - lastActivity(s);
      if (idle < plan.idleTimeoutMs) continue;
      const why = `no media for ${Math.round(idle / 1000)} s (idle-timeout ${plan.idleTimeoutMs / 1000} s)`;
      log.debug({ session: s.id, callId: s.callId }, `media session ${s.id} idle: ${why}`);
      release(s.id, 'idle-timeout').catch((err: Error) =>
        log.error({ session: s.id, err: err.message }, 'idle release failed'),
      );
    }
  };

  /** A new worker at `index`: bind its sessions again and replay their legs' settings. */
  const recreate = async (index: number, exitCode: number) => {
    restarts++;
    const mine = [...table.values()].filter((s) => s.worker === index);
    log.warn({ worker: index, exitCode, sessions: mine.length }, 'media worker restarted; re-creating its sessions');
    for (const s of mine) {
      if (table.get(s.id) !== s) continue;
      try {
        await bindLegs(s);
        if (table.get(s.id) !== s) {
          // Released while its sockets were being bound again: close them.
          await need().request(index, { op: 'destroy', id: s.id });
          continue;
        }
        for (const l of [0, 1] as const) {
          const leg = s.legs[l];
          if (leg.cfg) await need().request(index, { op: 'update', id: s.id, leg: l, cfg: leg.cfg });
          if (leg.cfg?.mode === 'srtp' && (leg.streams.in || leg.streams.out)) {
            await need().request(index, { op: 'restore', id: s.id, leg: l, streams: leg.streams });
          }
          leg.latched = {};
        }
      } catch (err) {
        count(errors, 'restart-failed');
        log.error({ session: s.id, err: (err as Error).message }, 'media session lost in worker restart');
        await release(s.id, 'worker-restart-failed').catch(() => undefined);
      }
    }
  };

  const service: MediaService = {
    name: 'media',
    plan,
    counters,
    errors,
    releases,
    releasedTotals,
    allocate,
    updateLeg,
    release,
    sessions: () => [...table.values()],
    pools: () => addressPools,
    workerCount: () => pool?.size ?? 0,
    workerRestarts: () => restarts,
    workerOf: (id) => table.get(id)?.worker,
    killWorker: async (index) => {
      await need().kill(index);
    },

    async start(): Promise<Listening[]> {
      const n = opts.workers ?? (plan.workers || os.availableParallelism());
      for (let i = 0; i < n; i++) perWorker[i] = 0;
      pool = new WorkerPool(n, counters, {
        onLatched: (m) => {
          const s = table.get(m.id);
          if (!s) return;
          s.legs[m.leg].latched[m.rtcp ? 'rtcp' : 'rtp'] = { address: m.address, port: m.port };
          log.debug(
            { session: m.id, leg: s.legs[m.leg].role, rtcp: m.rtcp, peer: `${m.address}:${m.port}` },
            'media peer latched',
          );
        },
        onStreams: (m) => {
          const s = table.get(m.id);
          if (s) s.legs[m.leg].streams = m.streams;
        },
        onRestarted: (index, code) => {
          recreate(index, code).catch((err: Error) =>
            log.error({ worker: index, err: err.message }, 'media worker recovery failed'),
          );
        },
        onError: (index, err) => log.error({ worker: index, err: err.message }, 'media worker error'),
      });
      await pool.start();
      const tick = Math.max(100, Math.min(1000, plan.idleTimeoutMs / 4));
      idleTimer = setInterval(checkIdle, tick);
      idleTimer.unref();
      registerMediaMetrics(ctx.metrics, service);
      log.info(
        { workers: n, addresses: addressPools.map((a) => a.address), ports: `${plan.minPort}-${plan.maxPort}` },
        'media termination started',
      );
      return addressPools.map((a) => ({
        what: `media ${plan.minPort}-${plan.maxPort}`,
        protocol: 'udp',
        address: a.address,
      }));
    },

    operatorViews: () => mediaViews(service, now),

    async stop(): Promise<void> {
      if (idleTimer) clearInterval(idleTimer);
      for (const id of [...table.keys()]) await release(id, 'shutdown').catch(() => undefined);
      await pool?.stop();
      pool = undefined;
    },
  };
  return service;
}

function endpoint(l: MediaLegRecord): LegEndpoint {
  return { address: l.address, rtpPort: l.rtpPort, rtcpPort: l.rtpPort + 1 };
}
