/**
 * A media worker thread: its own UDP sockets and its own SRTP engine instance; the main thread
 * creates, updates and destroys sessions by message. Loaded from dist/ (see workers.ts).
 */
import type dgram from 'node:dgram';
import { parentPort, workerData } from 'node:worker_threads';
import type { SrtpStreamState } from '../../wasm/stream-state';
import { BatchSockets } from './batch-io';
import { CaptureRing } from './capture-ring';
import { legBase, OTHER_DROPS } from './counters';
import { EarlyPackets } from './early-packets';
import type { SrtpProfile } from './engine';
import { type LoadedEngine, loadEngine } from './engine';
import {
  FIRST_REFUSED,
  type FirstLeg,
  type FromWorker,
  type LegBinding,
  type LegConfig,
  type LegStreams,
  type StreamPosition,
  type ToWorker,
  type WorkerInit,
  type WorkerIo,
} from './messages';
import { loadUdpBatch } from './native/udp-batch';
import {
  insideAccepts,
  type Leg,
  type LegSockets,
  latchCode,
  MODE_RTP,
  MODE_SRTP,
  PacketPath,
  Relay,
  waitsForSignaling,
} from './relay';
import { sameBytes } from './same-leg-config';
import { StreamPositions } from './stream-positions';
import { createMediaSocket, SocketSender } from './udp-sender';

const port = parentPort;
if (!port) throw new Error('media worker must run in a worker thread');
const init = workerData as WorkerInit;

interface Session {
  id: string;
  relay: Relay;
  /** node:dgram path: the four sockets; batched path: their ids in `batch`. */
  sockets: dgram.Socket[];
  ids: number[];
  bindings: [LegBinding, LegBinding];
  /** Taken over (issue 14): a sender waits for its first packet (stream-positions.ts). */
  awaiting?: boolean;
}

const sessions = new Map<string, Session>();
const legSession = new WeakMap<Leg, { id: string; index: 0 | 1 }>();
let engine: LoadedEngine | undefined;
/** Made once per worker and kept when the path is rebuilt with the engine: held packets survive. */
const early = new EarlyPackets();
let path = new PacketPath(init.counters, null, null, onLatch, early);
/** Tapped packets wait here for the flush timer (issue 15); the buffer exists from the first capture on. */
const ring = new CaptureRing();
path.tap = ring;

/** A coarse clock for "last activity": one store every 200 ms instead of a call per packet. */
path.now = Date.now();
setInterval(() => {
  path.now = Date.now();
}, 200).unref();

function post(m: FromWorker): void {
  port?.postMessage(m);
}

function onLatch(leg: Leg, rtcp: boolean): void {
  const s = legSession.get(leg);
  if (!s) return;
  post({
    op: 'latched',
    id: s.id,
    leg: s.index,
    rtcp,
    address: rtcp ? leg.rtcpAddress : leg.rtpAddress,
    port: rtcp ? leg.rtcpPort : leg.rtpPort,
  });
}

/** Brings the engine in once; the packet path is rebuilt with it. */
function needEngine(): LoadedEngine {
  if (!engine) {
    engine = loadEngine();
    const now = path.now;
    path = new PacketPath(init.counters, engine.engine, engine.codes, onLatch, early);
    path.now = now;
    path.tap = ring;
  }
  return engine;
}

function bind(socket: dgram.Socket, address: string, p: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    socket.once('error', onError);
    socket.bind({ address, port: p, exclusive: true }, () => {
      socket.off('error', onError);
      resolve();
    });
  });
}

/**
 * The socket path (`media-termination.socket-io`): the batched addon when it loads (auto) or is
 * required (batched), else node:dgram. Chosen once, before 'ready'.
 */
let batch: BatchSockets | undefined;
let ioReason: string | undefined;
/** Batched path, per socket id: its session, and leg index * 2 + (RTCP ? 1 : 0). */
const sockSession: (Session | undefined)[] = [];
const sockKind: number[] = [];

function chooseSocketIo(e: LoadedEngine): void {
  const want = init.socketIo ?? 'auto';
  if (want === 'dgram') {
    ioReason = 'media-termination.socket-io is dgram';
    return;
  }
  const loaded = loadUdpBatch(init.socketIoAddon);
  if (!loaded.addon) {
    if (want === 'batched') throw new Error(`media-termination.socket-io is batched, but ${loaded.error}`);
    ioReason = loaded.error;
    return;
  }
  batch = new BatchSockets(loaded.addon, e.engine, init.counters, onDatagram);
}

