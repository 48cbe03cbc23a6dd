/**
 * bench:tftp — N simulated phones (distinct MACs, bounded concurrency) each fetch CTLFile.tlv
 * and their SEP<MAC>.cnf.xml.sgn through the appliance's TFTP interceptor, versus the same number
 * of plain file fetches straight from tftpd-hpa, in the same run:
 *   1. tftpd-hpa direct: CTLFile.tlv (a file of the CTL's size) + SEP<MAC>.cnf.xml per phone;
 *   2. appliance cold: every configuration is fetched upstream, rewritten and signed once;
 *   3. appliance warm: the same again (upstream fetched, content hash unchanged: cache hit).
 * The appliance runs in a child process (this file with --appliance-child) so its memory is its
 * own; the load generator is a minimal RFC 1350 client (512-byte blocks, like a phone without
 * options) in this process. Last stdout line: one JSON object with the headline figures.
 * Env: PHONES (1000), CONCURRENCY (100).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parse, stringify } from 'yaml';
import { loadPolicy } from '../src/config/load-policy';
import { ControlRegistry } from '../src/control/registry';
import { Logs } from '../src/log';
import { openState } from '../src/pki/state';
import { createTftpService } from '../src/tftp/service';

const OUTSIDE = '127.0.61.1';
const INSIDE = '127.0.62.20';
const ROOT = path.resolve(__dirname, '../..');

// ---------------------------------------------------------------- appliance child

async function applianceChild(args: { policyFile: string; stateDir: string; port: number }) {
  const loaded = loadPolicy(args.policyFile);
  const state = await openState(args.stateDir, loaded);
  const ctx = {
    loaded,
    state,
    logs: (() => {
      const l = new Logs('warn');
      if (process.env.BENCH_DEBUG) l.setDebug('tftp', true);
      return l;
    })(),
    control: new ControlRegistry(),
    metrics: new Registry(),
    services: new Map(),
  };
  const svc = createTftpService(ctx, { port: args.port });
  await svc.start();
  process.on('message', async (m: string) => {
    if (m === 'stats') {
      const status = readFileSync('/proc/self/status', 'utf8');
      const hwm = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0);
      process.send?.({
        stats: {
          inProgress: svc.inProgress(),
          signing: svc.signing(),
          cache: svc.cache.stats(),
          counters: svc.counters,
          peakRssKb: hwm,
        },
      });
    } else if (m === 'stop') {
      await svc.stop();
      process.exit(0);
    }
  });
  process.send?.({ ready: true });
}

// ---------------------------------------------------------------- load generator

async function freePort(address: string): Promise<number> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  const p = (s.address() as AddressInfo).port;
  await new Promise<void>((r) => s.close(() => r()));
  return p;
}

/** RFC 1350 read: RRQ, then ACK each 512-byte DATA block; retransmits the last packet after 1 s, 5 tries. */
function tftpGet(address: string, port: number, file: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    let peerPort = port;
    let expect = 1;
    let bytes = 0;
    let last = Buffer.concat([Buffer.from([0, 1]), Buffer.from(`${file}\0octet\0`)]);
    let tries = 0;
    let timer: NodeJS.Timeout;
    const finish = (err?: Error) => {
      clearTimeout(timer);
      s.close();
      if (err) reject(err);
      else resolve(bytes);
    };
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        if (++tries > 5)
          return finish(
            new Error(`${file}: timeout (local port ${(s.address() as AddressInfo).port}, got ${expect - 1} blocks)`),
          );
        s.send(last, peerPort, address);
        arm();
      }, 1000);
    };
    s.on('message', (msg, rinfo) => {
      const op = msg.readUInt16BE(0);
      if (op === 5)
        return finish(new Error(`${file}: error ${msg.readUInt16BE(2)} ${msg.toString('latin1', 4, msg.length - 1)}`));
      if (op !== 3) return;
      peerPort = rinfo.port;
      const block = msg.readUInt16BE(2);
      last = Buffer.from([0, 4, msg[2] as number, msg[3] as number]);
      const fresh = block === (expect & 0xffff);
      const end = fresh && msg.length - 4 < 512;
      if (fresh) {
        expect++;
        bytes += msg.length - 4;
        tries = 0;
      }
      // The last ACK must leave before the socket closes, or the server waits for it and retransmits.
      s.send(last, peerPort, address, end ? () => finish() : undefined);
      if (fresh && !end) arm();
    });
    s.bind(0, '127.0.0.1', () => {
      s.send(last, port, address);
      arm();
    });
  });
}

