/**
 * Packets-per-second harness of media termination (`npm run bench:pps`).
 *
 * 1. Engine path, no sockets: 1,000,000 packets each way through the relay's PacketPath,
 *    counting GC events (must be 0).
 * 2. Sockets: K calls of 20 ms G.711 (172-byte RTP; 182-byte SRTP) driven at increasing offered
 *    rates through (a) a plain node:dgram relay forwarding without crypto, (b) the appliance
 *    SRTP→RTP and (c) RTP→SRTP, each relay in its own forked process whose CPU time is charged
 *    per delivered packet. The load generator (this process, Node, protecting with the same
 *    WebAssembly engine) and the sink (a worker thread here) share the machine with the relay.
 * 3. Memory: RSS of an appliance process holding N sessions.
 * Last stdout line: one JSON object with the headline figures; bench/results/pps.md is rewritten.
 */
import { fork } from 'node:child_process';
import dgram from 'node:dgram';
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SrtpEngine } from '../wasm/srtp';
import { measureEnginePath } from './pps/engine-path';
import { INSIDE, OUTSIDE, PROFILE, type RelayCommand, type RelayReply } from './pps/relay';
import { RTPENGINE_ADDRESS, Rtpengine } from './pps/rtpengine';

const CALLS = Number(process.env.PPS_CALLS ?? 100);
const STEP_MS = Number(process.env.PPS_STEP_MS ?? 2000);
const RATES = (process.env.PPS_RATES ?? '20000,30000,40000,50000,60000,80000').split(',').map(Number);
const RSS_STEPS = [1000, 4750];
const CPU_ROUNDS = Number(process.env.PPS_CPU_ROUNDS ?? 4);
const CPU_STEP_MS = 1500;
const PHONE = '127.0.1.50';
const PEER = '127.0.2.50';
const DRAIN_MS = 300;

type Mode = 'plain' | 'srtp_to_rtp' | 'rtp_to_srtp' | 'rtpengine_srtp_to_rtp';

interface CpuSource {
  cpu(): Promise<{ micros: number; drops?: number }>;
}
interface Step {
  mode: Mode;
  /** Steps of one round ran back to back at the same target rate. */
  round: number;
  target: number;
  offered: number;
  delivered: number;
  loss: number;
  cpuPerMpkt: number;
  /** Packets the appliance itself dropped and counted (auth, replay, source, other). */
  relayDrops: number;
  /** Datagrams the kernel dropped on the relay's sockets (receive queue full: relay too slow). */
  relayQueueDrops: number;
  /** ... and on the generator/sink side's sockets (the sink too slow: not the relay's fault). */
  sinkQueueDrops: number;
}

// ---- sink: a worker thread counting what arrives on two sockets ----
const SINK_CODE = `
const dgram = require('node:dgram');
const { parentPort, workerData } = require('node:worker_threads');
const counts = workerData;
const ports = [];
let n = 0;
for (const [i, address] of [[0, '${PEER}'], [1, '${PHONE}']]) {
  const s = dgram.createSocket({ type: 'udp4', recvBufferSize: 4 << 20 });
  s.on('message', () => { counts[i]++; });
  s.bind(0, address, () => { ports[i] = s.address().port; if (++n === 2) parentPort.postMessage(ports); });
}`;

async function startSink(): Promise<{ counts: Int32Array; s2r: number; r2s: number; worker: Worker }> {
  const counts = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(SINK_CODE, { eval: true, workerData: counts });
  const ports = await new Promise<number[]>((r) => worker.once('message', r));
  return { counts, s2r: ports[0] as number, r2s: ports[1] as number, worker };
}

