/**
 * Media replication and takeover (issue 14), for the media service: a session record as a
 * snapshot (src/media/snapshot.ts), the stream positions workers report folded into the
 * records, and adopting another node's snapshot: the same addresses and ports, bound again once
 * the dead process's sockets are gone, the same keys, the SRTP streams continued where the
 * snapshot left them (docs/cluster.md §7).
 */
import type pino from 'pino';
import { reserveSent } from '../../wasm/stream-state';
import type { WorkerError } from '../errors';
import { ppx } from '../messages';
import type { MediaPlan } from './addresses';
import type { LegConfig, LegPositions, ToWorker } from './messages';
import type { PortPool } from './ports';
import type { MediaLegRecord, MediaOwner, MediaSessionRecord } from './records';
import { decodeSnapshot, encodeSnapshot, type LegSnapshot, type MediaSessionSnapshot } from './snapshot';

/**
 * What a sender taken over moves on by at the import (wasm/stream-state.ts reserveSent). RTP:
 * nothing, the first packet it relays sets it (src/media/stream-positions.ts). SRTCP, whose
 * index the sender counts itself: as far as the snapshot's field allows, 65,535, far more than
 * a dead node can have sent since a report (at most 64 more) or during a Redis outage of hours;
 * a receiver takes any jump forward, and 2^31 indices last 30,000 takeovers of one call.
 */
const RTP_RESERVE = 0;
const RTCP_RESERVE = 0xffff;
/** How long a takeover waits between binds while the dead process's sockets linger. */
const BIND_RETRY_MS = 25;

export function sessionSnapshot(s: MediaSessionRecord, now: number): Uint8Array {
  const snap: MediaSessionSnapshot = {
    id: s.id,
    callId: s.callId,
    direction: s.direction,
    created: s.created,
    taken: now,
    ...(s.owner.phone !== undefined ? { phone: s.owner.phone } : {}),
    legs: s.legs.map(
      (l): LegSnapshot => ({
        address: l.address,
        rtpPort: l.rtpPort,
        cfg: l.cfg,
        latched: l.latched,
        streams: l.replica?.streams ?? [],
        rtpReserve: RTP_RESERVE,
        rtcpReserve: RTCP_RESERVE,
      }),
    ) as [LegSnapshot, LegSnapshot],
  };
  return encodeSnapshot(snap);
}

/**
 * Fold a worker's report into the records and publish each session that moved once. Workers
 * report a leg only when it moved far enough to matter (a new stream, a ROC change, 2^12
 * packets, 64 SRTCP packets: stream-positions.ts), so a call in progress costs a publish every
 * 80 s or so at 50 packets/s, not one per report tick.
 */
export function publishPositions(
  table: Map<string, MediaSessionRecord>,
  legs: LegPositions[],
  now: number,
  publish: (s: MediaSessionRecord) => void,
): void {
  const moved = new Set<MediaSessionRecord>();
  for (const p of legs) {
    const s = table.get(p.id);
    if (!s) continue;
    s.legs[p.leg].replica = { streams: p.streams, at: now, rtpReserve: RTP_RESERVE, rtcpReserve: RTCP_RESERVE };
    moved.add(s);
  }
  for (const s of moved) publish(s);
}