interface Phase {
  name: string;
  files: number;
  ms: number;
  filesPerS: number;
  p50: number;
  p99: number;
  errors: number;
}

async function runPhase(
  name: string,
  jobs: string[],
  address: string,
  port: number,
  concurrency: number,
): Promise<Phase> {
  const lat: number[] = [];
  let errors = 0;
  let next = 0;
  const t0 = performance.now();
  const worker = async () => {
    while (next < jobs.length) {
      const file = jobs[next++] as string;
      const t = performance.now();
      try {
        await tftpGet(address, port, file);
        lat.push(performance.now() - t);
      } catch (err) {
        errors++;
        if (errors <= 3) console.error(`${name}: ${(err as Error).message}`);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  const ms = performance.now() - t0;
  lat.sort((a, b) => a - b);
  const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * p))] ?? 0;
  const r = { name, files: lat.length, ms, filesPerS: (lat.length / ms) * 1000, p50: q(0.5), p99: q(0.99), errors };
  console.log(
    `${name.padEnd(16)} ${r.files} files in ${ms.toFixed(0)} ms: ${r.filesPerS.toFixed(0)} files/s, p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms, errors ${errors}`,
  );
  return r;
}

function ask<T>(child: ChildProcess, msg: string | undefined, key: string): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`appliance child: no ${key}`)), 120_000);
    const on = (m: Record<string, unknown>) => {
      if (!(key in m)) return;
      clearTimeout(t);
      child.off('message', on);
      resolve(m[key] as T);
    };
    child.on('message', on);
    if (msg) child.send(msg);
  });
}