/** The batched path's one call per datagram of a batch: `slot` holds it, in place. */
function onDatagram(id: number, slot: number, length: number, src: string, srcPort: number): void {
  const s = sockSession[id];
  if (s === undefined) return; // closed while the batch was read
  const kind = sockKind[id] as number;
  const legIndex = kind >> 1;
  const rtcp = (kind & 1) === 1;
  const relay = s.relay;
  if (length > (batch as BatchSockets).recvLength) {
    (batch as BatchSockets).countTruncated((relay.legs[legIndex] as Leg).base, length);
    return;
  }
  if (s.awaiting) positions.first(s, legIndex, rtcp, (engine as LoadedEngine).engine.slot(slot), length);
  path.handleSlot(relay, legIndex, rtcp, slot, length, src, srcPort);
}

function bindError(err: unknown, b: LegBinding, p: number): Error {
  const e = err as NodeJS.ErrnoException;
  return Object.assign(new Error(`cannot bind ${b.address}:${p}: ${e.code ?? e.message}`), {
    code: e.code,
    address: b.address,
    port: b.rtpPort,
  });
}

async function create(id: string, slot: number, bindings: [LegBinding, LegBinding]): Promise<void> {
  if (batch) return createBatched(batch, id, slot, bindings);
  const sockets: dgram.Socket[] = [];
  const legs: LegSockets[] = [];
  try {
    for (let l = 0; l < 2; l++) {
      const b = bindings[l] as LegBinding;
      const rtp = createMediaSocket();
      const rtcp = createMediaSocket();
      sockets.push(rtp, rtcp);
      for (const [s, p] of [
        [rtp, b.rtpPort],
        [rtcp, b.rtpPort + 1],
      ] as const) {
        try {
          await bind(s, b.address, p);
        } catch (err) {
          throw bindError(err, b, p);
        }
      }
      legs.push({
        inside: b.inside,
        latch: latchCode(b.latch),
        base: legBase(slot, l as 0 | 1),
        rtpSender: new SocketSender(rtp),
        rtcpSender: new SocketSender(rtcp),
      });
    }
  } catch (err) {
    for (const s of sockets) s.close();
    throw err;
  }
  const relay = new Relay(legs[0] as LegSockets, legs[1] as LegSockets);
  relay.legs.forEach((leg, index) => legSession.set(leg, { id, index: index as 0 | 1 }));
  const session: Session = { id, relay, sockets, ids: [], bindings };
  // One listener per socket, made here once; the packet path itself creates nothing.
  sockets.forEach((s, i) => {
    const legIndex = i >> 1;
    const rtcp = (i & 1) === 1;
    s.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
      if (session.awaiting) positions.first(session, legIndex, rtcp, msg);
      path.handle(relay, legIndex, rtcp, msg, rinfo.address, rinfo.port);
    });
    // A send error (e.g. ENOBUFS) is a lost packet, not a reason to die: count it.
    const drops = legBase(slot, legIndex as 0 | 1) + OTHER_DROPS;
    s.on('error', () => {
      init.counters[drops] = (init.counters[drops] ?? 0) + 1;
    });
  });
  sessions.set(id, session);
}

/** The same session on the batched path: bound synchronously, closed synchronously. */
function createBatched(io: BatchSockets, id: string, slot: number, bindings: [LegBinding, LegBinding]): void {
  const ids: number[] = [];
  const legs: LegSockets[] = [];
  try {
    for (let l = 0; l < 2; l++) {
      const b = bindings[l] as LegBinding;
      for (const p of [b.rtpPort, b.rtpPort + 1]) {
        try {
          ids.push(io.open(b.address, p));
        } catch (err) {
          throw bindError(err, b, p);
        }
      }
      const drops = legBase(slot, l as 0 | 1) + OTHER_DROPS;
      legs.push({
        inside: b.inside,
        latch: latchCode(b.latch),
        base: legBase(slot, l as 0 | 1),
        rtpSender: io.sender(ids[2 * l] as number, drops),
        rtcpSender: io.sender(ids[2 * l + 1] as number, drops),
      });
    }
  } catch (err) {
    for (const i of ids) io.close(i);
    throw err;
  }
  const relay = new Relay(legs[0] as LegSockets, legs[1] as LegSockets);
  relay.legs.forEach((leg, index) => legSession.set(leg, { id, index: index as 0 | 1 }));
  const session: Session = { id, relay, sockets: [], ids, bindings };
  ids.forEach((sid, i) => {
    sockSession[sid] = session;
    sockKind[sid] = i;
  });
  sessions.set(id, session);
}

