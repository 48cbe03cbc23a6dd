/**
 * SRTP benchmark: `npm run bench:srtp` (node --expose-gc dist-dev/bench/srtp.js).
 *
 * Protect + unprotect of 172-byte RTP packets (12-byte header + 160-byte G.711 payload),
 * AES_CM_128_HMAC_SHA1_80, one thread, in one process run, side by side:
 *   - the WebAssembly engine (libsrtp 2.5.0, wasm/srtp.wasm) through its in-place slot API
 *   - werift-rtp's SrtpSession (TypeScript SRTP on npm)
 *   - the node:crypto reference (wasm/srtp-reference.ts)
 *   - the engine with each suite of issue 17 (AES_CM_128_HMAC_SHA1_32, AEAD_AES_128_GCM,
 *     AEAD_AES_256_GCM) and AES_256_CM_HMAC_SHA1_80, against AES_CM_128_HMAC_SHA1_80
 *   - flag variants of the wasm build, if `bash wasm/build.sh --variants` produced them
 * Rounds are interleaved (A B C A B C ...) and the median round is reported, so the
 * figures share the machine's state. Then: GC events while 1,000,000 packets go through
 * the engine's packet path (PerformanceObserver 'gc'; AES_CM_128_HMAC_SHA1_80 and
 * AEAD_AES_128_GCM), heap bytes per stream pair, and
 * how many pairs fit in the engine's fixed memory. The last stdout line is one JSON object.
 *
 * Options (env): SRTP_BENCH_SECONDS (per round per engine, default 0.4), SRTP_BENCH_ROUNDS (5).
 */
import { execFileSync, execSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PerformanceObserver, performance } from 'node:perf_hooks';
import { RtpHeader, SrtpSession } from 'werift-rtp';
import { findWasmFile, readManifest, SRTP_PROFILES, SrtpEngine, type SrtpProfile, srtpErrorName } from '../wasm/srtp';
import { SrtpReferenceContext } from '../wasm/srtp-reference';

const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const KEY = Buffer.from('e1f97a0d3e018be0d64fa32c06de41390ec675ad498afeebb6960b3aabe6', 'hex');
const SSRC = 0x1234abcd;
const PAYLOAD = 160;
const PKT_LEN = 12 + PAYLOAD;
const ROUND_SECONDS = Number(process.env.SRTP_BENCH_SECONDS ?? 0.4);
const ROUNDS = Number(process.env.SRTP_BENCH_ROUNDS ?? 5);
/** Suites measured side by side with PROFILE (the first contender is PROFILE itself). */
const SUITES: readonly SrtpProfile[] = [
  'AES_CM_128_HMAC_SHA1_32',
  'AES_256_CM_HMAC_SHA1_80',
  'AEAD_AES_128_GCM',
  'AEAD_AES_256_GCM',
];

/** Master key||salt for a suite: KEY's bytes for AES_CM_128, repeated to the suite's length. */
function keyFor(profile: SrtpProfile): Buffer {
  const p = SRTP_PROFILES[profile];
  const k = Buffer.alloc(p.keyLength + p.saltLength);
  for (let i = 0; i < k.length; i++) k[i] = KEY[i % KEY.length] as number;
  return k;
}

function rtpTemplate(): Buffer {
  const b = Buffer.alloc(PKT_LEN);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt32BE(SSRC, 8);
  for (let i = 12; i < PKT_LEN; i++) b[i] = (i * 7) & 0xff;
  return b;
}

/** A runner does `n` protect+unprotect pairs and returns how many verified. */
type Runner = (n: number) => number;

/** `allocate` is the control for the GC count: one Buffer copy per packet, as a careless
 *  caller would do, to show the GC observer does see packet-path garbage. */