async function main() {
  const phones = Number(process.env.PHONES ?? 1000);
  const concurrency = Number(process.env.CONCURRENCY ?? 100);
  const work = mkdtempSync(path.join(os.tmpdir(), 'bench-tftp-'));
  const ucm = path.join(work, 'ucm');
  mkdirSync(ucm);
  chmodSync(work, 0o755);
  chmodSync(ucm, 0o755);
  const children: ChildProcess[] = [];
  try {
    // UCM side: one distinct configuration per phone (the usecallmanager SIP sample, 13.5 KB).
    const sample = readFileSync(path.join(ROOT, 'test/fixtures/tftp/SEP58971ECC97C1.cnf.xml'), 'latin1');
    const macs = Array.from({ length: phones }, (_, i) => `0011${i.toString(16).toUpperCase().padStart(8, '0')}`);
    for (const mac of macs) {
      writeFileSync(
        path.join(ucm, `SEP${mac}.cnf.xml`),
        sample.replace('<userId></userId>', `<userId>user-${mac}</userId>`),
        'latin1',
      );
    }
    const tftpdPort = await freePort(INSIDE);
    const tftpd = spawn(
      'in.tftpd',
      ['--foreground', '--address', `${INSIDE}:${tftpdPort}`, '--secure', '--user', 'root', ucm],
      {
        stdio: 'ignore',
      },
    );
    children.push(tftpd);
    for (let i = 0; ; i++) {
      try {
        await tftpGet(INSIDE, tftpdPort, `SEP${macs[0]}.cnf.xml`);
        break;
      } catch (err) {
        if (i >= 20) throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }

    // Appliance policy: the default with bench addresses and a rate limit above the load.
    const doc = parse(readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8')) as Record<string, unknown>;
    doc.interfaces = [
      { name: 'outside', address: `${OUTSIDE}/24`, role: 'outside' },
      { name: 'inside', address: '127.0.62.1/24', role: 'inside' },
    ];
    doc.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: INSIDE, interface: 'inside' }] };
    doc['tftp-server'] = { address: INSIDE, interface: 'inside', port: tftpdPort };
    doc['media-termination'] = {
      addresses: [
        { interface: 'outside', address: '127.0.61.10' },
        { interface: 'inside', address: '127.0.62.10' },
      ],
    };
    doc['ctl-file'] = {
      name: 'ctl',
      'sast-count': 2,
      records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUTSIDE }],
    };
    doc.tftp = { 'rate-limit': { 'per-source': 100000, global: 100000, burst: 100000 } };
    const policyFile = path.join(work, 'policy.yaml');
    writeFileSync(policyFile, stringify(doc));
    const stateDir = path.join(work, 'state');
    // Keys are generated here once, before timing (the child then only reads them).
    const loaded = loadPolicy(policyFile);
    await openState(stateDir, loaded);
    const port = await freePort(OUTSIDE);
    const child = spawn(
      process.execPath,
      [__filename, '--appliance-child', JSON.stringify({ policyFile, stateDir, port })],
      {
        stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
      },
    );
    children.push(child);
    await ask(child, undefined, 'ready');

    // A CTL-sized file for the direct fetches, so both runs move the same bytes.
    const ctlSize = await tftpGet(OUTSIDE, port, 'CTLFile.tlv');
    writeFileSync(path.join(ucm, 'CTLFile.tlv'), Buffer.alloc(ctlSize, 0x5a));

    const direct = macs.flatMap((m) => ['CTLFile.tlv', `SEP${m}.cnf.xml`]);
    const viaAppliance = macs.flatMap((m) => ['CTLFile.tlv', `SEP${m}.cnf.xml.sgn`]);
    console.log(`${phones} phones, concurrency ${concurrency}, ${direct.length} files per phase`);
    const tftpdPhase = await runPhase('tftpd-hpa direct', direct, INSIDE, tftpdPort, concurrency);
    const before = await ask<{ signing: { count: number; totalMs: number } }>(child, 'stats', 'stats');
    const cold = await runPhase('appliance cold', viaAppliance, OUTSIDE, port, concurrency);
    const mid = await ask<{ signing: { count: number; totalMs: number }; inProgress: number }>(child, 'stats', 'stats');
    if (mid.inProgress > 0) console.log(`note: ${mid.inProgress} transfers still open after the cold phase`);
    const warm = await runPhase('appliance warm', viaAppliance, OUTSIDE, port, concurrency);
    const after = await ask<{
      signing: { count: number; totalMs: number };
      cache: { hits: number; misses: number };
      peakRssKb: number;
    }>(child, 'stats', 'stats');
    child.send('stop');

    const signedCold = mid.signing.count - before.signing.count;
    const signMsCold = mid.signing.totalMs - before.signing.totalMs;
    const signShare = signMsCold / cold.ms;
    console.log(
      `cold: signed ${signedCold} files, ${signMsCold.toFixed(0)} ms of signing = ${(signShare * 100).toFixed(1)}% of the phase's wall time (signing runs on the event loop)`,
    );
    console.log(
      `warm: signed ${after.signing.count - mid.signing.count} files; cache ${after.cache.hits} hits / ${after.cache.misses} misses in total`,
    );
    console.log(`appliance peak RSS ${(after.peakRssKb / 1024).toFixed(1)} MB`);
    const r2 = (x: number) => Math.round(x * 100) / 100;
    const headline = {
      phones,
      concurrency,
      files_per_s: r2(warm.filesPerS),
      tftpd_files_per_s: r2(tftpdPhase.filesPerS),
      ratio_vs_tftpd: r2(warm.filesPerS / tftpdPhase.filesPerS),
      p50_ms: r2(warm.p50),
      p99_ms: r2(warm.p99),
      tftpd_p50_ms: r2(tftpdPhase.p50),
      tftpd_p99_ms: r2(tftpdPhase.p99),
      cold_files_per_s: r2(cold.filesPerS),
      cold_ratio_vs_tftpd: r2(cold.filesPerS / tftpdPhase.filesPerS),
      cold_p99_ms: r2(cold.p99),
      cold_signing_share: r2(signShare),
      cold_signed_files: signedCold,
      errors: tftpdPhase.errors + cold.errors + warm.errors,
      peak_rss_mb: r2(after.peakRssKb / 1024),
    };
    console.log(JSON.stringify(headline));
  } finally {
    for (const c of children) c.kill('SIGKILL');
    rmSync(work, { recursive: true, force: true });
  }
}

if (process.argv[2] === '--appliance-child') {
  applianceChild(JSON.parse(process.argv[3] as string)).catch((err: Error) => {
    process.stderr.write(`appliance child: ${err.stack ?? err.message}\n`);
    process.exit(1);
  });
} else {
  main().catch((err: Error) => {
    console.error(err);
    process.exit(1);
  });
}
