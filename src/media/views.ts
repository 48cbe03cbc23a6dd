/**
 * Operator views of media termination: `show phone-proxy media-sessions [ID]`,
 * `show media-termination`, and `clear phone-proxy media-sessions [ID]`; with `--cluster`,
 * every node's sessions (docs/cluster.md §8).
 */
import { CLUSTER_FLAG } from '../contracts/cluster';
import type { ClearAction, DropCount, DropCounters, OperatorViews, ShowView, ViewTable } from '../contracts/service';
import type { ClusterMediaSession, MediaReplica } from './cluster-replica';
import { AUTH_FAILURES, LEG_FIELDS, OTHER_DROPS, REPLAY_DROPS, readLeg, UNEXPECTED_SOURCE_DROPS } from './counters';
import { mediaTotals } from './metrics';
import type { MediaLegRecord, MediaObservable, MediaSessionRecord } from './records';
import type { LegSnapshot } from './snapshot';

/** What the `--cluster` views use of the replica. */
export type ClusterMedia = Pick<MediaReplica, 'node' | 'list' | 'clearEverywhere'>;

export function sessionView(s: MediaSessionRecord, counters: Float64Array, now: number) {
  return {
    id: s.id,
    callId: s.callId,
    worker: s.worker,
    ageSeconds: Math.round((now - s.created) / 1000),
    takenOver: s.takenOver,
    legs: s.legs.map((l, i) => {
      const c = readLeg(counters, s.slot, i as 0 | 1);
      return {
        leg: l.role,
        local: { address: l.address, rtpPort: l.rtpPort, rtcpPort: l.rtpPort + 1 },
        mode: l.cfg?.mode ?? 'unset',
        profile: l.cfg?.srtp?.profile,
        signaledPeer: l.cfg?.peer,
        latched: l.latched,
        counters: c,
        idleSeconds: c.lastRxMs ? Math.round((now - c.lastRxMs) / 1000) : null,
      };
    }),
  };
}

function peerText(l: Pick<MediaLegRecord, 'cfg' | 'latched'>): string {
  const p = l.latched.rtp ?? (l.cfg?.peer ? { address: l.cfg.peer.address, port: l.cfg.peer.rtpPort } : undefined);
  if (!p) return '-';
  return `${p.address}:${p.port}${l.latched.rtp ? ' (latched)' : ''}`;
}

function needCluster(cluster: () => ClusterMedia | undefined): ClusterMedia {
  const c = cluster();
  if (!c) throw new Error('--cluster: this appliance is not in a cluster (no appliance-cluster in its policy)');
  return c;
}

/** A leg as `show --cluster` gives it: addresses, peer, mode and profile; never the keys. */
function legRow(role: string, l: Pick<LegSnapshot, 'address' | 'rtpPort' | 'cfg' | 'latched'>) {
  return {
    leg: role,
    local: { address: l.address, rtpPort: l.rtpPort, rtcpPort: l.rtpPort + 1 },
    mode: l.cfg?.mode ?? 'unset',
    profile: l.cfg?.srtp?.profile,
    peer: peerText({ cfg: l.cfg, latched: l.latched }),
  };
}

/** Every node's sessions: this node's from its table, the others' from their snapshots in Redis. */
async function clusterSessions(cluster: ClusterMedia, media: MediaObservable, args: string[], now: number) {
  const mine = media.sessions().map((s) => ({
    node: cluster.node,
    id: s.id,
    callId: s.callId,
    ageSeconds: Math.round((now - s.created) / 1000),
    takenOverFrom: s.takenOver?.from ?? null,
    legs: s.legs.map((l) => legRow(l.role, l)),
  }));
  const others = (await cluster.list()).map(({ node, snapshot: s }: ClusterMediaSession) => ({
    node,
    id: s.id,
    callId: s.callId,
    ageSeconds: Math.round((now - s.created) / 1000),
    takenOverFrom: null,
    legs: s.legs.map((l, i) => legRow(i === 0 ? 'outside' : 'inside', l)),
  }));
  const data = [...mine, ...others].filter((r) => args.length === 0 || args.includes(r.id));
  if (args.length > 0 && data.length === 0) throw new Error(`no media session ${args.join(', ')} in the cluster`);
  const table: ViewTable = {
    title: `Media sessions in the cluster: ${data.length}`,
    columns: ['Node', 'ID', 'Call-ID', 'Age', 'Leg', 'Local', 'Peer', 'Mode'],
    rows: data.flatMap((r) =>
      r.legs.map((l, i) => [
        i === 0 ? r.node : '',
        i === 0 ? r.id : '',
        i === 0 ? r.callId : r.takenOverFrom ? `taken over from ${r.takenOverFrom}` : '',
        i === 0 ? `${r.ageSeconds}s` : '',
        l.leg,
        `${l.local.address}:${l.local.rtpPort}/${l.local.rtcpPort}`,
        l.peer,
        l.profile ? `${l.mode} ${l.profile}` : l.mode,
      ]),
    ),
  };
  return { data, tables: [table] };
}