/** The keys each SRTP leg runs with now, to tell a re-key from a repeat (hold/resume). */
const legKeys = new WeakMap<Leg, { profile: string; recvKey: Uint8Array; sendKey: Uint8Array }>();

/**
 * The engine session for one direction of a leg: kept when the key is unchanged, re-keyed in
 * place when only the key changes (libsrtp keeps the ROC and replay state across srtp_update,
 * so a long call does not lose sync at the next re-INVITE), created otherwise.
 */
function sessionFor(
  e: LoadedEngine,
  current: number,
  same: boolean,
  rekey: boolean,
  profile: LegConfig['srtp'] & object,
  key: Uint8Array,
  dir: 'inbound' | 'outbound',
): number {
  if (current >= 0 && same) return current;
  if (current >= 0 && rekey && e.engine.updateKey && e.engine.updateKey(current, key) >= 0) return current;
  const h = e.engine.createSession(profile.profile, key, dir);
  if (h < 0)
    throw new Error(`${dir === 'inbound' ? 'receive' : 'send'} key rejected by the SRTP engine: ${e.errorName(h)}`);
  return h;
}

/** `adopt`: a takeover's stream states, installed before any held packet is released (docs/cluster.md §7). */
function update(id: string, index: 0 | 1, cfg: LegConfig, adopt?: SrtpStreamState[]): void {
  const s = sessions.get(id);
  if (!s) throw new Error(`unknown media session ${id}`);
  const leg = s.relay.legs[index];
  const before = leg.mode === MODE_SRTP ? legKeys.get(leg) : undefined;
  let rx = -1;
  let tx = -1;
  if (cfg.mode === 'srtp') {
    const k = cfg.srtp;
    if (!k) throw new Error('srtp mode needs keys');
    const e = needEngine();
    const sameProfile = before?.profile === k.profile;
    rx = sessionFor(
      e,
      sameProfile ? leg.rxHandle : -1,
      !!before && sameBytes(before.recvKey, k.recvKey),
      sameProfile,
      k,
      k.recvKey,
      'inbound',
    );
    try {
      tx = sessionFor(
        e,
        sameProfile ? leg.txHandle : -1,
        !!before && sameBytes(before.sendKey, k.sendKey),
        sameProfile,
        k,
        k.sendKey,
        'outbound',
      );
    } catch (err) {
      if (rx !== leg.rxHandle) e.engine.destroySession(rx);
      throw err;
    }
    legKeys.set(leg, { profile: k.profile, recvKey: k.recvKey, sendKey: k.sendKey });
  } else {
    legKeys.delete(leg);
  }
  // Swap in one synchronous step: no packet sees a half-updated leg.
  const oldRx = leg.rxHandle;
  const oldTx = leg.txHandle;
  s.relay.configure(index, cfg.mode === 'srtp' ? MODE_SRTP : MODE_RTP, rx, tx);
  if (cfg.peer) s.relay.setPeer(index, cfg.peer.address, cfg.peer.rtpPort, cfg.peer.rtcpPort ?? cfg.peer.rtpPort + 1);
  if (engine) {
    if (oldRx >= 0 && oldRx !== rx) engine.engine.destroySession(oldRx);
    if (oldTx >= 0 && oldTx !== tx) engine.engine.destroySession(oldTx);
  }
  if (adopt) positions.adopt(s, index, adopt);
  releaseEarly(s);
}