// ---- relay child ----
class RelayProcess {
  private readonly child;
  private waiting: ((r: RelayReply) => void)[] = [];
  readonly started: Promise<void>;
  constructor(mode: string) {
    this.child = fork(path.join(__dirname, 'pps/relay.js'), [mode], {
      execArgv: ['--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.started = new Promise((r) => this.child.once('message', () => r()));
    this.started.then(() => this.child.on('message', (m: RelayReply) => this.waiting.shift()?.(m)));
  }
  async ask(c: RelayCommand): Promise<RelayReply> {
    await this.started;
    const reply = new Promise<RelayReply>((r) => this.waiting.push(r));
    this.child.send(c);
    const r = await reply;
    if ('error' in r) throw new Error(`relay: ${r.error}`);
    return r;
  }
  async cpu(): Promise<{ micros: number; forwarded: number; drops: number }> {
    const r = await this.ask({ cmd: 'cpu' });
    if (!('ok' in r) || r.ok !== 'cpu') throw new Error('bad cpu reply');
    return r;
  }
  async exit(): Promise<void> {
    const gone = new Promise((r) => this.child.once('exit', r));
    this.child.send({ cmd: 'exit' });
    await Promise.race([gone, new Promise((r) => setTimeout(r, 3000))]);
    this.child.kill('SIGKILL');
  }
}

// ---- load generator ----
interface Load {
  /** Sends packet number `k` of call `i`; returns nothing, allocates freely (not measured). */
  send(i: number): void;
}

/**
 * One connected socket per call: a connected send skips dgram's per-send address lookup,
 * roughly halving the generator's cost per packet (the generator shares the cores with the
 * relay it measures).
 */
async function callSockets(from: string, to: string, ports: number[]): Promise<dgram.Socket[]> {
  return Promise.all(
    ports.map(async (port) => {
      const s = dgram.createSocket({ type: 'udp4', sendBufferSize: 1 << 20 });
      await new Promise<void>((r) => s.bind(0, from, () => r()));
      await new Promise<void>((r) => s.connect(port, to, () => r()));
      return s;
    }),
  );
}

function srtpLoad(engine: SrtpEngine, socks: dgram.Socket[], keys: Buffer[]): Load {
  const handles = keys.map((k) => engine.createSession(PROFILE, k, 'outbound'));
  const seq = socks.map(() => 0);
  const tmpl = Buffer.alloc(172, 0xd5);
  tmpl[0] = 0x80;
  const slot = engine.slot(0);
  return {
    send(i) {
      const s = ((seq[i] as number) + 1) & 0xffff;
      seq[i] = s;
      tmpl.writeUInt16BE(s, 2);
      tmpl.writeUInt32BE(s * 160, 4);
      tmpl.writeUInt32BE(0x10000 + i, 8);
      slot.set(tmpl, 0);
      const n = engine.protectRtp(handles[i] as number, 0, 172);
      (socks[i] as dgram.Socket).send(Buffer.from(slot.subarray(0, n)));
    },
  };
}

function rtpLoad(socks: dgram.Socket[]): Load {
  const seq = socks.map(() => 0);
  return {
    send(i) {
      const b = Buffer.alloc(172, 0xd5);
      b[0] = 0x80;
      const s = ((seq[i] as number) + 1) & 0xffff;
      seq[i] = s;
      b.writeUInt16BE(s, 2);
      b.writeUInt32BE(s * 160, 4);
      b.writeUInt32BE(0x20000 + i, 8);
      (socks[i] as dgram.Socket).send(b);
    },
  };
}

/** Offers `rate` packets/s round-robin over the calls for `ms`; returns packets sent. */
async function offer(load: Load, calls: number, rate: number, ms: number): Promise<number> {
  const t0 = performance.now();
  let sent = 0;
  let call = 0;
  for (;;) {
    const elapsed = performance.now() - t0;
    if (elapsed >= ms) break;
    const due = Math.floor((rate * elapsed) / 1000);
    for (let burst = 0; sent < due && burst < 256; burst++, sent++) {
      load.send(call);
      call = call + 1 === calls ? 0 : call + 1;
    }
    await new Promise((r) => setImmediate(r));
  }
  return sent;
}

/**
 * Wait until the sink has been quiet for DRAIN_MS (at most 5 s): a relay descheduled by the
 * machine's other jobs delivers its backlog late, and that is delay, not loss.
 */
async function drain(counts: Int32Array, index: number): Promise<void> {
  const deadline = performance.now() + 5000;
  let last = Atomics.load(counts, index);
  let quietSince = performance.now();
  while (performance.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const now = Atomics.load(counts, index);
    if (now !== last) {
      last = now;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= DRAIN_MS) {
      return;
    }
  }
}

/** Datagrams the kernel dropped on full receive queues, per local IPv4 address (/proc/net/udp). */
function udpDrops(): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of readFileSync('/proc/net/udp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    const hex = f[1]?.split(':')[0];
    if (f.length < 13 || !hex || hex.length !== 8) continue;
    const ip = [3, 2, 1, 0].map((i) => Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16)).join('.');
    out.set(ip, (out.get(ip) ?? 0) + Number(f[f.length - 1]));
  }
  return out;
}

function dropsAt(before: Map<string, number>, after: Map<string, number>, addresses: string[]): number {
  return addresses.reduce((n, a) => n + (after.get(a) ?? 0) - (before.get(a) ?? 0), 0);
}

async function runStep(
  mode: Mode,
  round: number,
  lane: Lane,
  target: number,
  counts: Int32Array,
  ms = STEP_MS,
): Promise<Step> {
  const r0 = Atomics.load(counts, lane.sinkIndex);
  const k0 = udpDrops();
  const c0 = await lane.relay.cpu();
  const sent = await offer(lane.load, CALLS, target, ms);
  await drain(counts, lane.sinkIndex);
  const c1 = await lane.relay.cpu();
  const delivered = Atomics.load(counts, lane.sinkIndex) - r0;
  const k1 = udpDrops();
  const step: Step = {
    mode,
    round,
    target,
    offered: Math.round(sent / (ms / 1000)),
    delivered: Math.round(delivered / (ms / 1000)),
    loss: sent > 0 ? Math.max(0, 1 - delivered / sent) : 1,
    cpuPerMpkt: delivered > 0 ? (c1.micros - c0.micros) / delivered : Number.NaN,
    relayDrops: (c1.drops ?? 0) - (c0.drops ?? 0),
    relayQueueDrops: dropsAt(k0, k1, [OUTSIDE, INSIDE, RTPENGINE_ADDRESS]),
    sinkQueueDrops: dropsAt(k0, k1, [PHONE, PEER]),
  };
  console.log(
    `${mode.padEnd(21)} target ${String(target).padStart(6)}  offered ${String(step.offered).padStart(6)}  delivered ${String(step.delivered).padStart(6)} pps  loss ${(step.loss * 100).toFixed(3)}%  relay CPU ${step.cpuPerMpkt.toFixed(2)} s/Mpkt${step.relayDrops ? `  relay dropped ${step.relayDrops}` : ''}${step.relayQueueDrops ? `  relay queue drops ${step.relayQueueDrops}` : ''}${step.sinkQueueDrops ? `  sink queue drops ${step.sinkQueueDrops}` : ''}`,
  );
  return step;
}

interface Lane {
  mode: Mode;
  relay: CpuSource;
  load: Load;
  sinkIndex: number;
  steps: Step[];
  overloaded: number;
}

/**
 * The three relays take turns at each offered rate, so that each comparison is made minutes
 * apart at most on a machine whose other load drifts. A relay stops climbing after its second
 * overloaded step (over 1% loss, or the generator could not offer 90% of the target).
 */
async function climb(lanes: Lane[], counts: Int32Array): Promise<void> {
  let round = 0;
  for (const target of RATES) {
    round++;
    const active = lanes.filter((l) => l.overloaded < 2);
    if (active.length === 0) break;
    for (const lane of rotate(active, round)) {
      const step = await runStep(lane.mode, round, lane, target, counts);
      lane.steps.push(step);
      if (step.loss > 0.01 || step.offered < 0.9 * target) lane.overloaded++;
    }
  }
}

/** Each round starts with another relay, so none always runs right after the same neighbour. */
function rotate<T>(items: T[], by: number): T[] {
  const k = by % Math.max(1, items.length);
  return [...items.slice(k), ...items.slice(0, k)];
}

/** Highest delivered rate with loss under 0.1%. */
function saturation(steps: Step[]): number {
  return Math.max(0, ...steps.filter((s) => s.loss < 0.001).map((s) => s.delivered));
}

function median(steps: Step[]): number {
  const v = steps.map((x) => x.cpuPerMpkt).sort((x, y) => x - y);
  const m = v.length >> 1;
  return v.length % 2 ? (v[m] as number) : ((v[m - 1] as number) + (v[m] as number)) / 2;
}

/** Lost over sent across steps (rates are per second over equal step lengths). */
function pooledLoss(steps: Step[]): number {
  const sent = steps.reduce((n, x) => n + x.offered, 0);
  const got = steps.reduce((n, x) => n + x.delivered, 0);
  return sent > 0 ? Math.max(0, 1 - got / sent) : 1;
}

async function main(): Promise<void> {
  const started = new Date();
  const loadBefore = os.loadavg()[0] ?? 0;
  const cpuModel = (readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/) ?? [])[1] ?? 'unknown';
  console.log(
    `pps bench: ${os.availableParallelism()} cores (${cpuModel}), node ${process.version}, ${CALLS} calls, ${STEP_MS} ms per step`,
  );

