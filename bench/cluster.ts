/**
 * `npm run bench:cluster` (issue 14): what media replication costs and how fast a takeover is.
 *
 * 1. Replication cost per session create/update: CPU (all threads, process.cpuUsage) of
 *    allocate + 2 leg updates (SRTP both legs) + release through a real media service, with the
 *    replica sink (snapshot encode + AES-256-GCM seal, src/cluster/secret-box.ts) vs without it,
 *    interleaved rounds; and the snapshot + seal alone, per publish.
 * 2. Redis ops per call: a real redis-server, a publishing node and a following node (the media
 *    replica over the cluster link), CALLS secure calls of CALL_S seconds at 50 packets/s each way;
 *    Redis's own total_commands_processed, less the heartbeats measured alone beforehand.
 * 3. Takeover time over TAKEOVERS takeovers, in one process: node A relays a call (SRTP both
 *    legs, 100 packets/s each way), A's session is closed (its sockets gone, as after kill -9),
 *    B adopts A's last snapshot; timed from adopt() to the first packet B relays each way.
 * 4. Packets per second with replication on vs off: the pps benchmark's relay process
 *    (bench/pps/relay.ts) with PPS_REPLICA=1 or not, K calls RTP→SRTP driven at a fixed rate,
 *    CPU per delivered packet in interleaved rounds; the throughput a node keeps is the ratio.
 * Last stdout line: one JSON object.
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../src/cluster/secret-box';
import type { MediaReplicaSink } from '../src/contracts/media';
import { MediaReplica } from '../src/media/cluster-replica';
import { createMediaService, type MediaService } from '../src/media/service';
import { mediaContext, rtpPacket, sleep } from '../test/support/media-harness';
import { startRedisServer } from '../test/support/redis-server';
import { SrtpCall } from '../test/support/srtp-call';
import type { RelayCommand, RelayReply } from './pps/relay';

const ROUNDS = Number(process.env.CLUSTER_ROUNDS ?? 4);
const CALLS_PER_ROUND = Number(process.env.CLUSTER_SETUPS ?? 200);
const CALLS = Number(process.env.CLUSTER_CALLS ?? 10);
const CALL_S = Number(process.env.CLUSTER_CALL_S ?? 5);
const TAKEOVERS = Number(process.env.CLUSTER_TAKEOVERS ?? 20);
const PPS_CALLS = Number(process.env.CLUSTER_PPS_CALLS ?? 100);
const PPS_RATE = Number(process.env.CLUSTER_PPS_RATE ?? 20_000);
const PPS_STEP_MS = Number(process.env.CLUSTER_PPS_STEP_MS ?? 3000);
const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const quiet = pino({ level: 'silent' });
const box = new SecretBox(parseSecretKeys('d'.repeat(64)));

function cpuMicros(): number {
  const u = process.cpuUsage();
  return u.user + u.system;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

/** A sink that does what the cluster replica does before Redis: encode (by the service) and seal. */
function sealingSink(): MediaReplicaSink & { n: number } {
  const sink = {
    n: 0,
    publish(id: string, snapshot: Uint8Array) {
      box.seal(Buffer.from(snapshot), `media:bench:${id}`);
      sink.n++;
    },
    forget() {},
  };
  return sink;
}

async function setups(media: MediaService, n: number, tag: string): Promise<number> {
  const t = cpuMicros();
  for (let i = 0; i < n; i++) {
    const a = await media.allocate({ callId: `${tag}-${i}` });
    const key = Buffer.alloc(30, i & 0xff);
    for (const leg of ['outside', 'inside'] as const) {
      await media.updateLeg(a.id, leg, {
        mode: 'srtp',
        peer: { address: leg === 'outside' ? '127.0.1.70' : '127.0.2.70', rtpPort: 40_000 + (i % 1000) * 2 },
        srtp: { profile: PROFILE, recvKey: key, sendKey: key },
      });
    }
    await media.release(a.id, 'bench');
  }
  return (cpuMicros() - t) / n;
}