/** Packets held while the legs waited for signaling go through now if they can, oldest first. */
function releaseEarly(s: Session): void {
  const { relay } = s;
  const [outside, inside] = relay.legs;
  early.replay(
    relay,
    path.now,
    (legIndex, src) => {
      const a = legIndex === 0 ? outside : inside;
      const b = legIndex === 0 ? inside : outside;
      // A stranger the inside leg will never take is dropped now (its port does not matter before a latch).
      return !waitsForSignaling(a, b) || (a.inside && a.peerAddress !== '' && !insideAccepts(a, false, src, 0));
    },
    // A held packet is as much a first packet after a takeover as a live one (stream-positions.ts).
    (legIndex, rtcp, msg, src, port) => {
      if (s.awaiting) positions.first(s, legIndex, rtcp, msg);
      path.process(relay, legIndex, rtcp, msg, src, port);
    },
    (legIndex) => {
      const drops = (legIndex === 0 ? outside : inside).base + OTHER_DROPS;
      init.counters[drops] = (init.counters[drops] ?? 0) + 1;
    },
  );
}

/** Bound and the offer's leg programmed in one request; a refused config closes the session again. */
async function createWith(id: string, slot: number, bindings: [LegBinding, LegBinding], first?: FirstLeg) {
  await create(id, slot, bindings);
  if (!first) return;
  try {
    update(id, first.leg, first.cfg);
  } catch (err) {
    await destroy(id);
    throw Object.assign(new Error((err as Error).message), { code: FIRST_REFUSED });
  }
}

async function destroy(id: string): Promise<void> {
  const s = sessions.get(id);
  if (!s) return;
  sessions.delete(id);
  for (const leg of s.relay.legs) {
    if (engine && leg.rxHandle >= 0) engine.engine.destroySession(leg.rxHandle);
    if (engine && leg.txHandle >= 0) engine.engine.destroySession(leg.txHandle);
  }
  s.relay.close();
  for (const leg of s.relay.legs) ring.unwatch(leg);
  early.forget(s.relay);
  for (const sid of s.ids) {
    sockSession[sid] = undefined;
    batch?.close(sid);
  }
  await Promise.all(s.sockets.map((sock) => new Promise<void>((resolve) => sock.close(() => resolve()))));
}

/**
 * Stream positions survive a worker's death in the main thread: a re-created SRTP context
 * starts at ROC 0, and a call older than 65,536 packets would never authenticate again.
 * Reported once a second when a stream's SSRC or ROC changed or its sequence moved 2^14 on.
 */
const reported = new WeakMap<Leg, LegStreams>();
const REPORT_SEQ_STEP = 0x4000;

function position(handle: number, ssrc: number): StreamPosition | undefined {
  if (!engine || handle < 0 || ssrc < 0) return undefined;
  const st = engine.engine.streamState(handle, ssrc);
  return st ? { ssrc, roc: st.roc, seq: st.seq } : undefined;
}

function moved(a: StreamPosition | undefined, b: StreamPosition | undefined): boolean {
  if (!b) return false;
  if (!a) return true;
  const da = a.roc * 65536 + a.seq;
  const db = b.roc * 65536 + b.seq;
  return a.ssrc !== b.ssrc || a.roc !== b.roc || Math.abs(db - da) >= REPORT_SEQ_STEP;
}

function reportStreams(): void {
  for (const s of sessions.values()) {
    s.relay.legs.forEach((leg, index) => {
      if (leg.mode !== MODE_SRTP) return;
      const now: LegStreams = { in: position(leg.rxHandle, leg.ssrcIn), out: position(leg.txHandle, leg.ssrcOut) };
      const last = reported.get(leg) ?? {};
      if (!moved(last.in, now.in) && !moved(last.out, now.out)) return;
      const merged = { in: now.in ?? last.in, out: now.out ?? last.out };
      reported.set(leg, merged);
      post({ op: 'streams', id: s.id, leg: index as 0 | 1, streams: merged });
    });
  }
}
setInterval(reportStreams, 1000).unref();

/**
 * Bring fresh SRTP contexts to where the dead worker's were: walk each stream's packet index
 * from its last sequence number up to ROC·2^16 + seq in steps of 2^14 (libsrtp takes each
 * step as forward, RFC 3711 §3.3.1), with header-only packets we protect ourselves.
 */