  // 1. Engine path, no sockets.
  const ep = await measureEnginePath(1_000_000);
  console.log(
    `engine path: ${ep.packets} packets, ${ep.gcEvents} GC events, heap +${ep.heapGrowthBytes} B; SRTP→RTP ${ep.nsPerPacketSrtpToRtp.toFixed(0)} ns/pkt, RTP→SRTP ${ep.nsPerPacketRtpToSrtp.toFixed(0)} ns/pkt`,
  );

  // 2. Sockets.
  const sink = await startSink();
  const engine = SrtpEngine.load();
  const phone = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  const peer = dgram.createSocket({ type: 'udp4', sendBufferSize: 4 << 20 });
  await new Promise<void>((r) => phone.bind(0, PHONE, () => r()));
  await new Promise<void>((r) => peer.bind(0, PEER, () => r()));
  const keys = Array.from({ length: CALLS }, (_, i) => Buffer.alloc(30, i + 1));
  const setup: RelayCommand = {
    cmd: 'setup',
    calls: CALLS,
    s2rSink: { address: PEER, port: sink.s2r },
    r2sSink: { address: PHONE, port: sink.r2s },
    phone: { address: PHONE, port: phone.address().port },
    peer: { address: PEER, port: peer.address().port },
    keys: keys.map((k) => [...k]),
    workers: 1,
  };
  const results: Step[] = [];