/** Refusals of media admission (issue 12), also among `errors` and phone_proxy_media_errors_total. */
const ADMISSION_CAUSES = ['phone-cap', 'connection-cap', 'global-cap', 'sessions-full', 'ports-exhausted'] as const;

/** A leg's drop counters as the metrics name them, with their codes (docs/errors.md "Drop reasons"). */
const LEG_DROPS = [
  { field: AUTH_FAILURES, reason: 'auth', code: 'EPX_SRTP_AUTH_FAILED' },
  { field: REPLAY_DROPS, reason: 'replay', code: 'EPX_SRTP_REPLAY' },
  { field: UNEXPECTED_SOURCE_DROPS, reason: 'unexpected-source', code: 'EPX_MEDIA_UNEXPECTED_SOURCE' },
  // Malformed, oversize, no destination yet, a key error on the other leg: one counter, no one code.
  { field: OTHER_DROPS, reason: 'other', code: null },
] as const;

const ADMISSION_CODES: Record<(typeof ADMISSION_CAUSES)[number], string> = {
  'phone-cap': 'EPX_MEDIA_ALLOCATION',
  'connection-cap': 'EPX_MEDIA_ALLOCATION',
  'global-cap': 'EPX_MEDIA_ALLOCATION',
  'sessions-full': 'EPX_MEDIA_ALLOCATION',
  'ports-exhausted': 'EPX_MEDIA_PORTS_EXHAUSTED',
};

/** For `show phone-proxy drops`: packets dropped per leg (live and released sessions), calls refused media. */
function mediaDrops(media: MediaObservable): DropCounters {
  return {
    areas() {
      const t = mediaTotals(media);
      const packets: DropCount[] = (['outside', 'inside'] as const).flatMap((leg, l) =>
        LEG_DROPS.map((d) => ({ reason: `${leg}-${d.reason}`, code: d.code, count: t[l * LEG_FIELDS + d.field] ?? 0 })),
      );
      const refused = ADMISSION_CAUSES.map((c) => ({
        reason: c,
        code: ADMISSION_CODES[c],
        count: media.errors.get(c) ?? 0,
      }));
      return [
        { area: 'media', counts: packets },
        { area: 'media-admission', counts: refused },
      ];
    },
  };
}