function restore(id: string, index: 0 | 1, streams: LegStreams): void {
  const s = sessions.get(id);
  if (!s) throw new Error(`unknown media session ${id}`);
  const leg = s.relay.legs[index];
  const keys = legKeys.get(leg);
  if (leg.mode !== MODE_SRTP || !keys || !engine) return;
  const e = engine.engine;
  const slot = e.slotCount - 1;
  const buf = e.slot(slot);
  const walk = (p: StreamPosition, step: () => void) => {
    const target = p.roc * 65536 + p.seq;
    for (let i = p.seq; ; i = Math.min(i + 0x4000, target)) {
      buf.fill(0, 0, 12);
      buf[0] = 0x80;
      buf.writeUInt16BE(i & 0xffff, 2);
      buf.writeUInt32BE(p.ssrc >>> 0, 8);
      step();
      if (i === target) break;
    }
  };
  const into = streams.in;
  if (into && into.roc > 0) {
    const sender = e.createSession(keys.profile as SrtpProfile, keys.recvKey, 'outbound');
    if (sender >= 0) {
      walk(into, () => {
        const n = e.protectRtp(sender, slot, 12);
        if (n > 0) e.unprotectRtp(leg.rxHandle, slot, n);
      });
      e.destroySession(sender);
    }
    s.relay.restoreStreams(index, into.ssrc, undefined);
  }
  const out = streams.out;
  if (out && out.roc > 0) {
    walk(out, () => void e.protectRtp(leg.txHandle, slot, 12));
    s.relay.restoreStreams(index, undefined, out.ssrc);
  }
  reported.set(leg, streams);
}

/** Posts what the taps collected every 100 ms, off the packet path; runs only while a leg is tapped. */
let flushTimer: NodeJS.Timeout | undefined;

function flushCaptured(): void {
  const batch = ring.take();
  if (batch)
    port?.postMessage({ op: 'captured', ...batch } satisfies FromWorker, [batch.records.buffer as ArrayBuffer]);
  if (ring.watching === 0 && flushTimer) {
    clearInterval(flushTimer);
    flushTimer = undefined;
  }
}

function capture(id: string, index: 0 | 1, taps: number): void {
  const s = sessions.get(id);
  if (!s) throw new Error(`unknown media session ${id}`);
  const leg = s.relay.legs[index];
  const b = s.bindings[index];
  if (taps === 0) ring.unwatch(leg);
  else ring.watch(leg, index, b.address, b.rtpPort);
  s.relay.setCapture(index, taps);
  if (taps !== 0 && !flushTimer) {
    flushTimer = setInterval(flushCaptured, 100);
    flushTimer.unref();
  }
}

/** Which socket path this worker runs, with the addon's totals (tests, `debug`). */
function ioState(): WorkerIo {
  return batch
    ? { io: 'batched', stats: batch.snapshot(), sockets: sockSession.filter((x) => x !== undefined).length }
    : { io: 'dgram', ...(ioReason ? { ioReason } : {}) };
}

/** Replication and takeover (issue 14): full stream states out, another node's states in. */
const positions = new StreamPositions(
  () => engine?.engine,
  () => sessions.values(),
  (legs) => post({ op: 'positions', legs }),
);

port.on('message', (m: ToWorker) => {
  const run = async () => {
    if (m.op === 'create') {
      // Deferred releases ride with the next create (MediaService.releaseLater): closed first.
      // A release that fails to close must not fail the call being created.
      for (const id of m.release ?? []) await destroy(id).catch(() => undefined);
      await createWith(m.id, m.slot, m.legs, m.first);
    } else if (m.op === 'update') update(m.id, m.leg, m.cfg);
    else if (m.op === 'restore') restore(m.id, m.leg, m.streams);
    else if (m.op === 'destroy') await destroy(m.id);
    else if (m.op === 'capture') capture(m.id, m.leg, m.taps);
    else if (m.op === 'track') positions.track(m.everyMs);
    else if (m.op === 'import') update(m.id, m.leg, m.cfg, m.streams);
  };
  if (m.op === 'io') {
    post({ op: 'reply', req: m.req, data: ioState() });
    return;
  }
  run().then(
    () => post({ op: 'reply', req: m.req }),
    (err: Error & { code?: string; address?: string; port?: number }) =>
      post({ op: 'reply', req: m.req, error: err.message, code: err.code, address: err.address, port: err.port }),
  );
});

// The engine loads before 'ready', not on the first SRTP leg: its ~25 ms (read and hash the
// module, compile, instantiate, libsrtp's self-tests) otherwise lands on the first call's
// INVITE, and again on a restarted worker's first call (bench/results/sip.md).
chooseSocketIo(needEngine());
post({ op: 'ready', io: batch ? 'batched' : 'dgram', ...(ioReason ? { ioReason } : {}) });