  const plain = new RelayProcess('plain');
  const app = new RelayProcess('appliance');
  const p = (await plain.ask(setup)) as Extract<RelayReply, { ok: 'setup' }>;
  const a = (await app.ask(setup)) as Extract<RelayReply, { ok: 'setup' }>;
  const lane = (mode: Mode, relay: CpuSource, load: Load, sinkIndex: number): Lane => ({
    mode,
    relay,
    load,
    sinkIndex,
    steps: [],
    overloaded: 0,
  });
  const lanes: Lane[] = [
    lane('plain', plain, srtpLoad(engine, await callSockets(PHONE, OUTSIDE, p.s2r), keys), 0),
    lane('srtp_to_rtp', app, srtpLoad(engine, await callSockets(PHONE, OUTSIDE, a.s2r), keys), 0),
    lane('rtp_to_srtp', app, rtpLoad(await callSockets(PEER, INSIDE, a.r2s)), 1),
  ];
  // Debian's rtpengine, when installed: the userspace SRTP→RTP relay network teams use.
  let rtpe: Rtpengine | undefined;
  const startRtpengine = async (): Promise<Lane> => {
    await rtpe?.exit();
    rtpe = await Rtpengine.start(62000, 62999);
    const ports = await rtpe.srtpToRtpCalls(keys, setup.phone, setup.s2rSink);
    const load = srtpLoad(engine, await callSockets(PHONE, RTPENGINE_ADDRESS, ports), keys);
    return lane('rtpengine_srtp_to_rtp', rtpe, load, 0);
  };
  if (Rtpengine.available() && process.env.PPS_RTPENGINE !== '0') lanes.push(await startRtpengine());
  await climb(lanes, sink.counts);
  const [plainSteps, s2r, r2s] = lanes.map((l) => l.steps) as [Step[], Step[], Step[]];
  const rtpeSteps = lanes[3]?.steps ?? [];
  const plainSat = saturation(plainSteps);
  // The loss target: under 0.1% at 80% of the plain relay's saturation rate, measured last.
  const at80 = Math.max(1000, Math.round((0.8 * plainSat) / 1000) * 1000);
  // Then, at that rate, CPU_ROUNDS more turns: the CPU ratio is the ratio of medians (robust
  // to the other jobs' load spikes), the loss is all lost over all sent in these rounds.
  const firstCpuRound = RATES.length + 1;
  const rtpeLane = lanes[3];
  if (rtpeLane) {
    // Once overloaded, rtpengine keeps discarding on the streams it flagged ("UDP receive queue
    // exceeded"): a fresh daemon with fresh calls for the measured rounds.
    const fresh = await startRtpengine();
    rtpeLane.relay = fresh.relay;
    rtpeLane.load = fresh.load;
  }
  for (let r = 0; r < CPU_ROUNDS; r++) {
    for (const l of rotate(lanes, r)) {
      l.steps.push(await runStep(l.mode, firstCpuRound + r, l, at80, sink.counts, CPU_STEP_MS));
    }
  }
  await plain.exit();
  await app.exit();
  await rtpe?.exit();
  results.push(...plainSteps, ...s2r, ...r2s, ...rtpeSteps);
  phone.close();
  peer.close();
  await sink.worker.terminate();

