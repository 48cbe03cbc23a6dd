/**
 * Media replication and takeover (issue 14), for the media service: a session record as a
 * snapshot (src/media/snapshot.ts), the stream positions workers report folded into the
 * records, and adopting another node's snapshot: the same addresses and ports, bound again once
 * the dead process's sockets are gone, the same keys, the SRTP streams continued where the
 * snapshot left them (docs/cluster.md §7).
 */
import type pino from 'pino';
import { reserveSent, type SrtpStreamState } from '../../wasm/stream-state';
import type { WorkerError } from '../errors';
import type { MediaPlan } from './addresses';
import type { LegConfig, LegPositions, ToWorker } from './messages';
import type { PortPool } from './ports';
import type { MediaLegRecord, MediaOwner, MediaSessionRecord } from './records';
import { decodeSnapshot, encodeSnapshot, type LegSnapshot, type MediaSessionSnapshot } from './snapshot';

/** Before the second report there is no rate yet: what a sender may have sent in one tick at most. */
const FIRST_RTP_RESERVE = 16;
const FIRST_RTCP_RESERVE = 4;
/** How long a takeover waits between binds while the dead process's sockets linger. */
const BIND_RETRY_MS = 25;

export function sessionSnapshot(s: MediaSessionRecord, now: number): Uint8Array {
  const snap: MediaSessionSnapshot = {
    id: s.id,
    callId: s.callId,
    direction: s.direction,
    created: s.created,
    taken: now,
    legs: s.legs.map(
      (l): LegSnapshot => ({
        address: l.address,
        rtpPort: l.rtpPort,
        cfg: l.cfg,
        latched: l.latched,
        streams: l.replica?.streams ?? [],
        rtpReserve: l.replica?.rtpReserve ?? FIRST_RTP_RESERVE,
        rtcpReserve: l.replica?.rtcpReserve ?? FIRST_RTCP_RESERVE,
      }),
    ) as [LegSnapshot, LegSnapshot],
  };
  return encodeSnapshot(snap);
}

function sent(states: SrtpStreamState[], ssrc: number): SrtpStreamState | undefined {
  return states.find((x) => x.direction === 'send' && x.ssrc === ssrc);
}

/**
 * Fold a worker's report into the records and publish each session that moved once. The
 * reserve is what a sender may send between two reports, doubled, plus a little: a standby
 * adopting the last published snapshot moves each sender on by it (reserveSent), because the
 * dead node may have sent that many more before it died and libsrtp's sender must never use an
 * index twice (keystream reuse, and a replay at the phone). The peer's own packets reach the
 * standby later still (the takeover takes longer than a report interval), so none of them falls
 * in the reserve.
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
    const leg = s.legs[p.leg];
    const before = leg.replica;
    let rtp = 0;
    let rtcp = 0;
    for (const st of p.streams) {
      const old = before && st.direction === 'send' ? sent(before.streams, st.ssrc) : undefined;
      if (!old) continue;
      rtp = Math.max(rtp, st.roc * 65536 + st.seq - (old.roc * 65536 + old.seq));
      rtcp = Math.max(rtcp, st.rtcpIndex - old.rtcpIndex);
    }
    leg.replica = {
      streams: p.streams,
      at: now,
      rtpReserve: before ? 2 * rtp + 4 : FIRST_RTP_RESERVE,
      rtcpReserve: before ? 2 * rtcp + 4 : FIRST_RTCP_RESERVE,
    };
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
        'bad-snapshot',
        `media: snapshot ${snap.id} from ${from}: ${l.address} is no media-termination address here`,
      ),
  );
  const owner: MediaOwner = {};
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
      await host.request(worker, { op: 'update', id, leg: i, cfg });
      if (cfg.mode !== 'srtp' || l.streams.length === 0) continue;
      const streams = l.streams.map((st) => reserveSent(st, l.rtpReserve, l.rtcpReserve));
      await host.request(worker, { op: 'import', id, leg: i, streams });
      legs[i].replica = { streams, at: now, rtpReserve: l.rtpReserve, rtcpReserve: l.rtcpReserve };
    }
  } catch (err) {
    await host.request(worker, { op: 'destroy', id }).catch(() => undefined);
    undo();
    return host.fail('adopt-failed', `media: takeover of ${id}: ${(err as Error).message}`);
  }
  host.install(s);
  host.log.warn(
    {
      session: id,
      callId: s.callId,
      from,
      outside: `${legs[0].address}:${legs[0].rtpPort}`,
      inside: `${legs[1].address}:${legs[1].rtpPort}`,
      snapshotAgeMs: now - snap.taken,
    },
    `media session ${snap.id} taken over from ${from}`,
  );
  return id;
}