export function mediaViews(
  media: MediaObservable,
  now: () => number,
  cluster: () => ClusterMedia | undefined = () => undefined,
): OperatorViews {
  const show: ShowView[] = [];
  const clear: ClearAction[] = [];
  show.push({
    name: 'phone-proxy media-sessions',
    help: 'media sessions per call: legs, local and peer addresses, modes, counters, age [ID] [--cluster: every node]',
    render(words) {
      const t = now();
      const args = words.filter((w) => w !== CLUSTER_FLAG);
      if (words.includes(CLUSTER_FLAG)) return clusterSessions(needCluster(cluster), media, args, t);
      const chosen = media.sessions().filter((s) => args.length === 0 || args.includes(s.id));
      if (args.length > 0 && chosen.length === 0) throw new Error(`no media session ${args.join(', ')}`);
      const data = chosen.map((s) => sessionView(s, media.counters, t));
      const table: ViewTable = {
        title: `Media sessions: ${data.length}`,
        columns: [
          'ID',
          'Call-ID',
          'Age',
          'Leg',
          'Local',
          'Peer',
          'Mode',
          'Rx',
          'Tx',
          'Auth-fail',
          'Replay',
          'Bad-source',
          'Other-drop',
          'Idle',
        ],
        rows: [],
      };
      chosen.forEach((s, n) => {
        const v = data[n] as ReturnType<typeof sessionView>;
        v.legs.forEach((l, i) => {
          const c = l.counters;
          table.rows.push([
            i === 0 ? s.id : '',
            i === 0 ? s.callId : s.takenOver ? `taken over from ${s.takenOver.from}` : '',
            i === 0 ? `${v.ageSeconds}s` : '',
            l.leg,
            `${l.local.address}:${l.local.rtpPort}/${l.local.rtcpPort}`,
            peerText(s.legs[i] as MediaLegRecord),
            l.profile ? `${l.mode} ${l.profile}` : l.mode,
            c.rxPackets,
            c.txPackets,
            c.authFailures,
            c.replayDrops,
            c.unexpectedSourceDrops,
            c.otherDrops,
            l.idleSeconds === null ? '-' : `${l.idleSeconds}s`,
          ]);
        });
      });
      return { data, tables: [table] };
    },
  });

  show.push({
    name: 'media-termination',
    help: 'media-termination addresses, RTP port range, ports in use/free/quarantined, workers',
    render() {
      const plan = media.plan;
      const pools = media.pools().map((a) => ({ address: a.address, interfaces: a.interfaces, ...a.pool.stats() }));
      const data = {
        name: plan.name,
        mode: plan.global !== undefined ? 'global' : 'per-interface',
        rtpPortRange: [plan.minPort, plan.maxPort],
        idleTimeoutSeconds: plan.idleTimeoutMs / 1000,
        workers: media.workerCount(),
        workerRestarts: media.workerRestarts(),
        insideLatch: plan.insideLatch,
        sessions: media.sessions().length,
        admission: {
          caps: media.caps,
          refused: Object.fromEntries(ADMISSION_CAUSES.map((c) => [c, media.errors.get(c) ?? 0])),
        },
        addresses: pools,
        takeoverAddresses: (media.takeoverPools?.() ?? []).map((a) => ({
          address: a.address,
          inUse: a.pool.stats().inUse,
        })),
        errors: Object.fromEntries(media.errors),
      };
      const lines = [
        `Media termination ${plan.name}: ${data.mode === 'global' ? `global address ${plan.global}` : 'per-interface addresses'}`,
        `RTP port range ${plan.minPort}-${plan.maxPort} (RTP even, RTCP odd), idle-timeout ${data.idleTimeoutSeconds}s, inside-latch ${plan.insideLatch}`,
        `Workers: ${data.workers} (restarts ${data.workerRestarts}), active sessions: ${data.sessions}`,
        `Admission: at most ${media.caps.perPhone} sessions per phone, ${media.caps.perConnection} per signaling connection, ${media.caps.global} in all`,
      ];
      if (media.errors.size > 0) lines.push(`Errors: ${[...media.errors].map(([k, v]) => `${k} ${v}`).join(', ')}`);
      const table: ViewTable = {
        columns: ['Address', 'Interfaces', 'Pairs', 'In use', 'Free', 'Quarantined', 'Reused early'],
        rows: pools.map((p) => [
          p.address,
          p.interfaces.join(','),
          p.total,
          p.inUse,
          p.free,
          p.quarantined,
          p.reusedEarly,
        ]),
      };
      return { data, lines, tables: [table] };
    },
  });

  clear.push({
    name: 'phone-proxy media-sessions',
    help: 'release media sessions: all, or the IDs given [--cluster [ID [NODE]]: on every node]',
    async run(words) {
      const args = words.filter((w) => w !== CLUSTER_FLAG);
      if (words.includes(CLUSTER_FLAG)) {
        if (args.length > 2) throw new Error('--cluster: at most one session ID and its node');
        const n = await needCluster(cluster).clearEverywhere(args[0], args[1]);
        return `cleared ${n} media session${n === 1 ? '' : 's'} cluster-wide`;
      }
      const ids = args.length > 0 ? args : media.sessions().map((s) => s.id);
      const unknown = ids.filter((id) => !media.sessions().some((s) => s.id === id));
      if (unknown.length > 0) throw new Error(`no media session ${unknown.join(', ')}`);
      for (const id of ids) await media.release(id, 'cleared');
      return `cleared ${ids.length} media session${ids.length === 1 ? '' : 's'}`;
    },
  });
  return { show, clear, drops: mediaDrops(media) };
}