async function replicationCost() {
  const mt = { 'rtp-min-port': 62000, 'rtp-max-port': 62999, workers: 1, 'idle-timeout': 3600 };
  const off = createMediaService(mediaContext(mt), { quarantineMs: 0 });
  await off.start();
  const sink = sealingSink();
  const on = createMediaService(mediaContext({ ...mt, 'rtp-min-port': 63000, 'rtp-max-port': 63999 }), {
    quarantineMs: 0,
    replica: sink,
  });
  await on.start();
  await setups(off, 50, 'warm-off');
  await setups(on, 50, 'warm-on');
  const offUs: number[] = [];
  const onUs: number[] = [];
  for (let r = 0; r < 2 * ROUNDS; r++) {
    // Alternate which goes first: a GC or a neighbour's burst should not land on one side only.
    if (r % 2 === 0) offUs.push(await setups(off, CALLS_PER_ROUND, `off-${r}`));
    onUs.push(await setups(on, CALLS_PER_ROUND, `on-${r}`));
    if (r % 2 === 1) offUs.push(await setups(off, CALLS_PER_ROUND, `off-${r}`));
  }
  // The snapshot + seal alone: one session with keys and stream states, as published.
  const a = await on.allocate({ callId: 'alone' });
  await on.updateLeg(a.id, 'outside', {
    mode: 'srtp',
    peer: { address: '127.0.1.70', rtpPort: 40_000 },
    srtp: { profile: PROFILE, recvKey: Buffer.alloc(30, 1), sendKey: Buffer.alloc(30, 2) },
  });
  const N = 20_000;
  const t = cpuMicros();
  let bytes = 0;
  for (let i = 0; i < N; i++) {
    const snap = on.snapshot(a.id) as Uint8Array;
    bytes = box.seal(Buffer.from(snap), `media:bench:${a.id}`).length;
  }
  const publishUs = (cpuMicros() - t) / N;
  await on.stop();
  await off.stop();
  const med = (xs: number[]) => pct(xs, 50);
  return {
    setup_cpu_us_off: Math.round(med(offUs)),
    setup_cpu_us_on: Math.round(med(onUs)),
    setup_cpu_ratio: Number((med(onUs) / med(offUs)).toFixed(3)),
    publishes_per_setup: Number((sink.n / (2 * ROUNDS * CALLS_PER_ROUND + 50)).toFixed(2)),
    snapshot_seal_us: Number(publishUs.toFixed(1)),
    sealed_snapshot_bytes: bytes,
  };
}

async function redisOps() {
  const redis = await startRedisServer();
  const total = async () => Number(/total_commands_processed:(\d+)/.exec(await redis.cli('INFO', 'stats'))?.[1] ?? 0);
  const link = (node: string, role: 'active' | 'standby') =>
    new RedisLink({
      node,
      role,
      connect: { url: redis.url(0), options: {}, describe: 'bench' },
      secrets: box,
      log: quiet,
      metrics: new Registry(),
    });
  const la = link('a', 'active');
  const lb = link('b', 'standby');
  await la.start(5000);
  await lb.start(5000);
  const ra = new MediaReplica({ store: la, log: quiet, follow: false });
  const rb = new MediaReplica({ store: lb, log: quiet, follow: true });
  const media = createMediaService(
    mediaContext({ 'rtp-min-port': 61900, 'rtp-max-port': 61979, workers: 1, 'idle-timeout': 3600 }),
    { replica: ra },
  );
  await media.start();
  ra.start();
  // B follows but never sees A die: a stand-in takeover that is never called.
  rb.start({
    adopt: () => Promise.reject(new Error('not in this bench')),
    sessions: () => [],
    release: async () => {},
  });
  // Heartbeats and the standby's polls alone, then with calls.
  const idleMs = 3000;
  let t0 = await total();
  await sleep(idleMs);
  const idlePerS = ((await total()) - t0) / (idleMs / 1000);
  t0 = await total();
  const started = Date.now();
  const calls: SrtpCall[] = [];
  for (let i = 0; i < CALLS; i++) calls.push(await SrtpCall.place(media, `127.0.1.${80 + i}`, `127.0.2.${80 + i}`));
  await sleep(CALL_S * 1000);
  for (const c of calls) c.stop();
  for (const s of media.sessions()) await media.release(s.id, 'bench');
  await sleep(300);
  const seconds = (Date.now() - started) / 1000;
  const ops = (await total()) - t0 - idlePerS * seconds;
  ra.stop();
  rb.stop();
  await media.stop();
  await la.stop();
  await lb.stop();
  await redis.stop();
  return {
    redis_ops_per_call: Math.round(ops / CALLS),
    redis_ops_per_call_second: Number((ops / CALLS / CALL_S).toFixed(1)),
    redis_ops_per_s_heartbeats: Math.round(idlePerS),
    call_seconds: CALL_S,
  };
}

