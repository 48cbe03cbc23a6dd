/**
 * bench:sip — signaling latency and CPU through the appliance (issue 13), against a Kamailio
 * TLS↔TCP relay, the same Kamailio with rtpengine (media terminated per call, like the appliance)
 * and a plain Node TLS↔TCP byte pipe in the same run.
 *
 * A scripted phone (mutual TLS, client certificate from a test manufacturing CA) and a scripted
 * UCM (TCP; answers INVITE with 100/180/200 + SDP, everything else with 200) run in this process
 * and stamp every message on one clock, so a message's transit through the relay is
 * `received - sent` (bench/sip/peers.ts). Per call: INVITE → 100/180/200, ACK, re-INVITE (hold)
 * → 200, ACK, BYE → 200.
 *
 * Relays, each in a child process so its CPU is its own:
 *   - appliance: the real daemon (src/daemon.ts: CTL, media with its workers, TFTP, TLS proxy,
 *     control API), nonsecure cluster: SRTP toward the phone, RTP toward UCM, a media session
 *     allocated and programmed per call. Started SIP_STARTS times to measure the first call
 *     after start; then warm sequential calls and concurrent phones on the last start.
 *   - pipe: node:tls server → node:net, bytes piped both ways (no SIP at all): what Node's TLS
 *     and sockets cost by themselves.
 *   - kamailio (when installed): record-routing TLS↔TCP proxy, no media (bench/sip/kamailio.ts).
 *   - kamailio+rtpengine (when both are installed): the same proxy with rtpengine_offer/answer/
 *     delete toward an rtpengine-daemon in userspace (bench/sip/rtpengine.ts): SRTP/SDES toward the
 *     phone, RTP toward UCM, 4 ports per call. Its SDP rewrite is checked (bench/sip/sdp-check.ts),
 *     as the appliance's is: a lane that does not terminate the media fails the run.
 * CPU per call: process.cpuUsage() of the Node children (all threads), /proc schedstat of
 * Kamailio's processes and rtpengine's threads (and of the children too, as a cross-check).
 * Env: SIP_CALLS (500 sequential warm calls, after SIP_PRIME_CALLS = 300 unmeasured), SIP_STARTS (3), SIP_PHONES (8 concurrent phones),
 * SIP_CONCURRENT_CALLS (200 in all), SIP_CPU_PROF (directory: --cpu-prof of the appliance),
 * SIP_NODE_OPTIONS (more node flags for the appliance child), SIP_KEEP (keep the temp dir and logs),
 * SIP_TIDS (CPU by thread id instead of main/other).
 * Last stdout line: one JSON object with the headline figures; bench/results/sip.md is rewritten.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import tls from 'node:tls';
import { startDaemon } from '../src/daemon';
import { createCertificate, generateRsaKey } from '../src/pki/x509';
import { mergeCpu, type ProcCpu, perCallByThread, procCpu } from './sip/cpu';
import { KamailioRelay, kamailioAvailable, kamailioVersion } from './sip/kamailio';
import { type CallFigures, MESSAGES, ScriptedPhone, ScriptedUcm, Stamps } from './sip/peers';
import { RtpEngine, rtpengineAvailable, rtpengineVersion } from './sip/rtpengine';
import { checkMediaRewrite, type RewriteCheck } from './sip/sdp-check';

const CALLS = Number(process.env.SIP_CALLS ?? 500);
const STARTS = Number(process.env.SIP_STARTS ?? 3);
const PHONES = Number(process.env.SIP_PHONES ?? 8);
const CONCURRENT_CALLS = Number(process.env.SIP_CONCURRENT_CALLS ?? 200);
/** Warm calls before the measured ones, not counted: V8 needs a few hundred calls to optimise
 *  the signaling path (at 200 calls the CPU per call was still ~2× its value at 1500). */
const PRIME_CALLS = Number(process.env.SIP_PRIME_CALLS ?? 300);
const TIMEOUT_MS = 5000;
/** The interleaved phase: rounds, each lane's calls per round (0 rounds: no such phase). */
const ROUNDS = Number(process.env.SIP_ROUNDS ?? 6);
const ROUND_CALLS = Number(process.env.SIP_ROUND_CALLS ?? 300);
const ROOT = path.resolve(__dirname, '../..');

const OUTSIDE = '127.0.71.1';
const INSIDE = '127.0.72.1';
const PHONE_ADDRESS = '127.0.71.50';
const UCM = { address: '127.0.72.20', port: 27060 };
const UCM_MEDIA = { address: '127.0.72.30', port: 31000 };
const PIPE = { address: '127.0.73.1', port: 27061 };
const KAMAILIO = { address: '127.0.74.1', tlsPort: 27061, tcpPort: 27060 };
/** The Kamailio + rtpengine lane: its own SIP address (no wait for the first lane's sockets). */
const KAMAILIO_RTPE_ADDRESS = '127.0.77.1';
/** rtpengine: ng control and media ports from this bench's range (65200-65299), own addresses. */
const RTPENGINE = {
  ng: { address: '127.0.75.1', port: 65200 },
  outside: '127.0.75.10',
  inside: '127.0.76.10',
  minPort: 65202,
  maxPort: 65299,
};
const SIP_TLS_PORT = 27061;

// ---------------------------------------------------------------- children

interface ApplianceChildArgs {
  policyFile: string;
  stateDir: string;
  warmup: boolean;
}

interface PipeChildArgs {
  cert: string;
  key: string;
  ca: string;
}

type ChildReply = { ready: true; startMs: number } | { cpu: NodeJS.CpuUsage };

function answerCpu(stop: () => Promise<void>): void {
  process.on('message', (m: string) => {
    if (m === 'cpu') process.send?.({ cpu: process.cpuUsage() });
    else if (m === 'stop') {
      stop().then(
        () => process.exit(0),
        () => process.exit(1),
      );
    }
  });
}

async function applianceChild(a: ApplianceChildArgs): Promise<void> {
  const t0 = performance.now();
  // `warmup: false` measures the first call the way it was before src/warmup.ts.
  const opts: Parameters<typeof startDaemon>[0] & { warmup?: boolean } = {
    policyFile: a.policyFile,
    stateDir: a.stateDir,
    warmup: a.warmup,
  };
  const daemon = await startDaemon(opts);
  answerCpu(() => daemon.stop());
  process.send?.({ ready: true, startMs: performance.now() - t0 });
}