function wasmRunner(engine: SrtpEngine, allocate = false, profile: SrtpProfile = PROFILE): Runner {
  const out = engine.createSession(profile, keyFor(profile), 'outbound');
  const inb = engine.createSession(profile, keyFor(profile), 'inbound');
  if (out < 0 || inb < 0) throw new Error(`createSession: ${srtpErrorName(Math.min(out, inb))}`);
  const slot = engine.slot(0);
  const template = rtpTemplate();
  let seq = 0;
  return (n) => {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      slot.set(allocate ? Buffer.from(template) : template);
      slot[2] = (seq >>> 8) & 0xff;
      slot[3] = seq & 0xff;
      seq = (seq + 1) & 0xffff;
      const len = engine.protectRtp(out, 0, PKT_LEN);
      if (engine.unprotectRtp(inb, 0, len) === PKT_LEN) ok++;
    }
    return ok;
  };
}

function weriftRunner(): Runner {
  const key = KEY.subarray(0, 16);
  const salt = KEY.subarray(16);
  const keys = { localMasterKey: key, localMasterSalt: salt, remoteMasterKey: key, remoteMasterSalt: salt };
  const tx = new SrtpSession({ keys, profile: 1 });
  const rx = new SrtpSession({ keys, profile: 1 });
  const payload = rtpTemplate().subarray(12);
  let seq = 0;
  return (n) => {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      const header = new RtpHeader({ payloadType: 0, sequenceNumber: seq, timestamp: seq * 160, ssrc: SSRC });
      seq = (seq + 1) & 0xffff;
      const enc = tx.encrypt(payload, header);
      const dec = rx.decrypt(enc);
      if (dec.length === PKT_LEN) ok++;
    }
    return ok;
  };
}

function referenceRunner(): Runner {
  const tx = new SrtpReferenceContext(PROFILE, KEY);
  const rx = new SrtpReferenceContext(PROFILE, KEY);
  const pkt = rtpTemplate();
  let seq = 0;
  return (n) => {
    let ok = 0;
    for (let i = 0; i < n; i++) {
      pkt.writeUInt16BE(seq, 2);
      seq = (seq + 1) & 0xffff;
      const r = rx.unprotectRtp(tx.protectRtp(pkt));
      if (r.ok && r.packet.length === PKT_LEN) ok++;
    }
    return ok;
  };
}

/** One round: run calibrated batches for ~ROUND_SECONDS of wall time. Throughput is
 *  reported per CPU-second of this process (process.cpuUsage, user+sys), i.e. per core:
 *  on a shared machine wall time also counts time spent descheduled, CPU time does not. */
function round(run: Runner, batch: number): { pairsPerCpuS: number; pairsPerWallS: number; failures: number } {
  // Start every round on a clean heap: the allocating contenders (werift, reference) must
  // not leave garbage whose collection is then charged to the next contender's round.
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
  let pairs = 0;
  let failures = 0;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  const end = t0 + ROUND_SECONDS * 1000;
  let now = t0;
  while (now < end) {
    const ok = run(batch);
    failures += batch - ok;
    pairs += batch;
    now = performance.now();
  }
  const c = process.cpuUsage(c0);
  const cpuS = (c.user + c.system) / 1e6;
  return { pairsPerCpuS: pairs / cpuS, pairsPerWallS: (pairs * 1000) / (now - t0), failures };
}

function inProcess(name: string, run: Runner, batch: number): Contender {
  run(batch * 5); // warm-up (JIT)
  return { name, measure: () => round(run, batch), results: [], wall: [], failures: 0 };
}

/** A native baseline binary: prints "<pairs> <cpu_seconds> <failures>" (wasm/native-bench.c). */
function native(name: string, file: string): Contender {
  return {
    name,
    measure: () => {
      const [pairs, cpu, failures] = execFileSync(file, [String(ROUND_SECONDS)], { encoding: 'utf8' })
        .trim()
        .split(/\s+/)
        .map(Number);
      return { pairsPerCpuS: (pairs ?? 0) / (cpu ?? 1), pairsPerWallS: Number.NaN, failures: failures ?? 0 };
    },
    results: [],
    wall: [],
    failures: 0,
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

interface Contender {
  name: string;
  measure: () => { pairsPerCpuS: number; pairsPerWallS: number; failures: number };
  results: number[];
  wall: number[];
  failures: number;
}

function gcEventsOverPackets(
  engine: SrtpEngine,
  packets: number,
  allocate = false,
  profile: SrtpProfile = PROFILE,
): Promise<{ events: number; seconds: number }> {
  const run = wasmRunner(engine, allocate, profile);
  run(10_000); // warm up (JIT) before observing
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) g();
  const entries: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) entries.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  return new Promise((resolve) => {
    // let a pending gc entry from the warm-up be delivered before the window opens
    setTimeout(() => {
      const t0 = performance.now();
      const ok = run(packets / 2); // a pair is two packets through the packet path
      const t1 = performance.now();
      if (ok !== packets / 2) throw new Error(`gc run: ${packets / 2 - ok} pairs failed`);
      setTimeout(() => {
        obs.disconnect();
        resolve({ events: entries.filter((t) => t >= t0 && t <= t1).length, seconds: (t1 - t0) / 1000 });
      }, 100);
    }, 100);
  });
}