async function takeovers() {
  const mt = { 'rtp-min-port': 62000, 'rtp-max-port': 62199, workers: 1, 'idle-timeout': 3600 };
  const latest = new Map<string, Uint8Array>();
  const a = createMediaService(mediaContext(mt), {
    quarantineMs: 0,
    replica: { publish: (id, s) => void latest.set(id, s), forget: () => undefined },
  });
  const b = createMediaService(mediaContext(mt), { quarantineMs: 0 });
  await a.start();
  await b.start();
  const adoptMs: number[] = [];
  const firstMs: number[] = [];
  let failures = 0;
  for (let i = 0; i < TAKEOVERS; i++) {
    const call = await SrtpCall.place(a, '127.0.1.90', '127.0.2.90', 1000 + i * 7, 10);
    await call.until(1000 + i * 7 + 60); // 600 ms: a few position reports
    const snap = latest.get(call.info.id) as Uint8Array;
    await a.release(call.info.id, 'bench'); // A's sockets close, as with kill -9
    const t0 = Date.now();
    const id = await b.adopt(snap, 'a');
    adoptMs.push(Date.now() - t0);
    const mark = { peer: call.atPeer, phone: call.atPhone };
    if (await call.flowsAgain(mark, 3000)) firstMs.push(call.resumedAfter(t0));
    call.stop();
    failures += call.failures.length;
    await b.release(id, 'bench');
  }
  await a.stop();
  await b.stop();
  return {
    takeovers: TAKEOVERS,
    adopt_ms_p50: pct(adoptMs, 50),
    adopt_ms_p99: pct(adoptMs, 99),
    takeover_first_packet_ms_p50: pct(firstMs, 50),
    takeover_first_packet_ms_p99: pct(firstMs, 99),
    takeover_srtp_failures: failures,
  };
}

// ---- 4: pps with replication on vs off, the pps benchmark's relay process ----

class Relay {
  private readonly child;
  private waiting: ((r: RelayReply) => void)[] = [];
  constructor(replica: boolean) {
    this.child = fork(path.join(__dirname, 'pps/relay.js'), ['appliance'], {
      env: { ...process.env, PPS_REPLICA: replica ? '1' : '', PPS_PORT_BASE: replica ? '64000' : '63000' },
    });
    this.child.on('message', (m: RelayReply | { ok: 'started' }) => {
      if ('ok' in m && m.ok === 'started') return;
      this.waiting.shift()?.(m as RelayReply);
    });
  }
  ask(c: RelayCommand): Promise<RelayReply> {
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.child.send(c);
    });
  }
}