async function pipeChild(a: PipeChildArgs): Promise<void> {
  const socks = new Set<net.Socket>();
  const server = tls.createServer(
    { cert: a.cert, key: a.key, ca: [a.ca], requestCert: true, rejectUnauthorized: true, noDelay: true },
    (phone) => {
      const up = net.connect({ host: UCM.address, port: UCM.port, noDelay: true });
      for (const s of [phone, up]) {
        socks.add(s);
        s.on('error', () => undefined);
        s.on('close', () => {
          phone.destroy();
          up.destroy();
          socks.delete(s);
        });
      }
      phone.pipe(up);
      up.pipe(phone);
    },
  );
  await new Promise<void>((r) => server.listen(PIPE.port, PIPE.address, () => r()));
  answerCpu(async () => {
    for (const s of socks) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  });
  process.send?.({ ready: true, startMs: 0 });
}

/** A relay child process: ready, CPU on request, stop. */
class Child {
  private replies: ((m: ChildReply) => void)[] = [];
  readonly ready: Promise<{ startMs: number }>;

  constructor(
    readonly proc: ChildProcess,
    what: string,
  ) {
    this.ready = new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what} did not start within 60 s`)), 60_000);
      proc.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited (${code}) before it was ready`));
      });
      proc.on('message', (m: ChildReply) => {
        if ('ready' in m) {
          clearTimeout(timer);
          resolve({ startMs: m.startMs });
        } else this.replies.shift()?.(m);
      });
    });
  }

  static fork(mode: string, args: unknown, logFile: string, execArgv: string[] = []): Child {
    const fd = openSync(logFile, 'a');
    const proc = fork(__filename, [mode, JSON.stringify(args)], {
      stdio: ['ignore', fd, fd, 'ipc'],
      execArgv,
    });
    closeSync(fd);
    return new Child(proc, mode);
  }

  /** CPU (user and system µs, every thread) since the child started. */
  cpu(): Promise<NodeJS.CpuUsage> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('no CPU reply within 5 s')), 5000);
      this.replies.push((m) => {
        clearTimeout(timer);
        if ('cpu' in m) resolve(m.cpu);
      });
      this.proc.send('cpu');
    });
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null) return;
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()));
    this.proc.send('stop');
    const t = setTimeout(() => this.proc.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  }
}

// ---------------------------------------------------------------- statistics

function quantile(xs: number[], q: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] as number;
}
const median = (xs: number[]) => quantile(xs, 0.5);
const p95 = (xs: number[]) => quantile(xs, 0.95);
const r3 = (x: number) => Math.round(x * 1000) / 1000;

interface Summary {
  n: number;
  setup: { p50: number; p95: number };
  hold: { p50: number; p95: number };
  transit: Record<string, { p50: number; p95: number; max: number }>;
  /** Transits over 30 ms: what Nagle + delayed ACK (~40 ms) would show. */
  over30ms: number;
}

function summarize(calls: CallFigures[]): Summary {
  const transit: Summary['transit'] = {};
  let over30ms = 0;
  for (const m of MESSAGES) {
    const xs = calls.map((c) => c.transit[m] as number);
    over30ms += xs.filter((x) => x > 30).length;
    transit[m] = { p50: r3(median(xs)), p95: r3(p95(xs)), max: r3(quantile(xs, 1)) };
  }
  const setups = calls.map((c) => c.setup);
  const holds = calls.map((c) => c.hold);
  return {
    n: calls.length,
    setup: { p50: r3(median(setups)), p95: r3(p95(setups)) },
    hold: { p50: r3(median(holds)), p95: r3(p95(holds)) },
    transit,
    over30ms,
  };
}

// ---------------------------------------------------------------- runs

interface Target {
  name: string;
  host: string;
  port: number;
  /** µs of CPU of the relay so far. */
  cpu(): Promise<{ micros: number; systemMicros: number; proc: ProcCpu }>;
}

interface FirstCall {
  startMs: number;
  tlsConnectMs: number;
  registerMs: number;
  first: CallFigures;
  second: CallFigures;
}

interface Phase {
  summary: Summary;
  cpuMicrosPerCall: number;
  schedMicrosPerCall: number;
  /** Share of the CPU time spent in the kernel (system time). */
  systemShare: number;
  /** schedstat µs per call by thread name. */
  threads: Record<string, number>;
  wallMs: number;
  callsPerSecond: number;
}

const stamps = new Stamps();
/** The SDP answer the last first-calls phone received (checked for a media rewrite). */
let lastAnswer = '';

interface KamLane {
  first: FirstCall;
  seq: Phase;
  conc: Phase;
  rewrite: RewriteCheck;
  /** CPU with no calls, µs per second (included in the per-call figures at the calls' wall time). */
  idleMicrosPerSecond: number;
  version: string;
}

interface Creds {
  ca: { certPem: string; keyPem: string };
  phones: { certPem: string; keyPem: string }[];
  server: { certPem: string; keyPem: string };
}

function phoneFor(t: Target, creds: Creds, index: number, name: string): Promise<ScriptedPhone> {
  const cred = creds.phones[index % creds.phones.length] as { certPem: string; keyPem: string };
  return ScriptedPhone.connect(
    {
      host: t.host,
      port: t.port,
      localAddress: PHONE_ADDRESS,
      cert: cred.certPem,
      key: cred.keyPem,
      name,
      timeoutMs: TIMEOUT_MS,
    },
    stamps,
  );
}

async function firstCalls(t: Target, creds: Creds, startMs: number, tag: string): Promise<FirstCall> {
  stamps.clear();
  const c0 = performance.now();
  const phone = await phoneFor(t, creds, 0, `${t.name}-${tag}`);
  const tlsConnectMs = performance.now() - c0;
  const reg = await phone.register();
  const registerMs = stamps.transit(`${reg}|1|REGISTER`) ?? Number.NaN;
  const first = (await phone.call()).figures();
  const second = (await phone.call()).figures();
  lastAnswer = phone.lastAnswer;
  phone.close();
  return { startMs, tlsConnectMs, registerMs, first, second };
}

async function sequential(t: Target, creds: Creds, n: number): Promise<Phase> {
  stamps.clear();
  const phone = await phoneFor(t, creds, 0, `${t.name}-seq`);
  await phone.register();
  for (let i = 0; i < PRIME_CALLS; i++) await phone.call();
  stamps.clear();
  const cpu0 = await t.cpu();
  const w0 = performance.now();
  const calls: CallFigures[] = [];
  for (let i = 0; i < n; i++) calls.push((await phone.call()).figures());
  const wallMs = performance.now() - w0;
  const cpu1 = await t.cpu();
  phone.close();
  return {
    summary: summarize(calls),
    ...cpuFigures(cpu0, cpu1, n),
    wallMs: r3(wallMs),
    callsPerSecond: r3((n / wallMs) * 1000),
  };
}