  // 3. Memory per session.
  const rssProc = new RelayProcess('rss');
  const rss = (await rssProc.ask({ cmd: 'rss', steps: RSS_STEPS, workers: 1 })) as Extract<RelayReply, { ok: 'rss' }>;
  await rssProc.exit();
  const perSession = rss.points.map((pt) => ({ ...pt, kbPerSession: (pt.rssKb - rss.baseKb) / pt.sessions }));
  for (const pt of perSession)
    console.log(
      `rss: ${pt.sessions} sessions → ${pt.rssKb} KB (base ${rss.baseKb} KB), ${pt.kbPerSession.toFixed(1)} KB/session`,
    );

  const atCpu = (st: Step[]) => st.filter((x) => x.round >= firstCpuRound);
  const ratioS2r = median(atCpu(s2r)) / median(atCpu(plainSteps));
  const ratioR2s = median(atCpu(r2s)) / median(atCpu(plainSteps));
  const lossAt80 = Math.max(...[s2r, r2s].map((st) => pooledLoss(atCpu(st))));
  const headline = {
    srtp_to_rtp_pps: saturation(s2r),
    rtp_to_srtp_pps: saturation(r2s),
    plain_relay_pps: plainSat,
    cpu_per_mpkt_ratio_vs_plain: Number(Math.max(ratioS2r, ratioR2s).toFixed(3)),
    cpu_per_mpkt_ratio_srtp_to_rtp: Number(ratioS2r.toFixed(3)),
    cpu_per_mpkt_ratio_rtp_to_srtp: Number(ratioR2s.toFixed(3)),
    // Less noisy cross-check: the plain relay's I/O cost plus the engine path's own cost.
    cpu_per_mpkt_ratio_engine_estimate: Number(
      (
        (median(atCpu(plainSteps)) + Math.max(ep.nsPerPacketSrtpToRtp, ep.nsPerPacketRtpToSrtp) / 1000) /
        median(atCpu(plainSteps))
      ).toFixed(3),
    ),
    loss: Number(lossAt80.toFixed(5)),
    // The plain relay's own loss in the same rounds: a loss both show is the machine's, not the relay's.
    plain_loss: Number(pooledLoss(atCpu(plainSteps)).toFixed(5)),
    loss_rate_pps: at80,
    gc_events_per_1m: Math.round((ep.gcEvents * 1_000_000) / ep.packets),
    rss_kb_per_session: Number((perSession.at(-1)?.kbPerSession ?? Number.NaN).toFixed(1)),
    rss_kb_per_session_1000: Number((perSession[0]?.kbPerSession ?? Number.NaN).toFixed(1)),
    engine_ns_per_pkt_srtp_to_rtp: Math.round(ep.nsPerPacketSrtpToRtp),
    engine_ns_per_pkt_rtp_to_srtp: Math.round(ep.nsPerPacketRtpToSrtp),
    ...(rtpeSteps.length > 0
      ? {
          rtpengine_srtp_to_rtp_pps: saturation(rtpeSteps),
          rtpengine_cpu_per_mpkt_ratio_vs_plain: Number(
            (median(atCpu(rtpeSteps)) / median(atCpu(plainSteps))).toFixed(3),
          ),
        }
      : {}),
  };
  writeReport(started, cpuModel, loadBefore, results, ep, perSession, rss.baseKb, headline);
  console.log(JSON.stringify(headline));
}