/** How many inbound+outbound pairs, each with a live stream, fit in one engine's memory. */
function maxPairs(file: string): number {
  const engine = SrtpEngine.fromFile(file);
  const slot = engine.slot(1);
  const template = rtpTemplate();
  let pairs = 0;
  for (let i = 0; i < engine.maxSessions / 2; i++) {
    const out = engine.createSession(PROFILE, KEY, 'outbound');
    const inb = engine.createSession(PROFILE, KEY, 'inbound');
    if (out < 0 || inb < 0) break;
    slot.set(template);
    slot.writeUInt32BE(i, 8); // own SSRC per pair
    const n = engine.protectRtp(out, 1, PKT_LEN);
    if (n < 0 || engine.unprotectRtp(inb, 1, n) !== PKT_LEN) break;
    pairs++;
  }
  return pairs;
}

function cpuModel(): string {
  try {
    const m = /model name\s*:\s*(.*)/.exec(execSync('cat /proc/cpuinfo', { encoding: 'utf8' }));
    return m?.[1]?.trim() ?? os.cpus()[0]?.model ?? 'unknown';
  } catch {
    return os.cpus()[0]?.model ?? 'unknown';
  }
}

async function main(): Promise<void> {
  const committed = findWasmFile();
  const engine = SrtpEngine.load();
  const manifest = readManifest();
  const contenders: Contender[] = [
    inProcess(`wasm (committed: ${manifest.flags.split(' -s')[0]})`, wasmRunner(engine), 2000),
    inProcess('werift-rtp SrtpSession', weriftRunner(), 200),
    inProcess('node:crypto reference', referenceRunner(), 200),
    ...SUITES.map((suite) => inProcess(`wasm ${suite}`, wasmRunner(engine, false, suite), 2000)),
  ];
  const variantDir = path.resolve(path.dirname(committed), 'build/variants');
  const variants: string[] = existsSync(variantDir)
    ? readdirSync(variantDir)
        .filter((f) => f.endsWith('.wasm'))
        .sort()
    : [];
  for (const v of variants) {
    contenders.push(
      inProcess(
        `wasm variant ${v.replace(/\.wasm$/, '')}`,
        wasmRunner(SrtpEngine.fromFile(path.join(variantDir, v))),
        2000,
      ),
    );
  }
  // Native baselines (bash wasm/build.sh --native), run as child processes in the same rounds.
  const buildDir = path.resolve(path.dirname(committed), 'build');
  const natives = existsSync(buildDir)
    ? readdirSync(buildDir)
        .filter((f) => f.startsWith('native-bench-'))
        .sort()
    : [];
  for (const n of natives)
    contenders.push(native(`native libsrtp ${n.replace('native-bench-', '')}`, path.join(buildDir, n)));

  // interleaved rounds (in-process runners were warmed up when created)
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of contenders) {
      const res = c.measure();
      c.results.push(res.pairsPerCpuS);
      c.wall.push(res.pairsPerWallS);
      c.failures += res.failures;
    }
  }
  const base = contenders[1] as Contender;
  const werift = median(base.results);
  console.log(
    `SRTP protect+unprotect, ${PKT_LEN}-byte RTP, ${PROFILE}, 1 thread, ${ROUNDS} interleaved rounds of ${ROUND_SECONDS}s (median)`,
  );
  console.log(`${'engine'.padEnd(40) + 'pairs/cpu-s'.padStart(12)}  x werift${'pairs/wall-s'.padStart(14)}  failures`);
  for (const c of contenders) {
    const m = median(c.results);
    console.log(
      c.name.padEnd(40) +
        Math.round(m).toString().padStart(12) +
        (m / werift).toFixed(2).padStart(10) +
        (Number.isNaN(median(c.wall)) ? '-' : Math.round(median(c.wall)).toString()).padStart(14) +
        String(c.failures).padStart(10),
    );
  }

  console.log(`\nsuites, same rounds (pairs/cpu-s, x ${PROFILE} of the committed module)`);
  const wasmCm80 = median((contenders[0] as Contender).results);
  const suiteFigures: Record<string, { pairs_per_s: number; ratio_vs_cm80: number }> = {
    [PROFILE]: { pairs_per_s: Math.round(wasmCm80), ratio_vs_cm80: 1 },
  };
  for (const c of contenders.filter((x) => x.name.startsWith('wasm ') && !x.name.startsWith('wasm variant'))) {
    if (c === contenders[0]) continue;
    const m = median(c.results);
    const suite = c.name.replace('wasm ', '');
    suiteFigures[suite] = { pairs_per_s: Math.round(m), ratio_vs_cm80: Number((m / wasmCm80).toFixed(2)) };
    console.log(`${suite.padEnd(40)}${Math.round(m).toString().padStart(12)}${(m / wasmCm80).toFixed(2).padStart(10)}`);
  }

  const gc = await gcEventsOverPackets(engine, 1_000_000);
  const gcGcm = await gcEventsOverPackets(engine, 1_000_000, false, 'AEAD_AES_128_GCM');
  const control = await gcEventsOverPackets(engine, 1_000_000, true);
  const gcPer1m = gc.events; // exactly 1,000,000 packets
  console.log(
    `GC events while 1,000,000 packets went through the packet path: ${gc.events} (${gc.seconds.toFixed(2)} s)`,
  );
  console.log(`GC events over 1,000,000 AEAD_AES_128_GCM packets: ${gcGcm.events} (${gcGcm.seconds.toFixed(2)} s)`);
  console.log(
    `control, same loop with one Buffer.from per packet: ${control.events} GC events (the observer does see packet-path garbage)`,
  );
  const pairsFit = maxPairs(committed);
  console.log(
    `WebAssembly memory: ${engine.memoryBytes} bytes fixed; ${engine.bytesPerStreamPair} heap bytes per stream pair; ${pairsFit} pairs fit in one engine`,
  );

  const wasm = median((contenders[0] as Contender).results);
  const ref = median((contenders[2] as Contender).results);
  const variantFigures: Record<string, number> = {};
  const nativeFigures: Record<string, number> = {};
  for (const c of contenders.slice(3 + SUITES.length)) {
    if (c.name.startsWith('wasm variant '))
      variantFigures[c.name.replace('wasm variant ', '')] = Math.round(median(c.results));
    else nativeFigures[c.name.replace('native libsrtp ', '')] = Math.round(median(c.results));
  }
  console.log(
    JSON.stringify({
      wasm_pairs_per_s: Math.round(wasm),
      throughput_basis: 'pairs per CPU-second of one thread (median of interleaved rounds)',
      werift_pairs_per_s: Math.round(werift),
      reference_pairs_per_s: Math.round(ref),
      ratio_vs_werift: Number((wasm / werift).toFixed(2)),
      ratio_vs_reference: Number((wasm / ref).toFixed(2)),
      gc_events_per_1m: gcPer1m,
      gc_events_per_1m_gcm: gcGcm.events,
      suites: suiteFigures,
      gc_events_per_1m_control_allocating: control.events,
      bytes_per_stream_pair: engine.bytesPerStreamPair,
      max_pairs_per_engine: pairsFit,
      memory_bytes: engine.memoryBytes,
      variants: variantFigures,
      native: nativeFigures,
      failures: contenders.reduce((a, c) => a + c.failures, 0),
      packet_bytes: PKT_LEN,
      profile: PROFILE,
      wasm_sha256: manifest.sha256,
      node: process.version,
      cpu: cpuModel(),
      nproc: os.availableParallelism?.() ?? os.cpus().length,
    }),
  );
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