async function concurrent(t: Target, creds: Creds, phones: number, total: number): Promise<Phase> {
  stamps.clear();
  const ps = await Promise.all(Array.from({ length: phones }, (_, i) => phoneFor(t, creds, i, `${t.name}-c${i}`)));
  for (const p of ps) await p.register();
  await Promise.all(ps.map((p) => p.call()));
  stamps.clear();
  const per = Math.ceil(total / phones);
  const cpu0 = await t.cpu();
  const w0 = performance.now();
  const calls: CallFigures[] = [];
  await Promise.all(
    ps.map(async (p) => {
      for (let i = 0; i < per; i++) calls.push((await p.call()).figures());
    }),
  );
  const wallMs = performance.now() - w0;
  const cpu1 = await t.cpu();
  for (const p of ps) p.close();
  return {
    summary: summarize(calls),
    ...cpuFigures(cpu0, cpu1, calls.length),
    wallMs: r3(wallMs),
    callsPerSecond: r3((calls.length / wallMs) * 1000),
  };
}

type Cpu = Awaited<ReturnType<Target['cpu']>>;

function cpuFigures(a: Cpu, b: Cpu, calls: number) {
  return {
    cpuMicrosPerCall: r3((b.micros - a.micros) / calls),
    schedMicrosPerCall: r3((b.proc.schedMicros - a.proc.schedMicros) / calls),
    systemShare: r3((b.systemMicros - a.systemMicros) / Math.max(1, b.micros - a.micros)),
    threads: perCallByThread(a.proc, b.proc, calls),
  };
}

function childTarget(name: string, host: string, port: number, child: Child): Target {
  return {
    name,
    host,
    port,
    cpu: async () => {
      const c = await child.cpu();
      return { micros: c.user + c.system, systemMicros: c.system, proc: procCpu([child.proc.pid as number]) };
    },
  };
}

// ---------------------------------------------------------------- setup

async function makeCreds(): Promise<Creds> {
  const keys = await Promise.all(Array.from({ length: PHONES + 2 }, () => generateRsaKey(2048)));
  const caKey = keys[0] as string;
  const ca = {
    certPem: createCertificate({ subject: 'CN=Bench Manufacturing CA,O=bench', subjectKeyPem: caKey, ca: true }),
    keyPem: caKey,
  };
  const phones = keys.slice(2).map((k, i) => ({
    certPem: createCertificate({
      subject: `CN=CP-8865-SEP00BE0000${(0x10 + i).toString(16).toUpperCase().padStart(4, '0')},O=Cisco Systems Inc.`,
      subjectKeyPem: k,
      issuer: ca,
    }),
    keyPem: k,
  }));
  const serverKey = keys[1] as string;
  const server = {
    certPem: createCertificate({ subject: 'CN=bench relay,O=bench', subjectKeyPem: serverKey }),
    keyPem: serverKey,
  };
  return { ca, phones, server };
}

function policy(): string {
  return `
interfaces:
  - { name: outside, address: ${OUTSIDE}/24, role: outside }
  - { name: inside, address: ${INSIDE}/24, role: inside }
cluster:
  mode: nonsecure
  members:
    - { name: cucm1, address: ${UCM.address}, interface: inside, sip-port: ${UCM.port}, sccp-port: 27000 }
tftp-server: { address: ${UCM.address}, interface: inside, port: 27069 }
media-termination:
  addresses:
    - { interface: outside, address: 127.0.71.10 }
    - { interface: inside, address: 127.0.72.10 }
  rtp-min-port: 61000
  rtp-max-port: 65499
trustpoints:
  - { name: pp-server, enroll: self, subject: "CN=phone-proxy,O=bench" }
  - { name: ldc-issuer, enroll: local-ca, subject: "CN=LDC issuer,O=bench" }
  - { name: phone-ca, certificate: phone-ca.pem }
ctl-file:
  records:
    - { function: cucm-tftp, trustpoint: pp-server, address: ${OUTSIDE} }
tls-proxy:
  server-trustpoint: pp-server
  ldc-issuer: ldc-issuer
  client-trustpoints: [phone-ca]
listen: { tftp: 27069, sip-tls: ${SIP_TLS_PORT}, sccp-tls: 27443 }
`;
}

// ---------------------------------------------------------------- report

function machine(): string {
  const cpu = os.cpus()[0]?.model ?? 'unknown';
  const load = os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(' ');
  return `${os.availableParallelism()} cores (nproc), ${cpu}, Node ${process.version}, Linux ${os.release()}, load average ${load}`;
}

function fmt(x: number): string {
  return Number.isFinite(x) ? x.toFixed(3) : '-';
}

function transitTable(rows: [string, Summary][]): string[] {
  const head = `| message | ${rows.map(([n]) => `${n} p50 / p95 / max`).join(' | ')} |`;
  const sep = `|---|${rows.map(() => '---:').join('|')}|`;
  const lines = [head, sep];
  for (const m of MESSAGES) {
    lines.push(
      `| ${m} | ${rows
        .map(([, s]) => {
          const t = s.transit[m];
          return t ? `${fmt(t.p50)} / ${fmt(t.p95)} / ${fmt(t.max)}` : '-';
        })
        .join(' | ')} |`,
    );
  }
  lines.push(
    `| set-up INVITE→200 at the phone | ${rows.map(([, s]) => `${fmt(s.setup.p50)} / ${fmt(s.setup.p95)}`).join(' | ')} |`,
  );
  lines.push(
    `| hold re-INVITE→200 at the phone | ${rows.map(([, s]) => `${fmt(s.hold.p50)} / ${fmt(s.hold.p95)}`).join(' | ')} |`,
  );
  lines.push(`| transits > 30 ms | ${rows.map(([, s]) => String(s.over30ms)).join(' | ')} |`);
  return lines;
}