function writeReport(
  started: Date,
  cpuModel: string,
  loadBefore: number,
  steps: Step[],
  ep: Awaited<ReturnType<typeof measureEnginePath>>,
  rss: { sessions: number; rssKb: number; kbPerSession: number }[],
  baseKb: number,
  headline: Record<string, number>,
): void {
  const row = (s: Step) =>
    `| ${s.mode} | ${s.round} | ${s.target} | ${s.offered} | ${s.delivered} | ${(s.loss * 100).toFixed(3)}% | ${s.cpuPerMpkt.toFixed(2)} |`;
  const text = `# pps benchmark (media termination)

Generated by \`npm run bench:pps\` (\`tsc -p bench && node --expose-gc dist-dev/bench/pps.js\`).

- Date: ${started.toISOString()}
- Machine: ${os.availableParallelism()} cores, ${cpuModel}, Node ${process.version}, ${os.type()} ${os.release()}; 1-minute load average ${loadBefore.toFixed(1)} at start and ${(os.loadavg()[0] ?? 0).toFixed(1)} at the end (the machine is shared: figures are noisy)
- Load: ${CALLS} calls SRTP→RTP and ${CALLS} calls RTP→SRTP, 172-byte G.711 RTP (182-byte SRTP, AES_CM_128_HMAC_SHA1_80), ${STEP_MS} ms per rate step, round-robin over the calls
- Relay processes: plain node:dgram relay (2 sockets per call, forwards without crypto) vs the appliance's media service with 1 worker thread; CPU = user+system time of the relay process (all threads) per delivered packet${
    Rtpengine.available()
      ? `; third relay: Debian's rtpengine ${Rtpengine.version()} in userspace (--table=-1, --num-threads=1; SRTP→RTP only), CPU from /proc/<pid>/stat`
      : ''
  }
- Generator: this Node process (protects SRTP with the same WebAssembly engine); sink: a worker thread of it. Generator, sink and relay share the ${os.availableParallelism()} cores, so saturation rates are bounded by the generator as much as by the relay; the CPU-per-packet ratio is the figure that compares designs.

## Headline

| figure | value |
|---|---|
${Object.entries(headline)
  .map(([k, v]) => `| ${k} | ${v} |`)
  .join('\n')}

## Engine path without sockets (${ep.packets} packets)

GC events: **${ep.gcEvents}**; heap growth over the run: ${ep.heapGrowthBytes} bytes (does not grow with the packet count: about the same at 100k and 1M packets, so compiled code rather than per-packet garbage); SRTP→RTP ${ep.nsPerPacketSrtpToRtp.toFixed(0)} ns/packet (unprotect + copy + counters), RTP→SRTP ${ep.nsPerPacketRtpToSrtp.toFixed(0)} ns/packet (copy + protect + counters).

## Rate steps

Rounds 1-${RATES.length}: the three relays take turns at each offered rate, climbing until each is overloaded twice (saturation = highest delivered rate under 0.1% loss). Then ${CPU_ROUNDS} more rounds of ${CPU_STEP_MS} ms at 80% of the plain relay's saturation rate: \`cpu_per_mpkt_ratio_*\` is the median relay CPU per packet of the appliance over the plain relay's median in those rounds, and \`loss\` is the worse direction's lost/sent pooled over them. Relay CPU per packet is much higher at low rates (a wakeup per packet) and on this shared machine swings with the other jobs' load.

| relay | round | target pps | offered pps | delivered pps | loss | relay CPU s per Mpkt |
|---|---|---|---|---|---|---|
${steps.map(row).join('\n')}

## Memory

Base RSS ${baseKb} KB (appliance process, 1 worker, no sessions). Each session: 4 UDP sockets, one SRTP leg (2 libsrtp sessions), one RTP leg.

| sessions | RSS KB | KB per session |
|---|---|---|
${rss.map((r) => `| ${r.sessions} | ${r.rssKb} | ${r.kbPerSession.toFixed(1)} |`).join('\n')}

5,000 sessions need 20,000 sockets, above this machine's hard limit of 20,000 open files: the largest point is ${RSS_STEPS.at(-1)} sessions.
`;
  writeFileSync(path.resolve(__dirname, '../../bench/results/pps.md'), text);
}

main().then(
  () => process.exit(0),
  (err: Error) => {
    console.error(err);
    process.exit(1);
  },
);