async function ppsOnOff() {
  const sink = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  let got = 0;
  sink.on('message', () => got++);
  await new Promise<void>((r) => sink.bind(0, '127.0.1.60', () => r()));
  const gen = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => gen.bind(0, '127.0.2.60', () => r()));
  const endpoint = { address: '127.0.1.60', port: sink.address().port };
  const keys = Array.from({ length: PPS_CALLS }, (_, i) => Array.from(Buffer.alloc(30, i + 1)));
  const relays = { off: new Relay(false), on: new Relay(true) };
  const ports: Record<'off' | 'on', number[]> = { off: [], on: [] };
  for (const k of ['off', 'on'] as const) {
    await sleep(500);
    const r = await relays[k].ask({
      cmd: 'setup',
      calls: PPS_CALLS,
      s2rSink: endpoint,
      r2sSink: endpoint,
      phone: endpoint,
      peer: { address: '127.0.2.60', port: gen.address().port },
      keys,
      workers: 1,
    });
    if (!('ok' in r) || r.ok !== 'setup') throw new Error(`relay setup: ${JSON.stringify(r)}`);
    ports[k] = r.r2s; // the two relays share the addresses, on port ranges of their own
  }
  const pkts = Array.from({ length: PPS_CALLS }, (_, i) => rtpPacket(0x1000 + i, 0));
  const seqs = { off: 0, on: 0 };
  const step = async (k: 'off' | 'on') => {
    const before = (await relays[k].ask({ cmd: 'cpu' })) as Extract<RelayReply, { ok: 'cpu' }>;
    got = 0;
    const t0 = Date.now();
    let sent = 0;
    const seq = seqs[k];
    while (Date.now() - t0 < PPS_STEP_MS) {
      const due = Math.floor(((Date.now() - t0) / 1000) * PPS_RATE);
      while (sent < due) {
        const i = sent % PPS_CALLS;
        // A copy per packet: dgram may send after this loop moved on (the relay's path allocates nothing; this is the generator).
        const p = Buffer.from(pkts[i] as Buffer);
        p.writeUInt16BE((seq + Math.floor(sent / PPS_CALLS)) & 0xffff, 2);
        gen.send(p, ports[k][i] as number, '127.0.2.10');
        sent++;
      }
      await new Promise((r) => setImmediate(r));
    }
    seqs[k] = seq + Math.ceil(sent / PPS_CALLS) + 1;
    await sleep(300);
    const after = (await relays[k].ask({ cmd: 'cpu' })) as Extract<RelayReply, { ok: 'cpu' }>;
    const delivered = after.forwarded - before.forwarded;
    const r = { cpuPerPkt: (after.micros - before.micros) / Math.max(1, delivered), delivered, sent };
    console.log(
      `pps ${k}: sent ${sent}, delivered ${delivered}, dropped ${after.drops - before.drops}, ${r.cpuPerPkt.toFixed(2)} us/pkt`,
    );
    return r;
  };
  const res: Record<'off' | 'on', { cpuPerPkt: number; delivered: number; sent: number }[]> = { off: [], on: [] };
  for (let r = 0; r < ROUNDS; r++) {
    for (const k of r % 2 === 0 ? (['off', 'on'] as const) : (['on', 'off'] as const)) res[k].push(await step(k));
  }
  for (const k of ['off', 'on'] as const) relays[k].ask({ cmd: 'exit' }).catch(() => undefined);
  sink.close();
  gen.close();
  const med = (xs: number[]) => pct(xs, 50);
  const cpuOff = med(res.off.map((x) => x.cpuPerPkt));
  const cpuOn = med(res.on.map((x) => x.cpuPerPkt));
  const loss = (k: 'off' | 'on') =>
    res[k].reduce((n, x) => n + (x.sent - x.delivered), 0) / res[k].reduce((n, x) => n + x.sent, 0);
  return {
    pps_offered: PPS_RATE,
    pps_cpu_us_per_pkt_off: Number(cpuOff.toFixed(2)),
    pps_cpu_us_per_pkt_on: Number(cpuOn.toFixed(2)),
    /** The packet rate a node sustains with replication on, relative to off (1/CPU per packet). */
    pps_throughput_kept: Number((cpuOff / cpuOn).toFixed(3)),
    pps_loss_off: Number(loss('off').toFixed(4)),
    pps_loss_on: Number(loss('on').toFixed(4)),
  };
}

/** CLUSTER_ONLY=cost,ops,takeover,pps runs only those parts (all by default). */
const ONLY = new Set((process.env.CLUSTER_ONLY ?? 'cost,ops,takeover,pps').split(','));

async function main(): Promise<void> {
  const started = new Date().toISOString();
  const cost = ONLY.has('cost') ? await replicationCost() : {};
  console.log('replication cost', cost);
  const ops = ONLY.has('ops') ? await redisOps() : {};
  console.log('redis ops', ops);
  const take = ONLY.has('takeover') ? await takeovers() : {};
  console.log('takeovers', take);
  const pps = ONLY.has('pps') ? await ppsOnOff() : {};
  console.log('pps', pps);
  const load = os.loadavg()[0]?.toFixed(1);
  console.log(
    JSON.stringify({ bench: 'cluster', started, nproc: os.cpus().length, load, ...cost, ...ops, ...take, ...pps }),
  );
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