/** What adoptSnapshot needs of the media service (its private tables stay there). */
export interface AdoptHost {
  plan: MediaPlan;
  log: pino.Logger;
  now: () => number;
  bindMs: number;
  has(id: string): boolean;
  pool(address: string): PortPool | undefined;
  /** Admission and a counter slot (cleared), or a MediaError. */
  take(owner: MediaOwner, callId: string): { slot: number; worker: number };
  giveBack(s: MediaSessionRecord): void;
  bind(s: MediaSessionRecord): Promise<void>;
  request(worker: number, msg: DistributiveOmit<ToWorker, 'req'>): Promise<void>;
  install(s: MediaSessionRecord): void;
  fail(cause: string, message: string): never;
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The worker sends where the dead node last sent: the latched destination, else the signaled peer. */
function workerConfig(l: LegSnapshot): LegConfig | undefined {
  if (!l.cfg) return undefined;
  const rtp = l.latched.rtp;
  if (!rtp) return l.cfg;
  const rtcpPort = l.latched.rtcp?.address === rtp.address ? l.latched.rtcp.port : rtp.port + 1;
  return { ...l.cfg, peer: { address: rtp.address, rtpPort: rtp.port, rtcpPort } };
}

export async function adoptSnapshot(host: AdoptHost, bytes: Uint8Array, from: string): Promise<string> {
  let snap: MediaSessionSnapshot;
  try {
    snap = decodeSnapshot(bytes);
  } catch (err) {
    return host.fail('bad-snapshot', `media: snapshot from ${from}: ${(err as Error).message}`);
  }
  const id = `${snap.id}@${from}`;
  if (host.has(id)) host.fail('duplicate-session', `media: session ${id} is already here`);
  const pools = snap.legs.map(
    (l) =>
      host.pool(l.address) ??
      host.fail(
        'foreign-address',
        `media: snapshot ${snap.id} from ${from}: ${l.address} is neither a media-termination address nor a takeover address here (appliance-cluster.takeover-addresses)`,
      ),
  );
  // The phone that owned the call: counted here against its cap, and the one whose BYE ends it.
  const owner: MediaOwner = snap.phone ? { phone: snap.phone } : {};
  const { slot, worker } = host.take(owner, snap.callId);
  const now = host.now();
  const legs = snap.legs.map(
    (l, i): MediaLegRecord => ({
      role: i === 0 ? 'outside' : 'inside',
      address: l.address,
      rtpPort: l.rtpPort,
      pool: pools[i] as PortPool,
      cfg: l.cfg,
      streams: {},
      latched: { ...l.latched },
    }),
  ) as [MediaLegRecord, MediaLegRecord];
  const s: MediaSessionRecord = {
    id,
    callId: snap.callId,
    slot,
    worker,
    created: snap.created,
    lastChange: now,
    legs,
    owner,
    direction: snap.direction,
    takenOver: { from, at: now },
  };
  const claimed: MediaLegRecord[] = [];
  const undo = () => {
    for (const l of claimed) l.pool.release(l.rtpPort, false);
    host.giveBack(s);
  };
  try {
    for (const l of legs) {
      l.pool.claim(l.rtpPort);
      claimed.push(l);
    }
  } catch (err) {
    undo();
    return host.fail('bind-failed', `media: takeover of ${id}: ${(err as Error).message}`);
  }
  // The dead process's sockets go with its death (at once on loopback after kill -9; with VRRP
  // the address arrives when keepalived moves it): retry, bounded.
  const deadline = now + host.bindMs;
  for (;;) {
    try {
      await host.bind(s);
      break;
    } catch (err) {
      const e = err as WorkerError;
      if ((e.sysCode === 'EADDRINUSE' || e.sysCode === 'EADDRNOTAVAIL') && host.now() < deadline) {
        await sleep(BIND_RETRY_MS);
        continue;
      }
      undo();
      return host.fail('bind-failed', `media: takeover of ${id}: ${e.message}`);
    }
  }
  try {
    for (const i of [0, 1] as const) {
      const l = snap.legs[i];
      const cfg = workerConfig(l);
      if (!cfg) continue;
      if (cfg.mode !== 'srtp' || l.streams.length === 0) {
        await host.request(worker, { op: 'update', id, leg: i, cfg });
        continue;
      }
      // Configured and imported in one worker step: an update alone would relay at once, with
      // fresh streams (ROC 0, index reused), the packets held since the bind and any arriving
      // before a separate import (the peer saw auth failures).
      const streams = l.streams.map((st) => reserveSent(st, l.rtpReserve, l.rtcpReserve));
      await host.request(worker, { op: 'import', id, leg: i, cfg, streams });
      legs[i].replica = { streams, at: now, rtpReserve: l.rtpReserve, rtcpReserve: l.rtcpReserve };
    }
  } catch (err) {
    await host.request(worker, { op: 'destroy', id }).catch(() => undefined);
    undo();
    return host.fail('adopt-failed', `media: takeover of ${id}: ${(err as Error).message}`);
  }
  host.install(s);
  host.log.warn(
    ...ppx(160012, {
      session: id,
      callId: s.callId,
      from,
      outside: `${legs[0].address}:${legs[0].rtpPort}`,
      inside: `${legs[1].address}:${legs[1].rtpPort}`,
      snapshotAgeMs: now - snap.taken,
    }),
  );
  return id;
}