function firstTable(label: string, fs: FirstCall[]): string[] {
  return fs.map(
    (f, i) =>
      `| ${label} #${i + 1} | ${fmt(f.startMs)} | ${fmt(f.tlsConnectMs)} | ${fmt(f.registerMs)} | ${fmt(f.first.transit.INVITE as number)} | ${fmt(f.first.transit['200'] as number)} | ${fmt(f.first.setup)} | ${fmt(f.second.transit.INVITE as number)} | ${fmt(f.second.setup)} |`,
  );
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  const started = new Date();
  const loadStart = os.loadavg()[0] ?? 0;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-bench-sip-'));
  const log = (s: string) => process.stdout.write(`${s}\n`);
  const ucm = new ScriptedUcm({ ...UCM, mediaAddress: UCM_MEDIA.address, mediaPort: UCM_MEDIA.port }, stamps);
  const children: Child[] = [];
  /** Relays to stop however the run ends. */
  const stoppers = new Set<() => Promise<void>>();
  // What the last call's SDP looked like at each end.
  const mediaCheck = () =>
    checkMediaRewrite({
      phone: { address: PHONE_ADDRESS, port: Number.NaN },
      ucmMedia: UCM_MEDIA,
      offerAtUcm: ucm.lastOffer,
      answerAtPhone: lastAnswer,
    });
  try {
    const creds = await makeCreds();
    const policyFile = path.join(dir, 'policy.yaml');
    writeFileSync(policyFile, policy());
    writeFileSync(path.join(dir, 'phone-ca.pem'), creds.ca.certPem);
    const stateDir = path.join(dir, 'state');
    await ucm.start();
    const prof = process.env.SIP_CPU_PROF;
    const execArgv = [
      ...(prof ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof)}`] : []),
      // Diagnostics such as --trace-gc; the log is the child's stdout/stderr file (SIP_KEEP=1).
      ...(process.env.SIP_NODE_OPTIONS ?? '').split(' ').filter(Boolean),
    ];

    // 1. Appliance: first call after start, without and with the warm-up; then warm phases.
    const startAppliance = async (warmup: boolean) => {
      const child = Child.fork(
        '--appliance-child',
        { policyFile, stateDir, warmup } satisfies ApplianceChildArgs,
        path.join(dir, 'appliance.log'),
        execArgv,
      );
      children.push(child);
      const { startMs } = await child.ready;
      return { child, startMs, target: childTarget('appliance', OUTSIDE, SIP_TLS_PORT, child) };
    };
    // State (keys, certificates) is generated by the first start: not part of any figure.
    {
      const { child } = await startAppliance(true);
      await child.stop();
    }
    let applianceRewrite: RewriteCheck | undefined;
    const cold: FirstCall[] = [];
    const warmed: FirstCall[] = [];
    let seqAppliance: Phase | undefined;
    let concAppliance: Phase | undefined;
    for (let s = 0; s < STARTS; s++) {
      for (const warmup of [false, true]) {
        const a = await startAppliance(warmup);
        const f = await firstCalls(a.target, creds, a.startMs, `${warmup ? 'w' : 'c'}${s}`);
        applianceRewrite = mediaCheck();
        if (!applianceRewrite.terminated)
          throw new Error(`the appliance did not terminate the media: ${applianceRewrite.problems.join('; ')}`);
        (warmup ? warmed : cold).push(f);
        log(
          `appliance start ${s + 1} warm-up ${warmup ? 'on ' : 'off'}: started in ${fmt(a.startMs)} ms; first INVITE ${fmt(f.first.transit.INVITE as number)} ms, 200 ${fmt(f.first.transit['200'] as number)} ms, set-up ${fmt(f.first.setup)} ms; second INVITE ${fmt(f.second.transit.INVITE as number)} ms`,
        );
        if (warmup && s === STARTS - 1) {
          seqAppliance = await sequential(a.target, creds, CALLS);
          log(`appliance sequential: ${JSON.stringify(seqAppliance)}`);
          concAppliance = await concurrent(a.target, creds, PHONES, CONCURRENT_CALLS);
          log(`appliance concurrent: ${JSON.stringify(concAppliance)}`);
        }
        await a.child.stop();
      }
    }

    // 2. Plain Node TLS↔TCP pipe.
    const pipeChildProc = Child.fork(
      '--pipe-child',
      { cert: creds.server.certPem, key: creds.server.keyPem, ca: creds.ca.certPem } satisfies PipeChildArgs,
      path.join(dir, 'pipe.log'),
    );
    children.push(pipeChildProc);
    await pipeChildProc.ready;
    const pipeTarget = childTarget('pipe', PIPE.address, PIPE.port, pipeChildProc);
    const pipeFirst = await firstCalls(pipeTarget, creds, 0, 'p');
    const seqPipe = await sequential(pipeTarget, creds, CALLS);
    log(`pipe sequential: ${JSON.stringify(seqPipe)}`);
    const concPipe = await concurrent(pipeTarget, creds, PHONES, CONCURRENT_CALLS);
    log(`pipe concurrent: ${JSON.stringify(concPipe)}`);
    await pipeChildProc.stop();

    // 3. Kamailio TLS↔TCP relay, signaling only; 4. the same with rtpengine (the media too).
    /** A Kamailio relay (with its rtpengine for the media lane) up, as a target; stop() ends both. */
    const startKamailio = async (name: string, address: string, withMedia: boolean) => {
      const kdir = path.join(dir, name);
      mkdirSync(kdir, { recursive: true });
      const file = (n: string, s: string) => {
        writeFileSync(path.join(kdir, n), s);
        return path.join(kdir, n);
      };
      const engine = withMedia ? await RtpEngine.start({ ...RTPENGINE, ng: RTPENGINE.ng }) : undefined;
      if (engine) stoppers.add(() => engine.stop());
      const k = await KamailioRelay.start({
        dir: kdir,
        address,
        tlsPort: KAMAILIO.tlsPort,
        tcpPort: KAMAILIO.tcpPort,
        ucm: UCM,
        certFile: file('server.crt', creds.server.certPem),
        keyFile: file('server.key', creds.server.keyPem),
        caFile: file('ca.crt', creds.ca.certPem),
        ...(withMedia ? { rtpengine: RTPENGINE.ng } : {}),
      });
      const stop = async () => {
        await k.stop();
        await engine?.stop();
      };
      stoppers.add(stop);
      const target: Target = {
        name,
        host: address,
        port: KAMAILIO.tlsPort,
        cpu: async () => {
          const c = mergeCpu([
            { cpu: procCpu(k.pids()) },
            ...(engine ? [{ label: 'rtpengine', cpu: procCpu(engine.pids()) }] : []),
          ]);
          // schedstat (ns) is the figure: stat ticks are 10 ms; the system share comes from them.
          return {
            micros: c.schedMicros,
            systemMicros: (c.statSystemMicros / Math.max(1, c.statMicros)) * c.schedMicros,
            proc: c,
          };
        },
      };
      const logs = () =>
        `${name} log tail:\n${k.log().slice(-3000)}${engine ? `\nrtpengine log tail:\n${engine.log().slice(-3000)}` : ''}`;
      return { target, stop, logs };
    };
    const kamailioLane = async (name: string, address: string, withMedia: boolean): Promise<KamLane | undefined> => {
      const { target: kt, stop, logs } = await startKamailio(name, address, withMedia);
      try {
        const first = await firstCalls(kt, creds, 0, name);
        // What the relay burns with no calls (timer processes and threads tick), started and settled: µs per second.
        await new Promise((r) => setTimeout(r, 200));
        const idle0 = await kt.cpu();
        await new Promise((r) => setTimeout(r, 1000));
        const idleMicrosPerSecond = r3((await kt.cpu()).micros - idle0.micros);
        log(`${name} idle: ${idleMicrosPerSecond} µs of CPU per second`);
        const rewrite = mediaCheck();
        log(`${name} SDP: ${rewrite.seen}`);
        if (withMedia && !rewrite.terminated)
          throw new Error(`${name} did not terminate the media: ${rewrite.problems.join('; ')}`);
        const seq = await sequential(kt, creds, CALLS);
        log(`${name} sequential: ${JSON.stringify(seq)}`);
        const conc = await concurrent(kt, creds, PHONES, CONCURRENT_CALLS);
        log(`${name} concurrent: ${JSON.stringify(conc)}`);
        return { first, seq, conc, rewrite, idleMicrosPerSecond, version: kamailioVersion() };
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${logs()}`);
      } finally {
        await stop();
        stoppers.delete(stop);
      }
    };
    let kam: KamLane | undefined;
    let kamRtpe: KamLane | undefined;
    if (kamailioAvailable()) {
      kam = await kamailioLane('kamailio', KAMAILIO.address, false);
      if (rtpengineAvailable()) kamRtpe = await kamailioLane('kamailio-rtpengine', KAMAILIO_RTPE_ADDRESS, true);
      else log("rtpengine (with kamailio's rtpengine.so) is not installed: no Kamailio + rtpengine lane in this run");
    } else {
      log('kamailio (with tls.so) is not installed: no Kamailio reference in this run');
    }

    // 5. Interleaved: the relays up together, taking turns in rounds of sequential calls (the
    //    first lane rotating), so load from elsewhere on a shared machine falls on each alike:
    //    the CPU ratios to read. Each lane's phone is primed first, as in the sequential phase.
    interface Turn {
      name: string;
      target: Target;
      phone?: ScriptedPhone;
      micros: number;
      calls: number;
      perRound: number[];
    }
    let turns: Turn[] = [];
    if (ROUNDS > 0 && kam) {
      const a = await startAppliance(true);
      turns.push({ name: 'appliance', target: a.target, micros: 0, calls: 0, perRound: [] });
      const k = await startKamailio('kamailio-turns', KAMAILIO.address, false);
      turns.push({ name: 'kamailio', target: k.target, micros: 0, calls: 0, perRound: [] });
      const kr = kamRtpe ? await startKamailio('kamailio-rtpengine-turns', KAMAILIO_RTPE_ADDRESS, true) : undefined;
      if (kr) turns.push({ name: 'kamailio+rtpengine', target: kr.target, micros: 0, calls: 0, perRound: [] });
      try {
        for (const t of turns) {
          stamps.clear();
          const phone = await phoneFor(t.target, creds, 0, `${t.name}-turns`);
          t.phone = phone;
          await phone.register();
          for (let i = 0; i < PRIME_CALLS; i++) await phone.call();
        }
        for (let r = 0; r < ROUNDS; r++) {
          for (let j = 0; j < turns.length; j++) {
            const t = turns[(r + j) % turns.length] as Turn;
            const phone = t.phone as ScriptedPhone;
            stamps.clear();
            const c0 = await t.target.cpu();
            for (let i = 0; i < ROUND_CALLS; i++) await phone.call();
            const c1 = await t.target.cpu();
            t.micros += c1.micros - c0.micros;
            t.calls += ROUND_CALLS;
            t.perRound[r] = r3((c1.micros - c0.micros) / ROUND_CALLS);
          }
          log(`turns round ${r + 1}: ${turns.map((t) => `${t.name} ${t.perRound[r]} µs/call`).join(', ')}`);
        }
      } catch (err) {
        throw new Error(`${(err as Error).message}\n${k.logs()}${kr ? `\n${kr.logs()}` : ''}`);
      } finally {
        for (const t of turns) t.phone?.close();
        await a.child.stop();
        await k.stop();
        await kr?.stop();
      }
    } else turns = [];
    const turn = (name: string) => turns.find((t) => t.name === name);
    /** Same-round ratios of the appliance to a lane: median, lowest, highest. */
    const roundRatios = (name: string) => {
      const a = turn('appliance');
      const b = turn(name);
      if (!a || !b) return undefined;
      const rs = a.perRound.map((x, i) => x / (b.perRound[i] as number));
      return { median: r3(median(rs)), min: r3(Math.min(...rs)), max: r3(Math.max(...rs)) };
    };
    const perCall = (name: string) => {
      const t = turn(name);
      return t && t.calls > 0 ? r3(t.micros / t.calls) : null;
    };

    if (!seqAppliance || !concAppliance) throw new Error('no warm appliance phase');
    const sa = seqAppliance;
    const ca = concAppliance;
    const firstInv = (fs: FirstCall[]) => fs.map((f) => f.first.transit.INVITE as number);
    const first200 = (fs: FirstCall[]) => fs.map((f) => f.first.transit['200'] as number);
    const firstSetup = (fs: FirstCall[]) => fs.map((f) => f.first.setup);
    // Kamailio's CPU by schedstat (ns) — its stat ticks are 10 ms coarse; the appliance's by cpuUsage.
    const kamCpu = kam ? kam.seq.cpuMicrosPerCall : Number.NaN;
    const kr = kamRtpe;
    // rtpengine's own part of the lane's CPU (schedstat by thread name).
    const rtpeShare = (p: Phase) =>
      r3(
        Object.entries(p.threads)
          .filter(([k]) => k.startsWith('rtpengine/'))
          .reduce((n, [, v]) => n + v, 0),
      );
    const kamCpuConc = kam ? kam.conc.cpuMicrosPerCall : Number.NaN;
    const ratio = (a: number, b: number) => (Number.isFinite(a) && Number.isFinite(b) && b > 0 ? r3(a / b) : null);
    const headline = {
      calls: CALLS,
      starts: STARTS,
      phones: PHONES,
      concurrent_calls: ca.summary.n,
      appliance_invite_ms_p50: sa.summary.transit.INVITE?.p50,
      appliance_invite_ms_p95: sa.summary.transit.INVITE?.p95,
      appliance_200_ms_p50: sa.summary.transit['200']?.p50,
      appliance_200_ms_p95: sa.summary.transit['200']?.p95,
      appliance_setup_ms_p50: sa.summary.setup.p50,
      appliance_setup_ms_p95: sa.summary.setup.p95,
      appliance_hold_ms_p50: sa.summary.hold.p50,
      appliance_hold_ms_p95: sa.summary.hold.p95,
      appliance_first_invite_ms: r3(median(firstInv(warmed))),
      appliance_first_invite_ms_max: r3(quantile(firstInv(warmed), 1)),
      appliance_first_200_ms: r3(median(first200(warmed))),
      appliance_first_setup_ms: r3(median(firstSetup(warmed))),
      appliance_first_invite_ms_no_warmup: r3(median(firstInv(cold))),
      appliance_first_200_ms_no_warmup: r3(median(first200(cold))),
      appliance_first_setup_ms_no_warmup: r3(median(firstSetup(cold))),
      appliance_start_ms: r3(median(warmed.map((f) => f.startMs))),
      appliance_start_ms_no_warmup: r3(median(cold.map((f) => f.startMs))),
      appliance_cpu_us_per_call: sa.cpuMicrosPerCall,
      appliance_cpu_us_per_call_concurrent: ca.cpuMicrosPerCall,
      appliance_concurrent_setup_ms_p50: ca.summary.setup.p50,
      appliance_concurrent_setup_ms_p95: ca.summary.setup.p95,
      appliance_concurrent_calls_per_s: ca.callsPerSecond,
      appliance_transits_over_30ms: sa.summary.over30ms + ca.summary.over30ms,
      pipe_invite_ms_p50: seqPipe.summary.transit.INVITE?.p50,
      pipe_200_ms_p50: seqPipe.summary.transit['200']?.p50,
      pipe_setup_ms_p50: seqPipe.summary.setup.p50,
      pipe_cpu_us_per_call: seqPipe.cpuMicrosPerCall,
      kamailio_invite_ms_p50: kam?.seq.summary.transit.INVITE?.p50 ?? null,
      kamailio_200_ms_p50: kam?.seq.summary.transit['200']?.p50 ?? null,
      kamailio_setup_ms_p50: kam?.seq.summary.setup.p50 ?? null,
      kamailio_setup_ms_p95: kam?.seq.summary.setup.p95 ?? null,
      kamailio_hold_ms_p50: kam?.seq.summary.hold.p50 ?? null,
      kamailio_first_invite_ms: kam ? r3(kam.first.first.transit.INVITE as number) : null,
      kamailio_cpu_us_per_call: kam ? kamCpu : null,
      kamailio_cpu_us_per_call_concurrent: kam ? kamCpuConc : null,
      kamailio_concurrent_setup_ms_p50: kam?.conc.summary.setup.p50 ?? null,
      kamailio_concurrent_calls_per_s: kam?.conc.callsPerSecond ?? null,
      ratio_invite_vs_kamailio: ratio(
        sa.summary.transit.INVITE?.p50 as number,
        kam?.seq.summary.transit.INVITE?.p50 as number,
      ),
      ratio_200_vs_kamailio: ratio(
        sa.summary.transit['200']?.p50 as number,
        kam?.seq.summary.transit['200']?.p50 as number,
      ),
      ratio_setup_vs_kamailio: ratio(sa.summary.setup.p50, kam?.seq.summary.setup.p50 as number),
      ratio_cpu_vs_kamailio: ratio(sa.cpuMicrosPerCall, kamCpu),
      ratio_cpu_vs_kamailio_concurrent: ratio(ca.cpuMicrosPerCall, kamCpuConc),
      kamailio_rtpengine_invite_ms_p50: kr?.seq.summary.transit.INVITE?.p50 ?? null,
      kamailio_rtpengine_200_ms_p50: kr?.seq.summary.transit['200']?.p50 ?? null,
      kamailio_rtpengine_setup_ms_p50: kr?.seq.summary.setup.p50 ?? null,
      kamailio_rtpengine_setup_ms_p95: kr?.seq.summary.setup.p95 ?? null,
      kamailio_rtpengine_hold_ms_p50: kr?.seq.summary.hold.p50 ?? null,
      kamailio_rtpengine_cpu_us_per_call: kr ? kr.seq.cpuMicrosPerCall : null,
      kamailio_rtpengine_cpu_us_per_call_rtpengine: kr ? (rtpeShare(kr.seq) ?? null) : null,
      kamailio_rtpengine_cpu_us_per_call_concurrent: kr ? kr.conc.cpuMicrosPerCall : null,
      kamailio_rtpengine_concurrent_setup_ms_p50: kr?.conc.summary.setup.p50 ?? null,
      kamailio_rtpengine_sdp_rewritten: kr ? kr.rewrite.terminated : null,
      turns_rounds: turns.length > 0 ? ROUNDS : 0,
      turns_calls_per_round: ROUND_CALLS,
      turns_appliance_cpu_us_per_call: perCall('appliance'),
      turns_kamailio_cpu_us_per_call: perCall('kamailio'),
      turns_kamailio_rtpengine_cpu_us_per_call: perCall('kamailio+rtpengine'),
      turns_ratio_cpu_vs_kamailio: ratio(perCall('appliance') as number, perCall('kamailio') as number),
      turns_ratio_cpu_vs_kamailio_rounds: roundRatios('kamailio') ?? null,
      turns_ratio_cpu_vs_kamailio_rtpengine: ratio(
        perCall('appliance') as number,
        perCall('kamailio+rtpengine') as number,
      ),
      turns_ratio_cpu_vs_kamailio_rtpengine_rounds: roundRatios('kamailio+rtpengine') ?? null,
      kamailio_idle_us_per_s: kam?.idleMicrosPerSecond ?? null,
      kamailio_rtpengine_idle_us_per_s: kr?.idleMicrosPerSecond ?? null,
      ratio_setup_vs_kamailio_rtpengine: ratio(sa.summary.setup.p50, kr?.seq.summary.setup.p50 as number),
      ratio_cpu_vs_kamailio_rtpengine: ratio(sa.cpuMicrosPerCall, kr?.seq.cpuMicrosPerCall as number),
      ratio_cpu_vs_kamailio_rtpengine_concurrent: ratio(ca.cpuMicrosPerCall, kr?.conc.cpuMicrosPerCall as number),
    };

    const rows: [string, Summary][] = [
      ['appliance', sa.summary],
      ['pipe', seqPipe.summary],
      ...(kam ? ([['kamailio', kam.seq.summary]] as [string, Summary][]) : []),
      ...(kr ? ([['kamailio+rtpengine', kr.seq.summary]] as [string, Summary][]) : []),
    ];
    const concRows: [string, Summary][] = [
      ['appliance', ca.summary],
      ['pipe', concPipe.summary],
      ...(kam ? ([['kamailio', kam.conc.summary]] as [string, Summary][]) : []),
      ...(kr ? ([['kamailio+rtpengine', kr.conc.summary]] as [string, Summary][]) : []),
    ];
    const threads = (t: Record<string, number>) =>
      Object.entries(t)
        .sort((a, b) => b[1] - a[1])
        .map(([k, v]) => `${k} ${v}`)
        .join(', ');
    const cpuRow = (name: string, seq: Phase, conc: Phase) =>
      `| ${name} | ${fmt(seq.cpuMicrosPerCall)} | ${fmt(seq.schedMicrosPerCall)} | ${Math.round(seq.systemShare * 100)} % | ${threads(seq.threads)} | ${fmt(conc.cpuMicrosPerCall)} | ${fmt(seq.callsPerSecond)} | ${fmt(conc.callsPerSecond)} |`;
    const md = [
      '# bench:sip — signaling latency and CPU (issue 13)',
      '',
      `Generated by \`npm run bench:sip\` (\`tsc -p bench && node dist-dev/bench/sip.js\`; env SIP_CALLS=${CALLS}, SIP_STARTS=${STARTS}, SIP_PHONES=${PHONES}, SIP_CONCURRENT_CALLS=${CONCURRENT_CALLS}), run under \`flock /tmp/pp-jest.lock\`.`,
      '',
      `- Date: ${started.toISOString()}`,
      `- Machine: ${machine()} (1-minute load average ${loadStart.toFixed(2)} at start); shared with other engineers' jobs, so tails are noisy`,
      `- Kamailio: ${kam ? `${kam.version}, TLS listener (client certificate required) ↔ TCP, record-routing, tm, 1 TCP worker, no media relay` : 'not installed'}`,
      `- Kamailio + rtpengine: ${kr ? `the same Kamailio with its rtpengine module (ng over UDP loopback) and ${rtpengineVersion()} in userspace (--table=-1, 1 worker thread, --delete-delay=0, log level 4): rtpengine_offer on every INVITE with SDP (RTP/SAVP+SDES from the phone → RTP/AVP toward UCM), rtpengine_answer on its 200, rtpengine_delete on BYE; 4 UDP ports per call. CPU = Kamailio's processes + rtpengine's threads (schedstat)` : 'not run (rtpengine or its Kamailio module missing)'}`,
      `- SDP as delivered (last first-calls call): appliance — ${applianceRewrite?.seen ?? '-'}; kamailio — ${kam?.rewrite.seen ?? '-'}; kamailio+rtpengine — ${kr?.rewrite.seen ?? '-'}`,
      '- Peers (this process, one clock): scripted phone over mutual TLS (TLS 1.3, RSA 2048 client certificate from a bench CA), scripted UCM on TCP answering INVITE with 100/180/200 + SDP at once. Per call: INVITE → 100/180/200, ACK, re-INVITE (hold) → 200, ACK, BYE → 200.',
      '- Appliance: the real daemon (src/daemon.ts) in a child process, nonsecure cluster: per call a media session (SRTP outside, RTP inside) is allocated, both legs programmed, the SDP rewritten, the session released on BYE. Logging at the policy default (info), to a file.',
      '- pipe: node:tls server piping bytes to node:net (no SIP inspection, no media): the floor Node TLS + two loopback hops put under any Node relay.',
      `- Transit of a message = received at the far peer − written by the near peer (same clock): what the relay adds plus two loopback hops and the peers' own TLS work. Sequential: ${CALLS} calls on one phone after ${PRIME_CALLS} unmeasured; concurrent: ${PHONES} phones (own certificates) calling at once, ${ca.summary.n} calls.`,
      '- CPU per call: appliance and pipe by process.cpuUsage() (all threads, media workers included) with /proc schedstat as a cross-check; Kamailio by /proc/<pid>/task/*/schedstat summed over its processes (its /proc stat ticks are 10 ms coarse).',
      '',
      '## Headline',
      '',
      '| figure | appliance | pipe | kamailio | kamailio+rtpengine | appliance ÷ kamailio | appliance ÷ kamailio+rtpengine | target |',
      '|---|---:|---:|---:|---:|---:|---:|---|',
      `| INVITE transit p50 (ms) | ${fmt(headline.appliance_invite_ms_p50 as number)} | ${fmt(headline.pipe_invite_ms_p50 as number)} | ${fmt(headline.kamailio_invite_ms_p50 ?? Number.NaN)} | ${fmt(headline.kamailio_rtpengine_invite_ms_p50 ?? Number.NaN)} | ${headline.ratio_invite_vs_kamailio ?? '-'} | ${ratio(headline.appliance_invite_ms_p50 as number, headline.kamailio_rtpengine_invite_ms_p50 as number) ?? '-'} | |`,
      `| 200 OK transit p50 (ms) | ${fmt(headline.appliance_200_ms_p50 as number)} | ${fmt(headline.pipe_200_ms_p50 as number)} | ${fmt(headline.kamailio_200_ms_p50 ?? Number.NaN)} | ${fmt(headline.kamailio_rtpengine_200_ms_p50 ?? Number.NaN)} | ${headline.ratio_200_vs_kamailio ?? '-'} | ${ratio(headline.appliance_200_ms_p50 as number, headline.kamailio_rtpengine_200_ms_p50 as number) ?? '-'} | ≤ 1 ms warm |`,
      `| set-up INVITE→200 at the phone p50 (ms) | ${fmt(sa.summary.setup.p50)} | ${fmt(seqPipe.summary.setup.p50)} | ${fmt(kam?.seq.summary.setup.p50 ?? Number.NaN)} | ${fmt(kr?.seq.summary.setup.p50 ?? Number.NaN)} | ${headline.ratio_setup_vs_kamailio ?? '-'} | ${headline.ratio_setup_vs_kamailio_rtpengine ?? '-'} | |`,
      `| hold re-INVITE→200 p50 (ms) | ${fmt(sa.summary.hold.p50)} | ${fmt(seqPipe.summary.hold.p50)} | ${fmt(kam?.seq.summary.hold.p50 ?? Number.NaN)} | ${fmt(kr?.seq.summary.hold.p50 ?? Number.NaN)} | | | |`,
      `| first INVITE after start, transit (ms, median of ${STARTS}) | ${fmt(headline.appliance_first_invite_ms)} (no warm-up: ${fmt(headline.appliance_first_invite_ms_no_warmup)}) | ${fmt(pipeFirst.first.transit.INVITE as number)} | ${fmt(headline.kamailio_first_invite_ms ?? Number.NaN)} | ${fmt(kr ? (kr.first.first.transit.INVITE as number) : Number.NaN)} | | | ≤ 5 ms |`,
      `| CPU per call, sequential (µs) | ${fmt(sa.cpuMicrosPerCall)} | ${fmt(seqPipe.cpuMicrosPerCall)} | ${fmt(kamCpu)} | ${fmt(kr?.seq.cpuMicrosPerCall ?? Number.NaN)} (rtpengine ${fmt(kr ? rtpeShare(kr.seq) : Number.NaN)}) | ${headline.ratio_cpu_vs_kamailio ?? '-'} | ${headline.ratio_cpu_vs_kamailio_rtpengine ?? '-'} | ≤ 1.2× kamailio |`,
      `| CPU per call, lanes taking turns (µs; ${ROUNDS} × ${ROUND_CALLS} calls each) | ${fmt(perCall('appliance') ?? Number.NaN)} | | ${fmt(perCall('kamailio') ?? Number.NaN)} | ${fmt(perCall('kamailio+rtpengine') ?? Number.NaN)} | ${headline.turns_ratio_cpu_vs_kamailio ?? '-'} (rounds ${roundRatios('kamailio')?.min ?? '-'}-${roundRatios('kamailio')?.max ?? '-'}) | ${headline.turns_ratio_cpu_vs_kamailio_rtpengine ?? '-'} (rounds ${roundRatios('kamailio+rtpengine')?.min ?? '-'}-${roundRatios('kamailio+rtpengine')?.max ?? '-'}) | ≤ 1.2× kamailio |`,
      `| CPU per call, ${PHONES} phones at once (µs) | ${fmt(ca.cpuMicrosPerCall)} | ${fmt(concPipe.cpuMicrosPerCall)} | ${fmt(kamCpuConc)} | ${fmt(kr?.conc.cpuMicrosPerCall ?? Number.NaN)} | ${headline.ratio_cpu_vs_kamailio_concurrent ?? '-'} | ${headline.ratio_cpu_vs_kamailio_rtpengine_concurrent ?? '-'} | |`,
      `| set-up p50 / p95, ${PHONES} phones at once (ms) | ${fmt(ca.summary.setup.p50)} / ${fmt(ca.summary.setup.p95)} | ${fmt(concPipe.summary.setup.p50)} / ${fmt(concPipe.summary.setup.p95)} | ${kam ? `${fmt(kam.conc.summary.setup.p50)} / ${fmt(kam.conc.summary.setup.p95)}` : '-'} | ${kr ? `${fmt(kr.conc.summary.setup.p50)} / ${fmt(kr.conc.summary.setup.p95)}` : '-'} | | | |`,
      '',
      '## Transit per message, sequential (ms)',
      '',
      ...transitTable(rows),
      '',
      `## Transit per message, ${PHONES} phones at once (ms)`,
      '',
      ...transitTable(concRows),
      '',
      '## CPU per call (µs)',
      '',
      '| relay | sequential | sequential, schedstat | system share | sequential by thread (schedstat) | concurrent | calls/s sequential | calls/s concurrent |',
      '|---|---:|---:|---:|---|---:|---:|---:|',
      cpuRow('appliance', sa, ca),
      cpuRow('pipe', seqPipe, concPipe),
      ...(kam ? [cpuRow('kamailio', kam.seq, kam.conc)] : []),
      ...(kr ? [cpuRow('kamailio+rtpengine', kr.seq, kr.conc)] : []),
      '',
      '## CPU per call, lanes taking turns (µs)',
      '',
      turns.length > 0
        ? `All relays up at once; ${ROUNDS} rounds of ${ROUND_CALLS} sequential calls per lane, the lanes taking turns (first lane rotating each round), each lane's phone primed with ${PRIME_CALLS} calls first. The ratios to read on a shared machine: load from elsewhere falls on every lane alike.`
        : 'Not run (SIP_ROUNDS=0 or no Kamailio).',
      '',
      ...(turns.length > 0
        ? [
            `| lane | ${turns[0]?.perRound.map((_, i) => `round ${i + 1}`).join(' | ')} | all rounds |`,
            `|---|${turns[0]?.perRound.map(() => '---:').join('|')}|---:|`,
            ...turns.map(
              (t) =>
                `| ${t.name} | ${t.perRound.map((x) => fmt(x)).join(' | ')} | ${fmt(perCall(t.name) ?? Number.NaN)} |`,
            ),
            ...['kamailio', 'kamailio+rtpengine']
              .filter((n) => turn(n))
              .map((n) => {
                const a = turn('appliance') as Turn;
                const b = turn(n) as Turn;
                const rr = roundRatios(n);
                return `| appliance ÷ ${n} | ${a.perRound.map((x, i) => (x / (b.perRound[i] as number)).toFixed(3)).join(' | ')} | ${ratio(perCall('appliance') as number, perCall(n) as number)} (rounds: median ${rr?.median}, ${rr?.min}-${rr?.max}) |`;
              }),
          ]
        : []),
      '',
      '## First calls after start (ms)',
      '',
      'Each start is a new appliance process on the same state directory (keys made once before). The phone connects, registers, then calls twice.',
      '',
      '| start | daemon start | TLS connect | REGISTER transit | 1st INVITE transit | 1st 200 transit | 1st set-up | 2nd INVITE transit | 2nd set-up |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      ...firstTable('warm-up off', cold),
      ...firstTable('warm-up on', warmed),
      ...firstTable('pipe', [pipeFirst]),
      ...(kam ? firstTable('kamailio', [kam.first]) : []),
      ...(kr ? firstTable('kamailio+rtpengine', [kr.first]) : []),
      '',
      'Last stdout line:',
      '',
      '```',
      JSON.stringify(headline),
      '```',
      '',
    ];
    writeFileSync(path.join(ROOT, 'bench/results/sip.md'), md.join('\n'));
    log(md.join('\n'));
    log(JSON.stringify(headline));
  } finally {
    for (const c of children) await c.stop().catch(() => undefined);
    for (const stop of stoppers) await stop().catch(() => undefined);
    await ucm.stop();
    if (process.env.SIP_KEEP) log(`kept ${dir}`);
    else rmSync(dir, { recursive: true, force: true });
  }
}

const mode = process.argv[2];
if (mode === '--appliance-child') {
  applianceChild(JSON.parse(process.argv[3] as string) as ApplianceChildArgs).catch((err) => {
    process.stderr.write(`appliance child: ${(err as Error).stack}\n`);
    process.exit(1);
  });
} else if (mode === '--pipe-child') {
  pipeChild(JSON.parse(process.argv[3] as string) as PipeChildArgs).catch((err) => {
    process.stderr.write(`pipe child: ${(err as Error).stack}\n`);
    process.exit(1);
  });
} else {
  main().then(
    () => process.exit(0),
    (err) => {
      process.stderr.write(`bench:sip failed: ${(err as Error).stack}\n`);
      process.exit(1);
    },
  );
}
