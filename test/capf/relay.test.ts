/**
 * The CAPF relay (src/capf/relay.ts) with real peers on loopback: `openssl s_server` as UCM's
 * CAPF and `openssl s_client` as the phone. The TLS session is the phone's with CAPF, end to end
 * (the phone verifies CAPF's own certificate; the relay holds none), bytes intact both ways.
 * Abuse: a flood past the per-source and global limits is refused and counted, silent and
 * non-TLS connections are closed without CAPF being dialled, a CAPF that refuses or never
 * answers is counted and the phone closed, the bounds on idle time, duration and bytes hold,
 * back-pressure keeps the relay's buffers bounded, and the relay keeps serving throughout.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { CAPF_COUNTER_NAMES, type CapfCounter } from '../../src/capf/event-codes';
import { type CapfLimits, CapfRelay, type CapfTarget } from '../../src/capf/relay';
import { Logs } from '../../src/log';
import {
  type CapfCert,
  capfCertificate,
  closed,
  firstPeerCertificate,
  phoneClient,
  rawConnect,
  startCapfServer,
  startSilentListener,
  stopPeers,
} from './peers';

// Fixed test ports of this helper: 64700-64799 (docs: the range handed out, 65700-65799, is above 65535).
const HOST = '127.0.0.1';
const RELAY = 64700;
const CAPF = 64701;
const NOTHING = 64702;
const SILENT = 64703;
const PLAIN = 64704;

const DEFAULT_LIMITS: CapfLimits = {
  maxConnections: 100,
  maxPerSource: 10,
  firstByteTimeoutMs: 5000,
  idleTimeoutMs: 30_000,
  maxDurationMs: 60_000,
  maxBytes: 1024 * 1024,
};

let dir: string;
let cert: CapfCert;
let other: CapfCert;
const lines: Record<string, unknown>[] = [];
const dest = new Writable({
  write(chunk: Buffer, _enc, cb) {
    for (const l of chunk.toString().split('\n')) if (l.trim()) lines.push(JSON.parse(l) as Record<string, unknown>);
    cb();
  },
});
const logs = new Logs('info', dest as unknown as import('pino').DestinationStream);

beforeAll(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'pp-capf-'));
  [cert, other] = await Promise.all([capfCertificate(dir), capfCertificate(dir, 'not-capf')]);
  await startCapfServer(HOST, CAPF, cert);
}, 30_000);

afterAll(() => {
  stopPeers();
  rmSync(dir, { recursive: true, force: true });
});

interface Running {
  relay: CapfRelay;
  counts: Record<CapfCounter, number>;
}
let running: Running | undefined;

async function relay(limits: Partial<CapfLimits> = {}, target: Partial<CapfTarget> = {}): Promise<Running> {
  const counts = Object.fromEntries(CAPF_COUNTER_NAMES.map((c) => [c, 0])) as Record<CapfCounter, number>;
  const r = new CapfRelay({
    listeners: [{ address: HOST, port: RELAY, interfaceName: 'outside' }],
    target: { address: HOST, port: CAPF, connectTimeoutMs: 2000, ...target },
    limits: { ...DEFAULT_LIMITS, ...limits },
    count: (e) => {
      counts[e]++;
    },
    log: logs.for('signaling'),
    errors: logs.for('errors'),
  });
  await r.start();
  running = { relay: r, counts };
  return running;
}

afterEach(async () => {
  await running?.relay.stop();
  running = undefined;
});

const until = async (what: string, ok: () => boolean, ms = 5000) => {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
};

const payload = (n: number) => Array.from({ length: n }, (_v, i) => `x${i}-${randomBytes(48).toString('hex')}`);

/** One phone enrolment through the relay, asserted: CAPF's certificate, every line back intact. */
async function enrol(count = 200) {
  const sent = payload(count);
  const run = await phoneClient(HOST, RELAY, cert.certFile, sent);
  expect(run.stdout).toMatch(/Verify return code: 0 \(ok\)/);
  // The certificate the phone got is CAPF's own: the relay terminates nothing.
  const pem = firstPeerCertificate(run.stdout);
  expect(pem?.replace(/\s+/g, '')).toBe(cert.certPem.replace(/\s+/g, ''));
  for (const l of sent) expect(run.stdout).toContain([...l].reverse().join(''));
  return run;
}

test('a phone (openssl s_client) does its TLS handshake with CAPF (openssl s_server) through the relay; bytes intact both ways', async () => {
  const { relay: r, counts } = await relay();
  const run = await enrol(400); // ~40 kB each way
  expect(run.stdout).toMatch(/subject=.*CN ?= ?CAPF-standin/);
  await until('the session to end', () => r.active === 0);
  expect(counts).toMatchObject({ accepted: 1, relayed: 1, 'remote-closures': 1 });
  const drops = CAPF_COUNTER_NAMES.filter((c) => !['accepted', 'relayed', 'remote-closures'].includes(c));
  for (const c of drops) expect({ c, n: counts[c] }).toEqual({ c, n: 0 });
}, 30_000);

test('a phone trusting another CAPF certificate refuses the handshake: the relay cannot stand in for CAPF', async () => {
  await relay();
  const run = await phoneClient(HOST, RELAY, other.certFile, ['never-sent']);
  expect(run.code).not.toBe(0);
  expect(run.stdout + run.stderr).toMatch(/verify error|certificate verify failed|self.signed/i);
}, 20_000);

test('a connection flood past the per-source limit is refused and counted; the relay keeps serving', async () => {
  const { relay: r, counts } = await relay({ maxPerSource: 3 });
  const held = await Promise.all([1, 2, 3].map(() => rawConnect(HOST, RELAY)));
  await until('three admitted', () => r.fromSource(HOST) === 3);
  const flood = await Promise.all(Array.from({ length: 20 }, () => rawConnect(HOST, RELAY)));
  const times = await Promise.all(flood.map((s) => closed(s)));
  expect(times.every((t) => t < 2000)).toBe(true);
  expect(counts['refused-source-limit']).toBe(20);
  expect(counts.accepted).toBe(3);
  // The held three are still open; once they go, a phone gets through.
  expect(held.every((s) => !s.destroyed)).toBe(true);
  for (const s of held) s.destroy();
  // A phone that hangs up before its first byte gives its slot back at once, not at the deadline.
  await until('slots returned', () => r.fromSource(HOST) === 0, 1000);
  await enrol(5);
  expect(lines.some((l) => l.msgId === 'PPX-4-190002' && /source-limit/.test(String(l.msg)))).toBe(true);
}, 30_000);

test('the global limit holds across sources', async () => {
  const { counts } = await relay({ maxConnections: 4, maxPerSource: 3 });
  const a = await Promise.all([1, 2, 3].map(() => rawConnect(HOST, RELAY, '127.0.0.2')));
  const b = await rawConnect(HOST, RELAY, '127.0.0.3');
  await until('four admitted', () => counts.accepted === 4);
  const refused = await rawConnect(HOST, RELAY, '127.0.0.4');
  await closed(refused);
  expect(counts['refused-global-limit']).toBe(1);
  for (const s of [...a, b]) s.destroy();
}, 20_000);

test('silent connections are closed at the first-byte deadline, and CAPF is never dialled for them', async () => {
  const { relay: r, counts } = await relay({ firstByteTimeoutMs: 400 });
  const socks = await Promise.all(Array.from({ length: 5 }, () => rawConnect(HOST, RELAY)));
  const times = await Promise.all(socks.map((s) => closed(s)));
  for (const t of times) {
    expect(t).toBeGreaterThanOrEqual(300);
    expect(t).toBeLessThan(2000);
  }
  expect(counts['first-byte-timeouts']).toBe(5);
  expect(counts.relayed).toBe(0);
  await until('sessions released', () => r.active === 0);
  await enrol(5);
}, 20_000);

test('a first byte that is not a TLS handshake record is closed at once, CAPF not dialled', async () => {
  const { counts } = await relay();
  const s = await rawConnect(HOST, RELAY);
  s.write('GET / HTTP/1.0\r\n\r\n');
  await closed(s);
  expect(counts['not-tls']).toBe(1);
  expect(counts.relayed).toBe(0);
  expect(lines.some((l) => l.msgId === 'PPX-4-190003' && /not a TLS handshake/.test(String(l.msg)))).toBe(true);
}, 10_000);

test('CAPF down (connection refused): counted, the phone closed, and the relay serves once CAPF is back (live reload)', async () => {
  const { relay: r, counts } = await relay({}, { port: NOTHING });
  const run = await phoneClient(HOST, RELAY, cert.certFile, ['x']);
  expect(run.code).not.toBe(0);
  // The phone got no server hello at all: CAPF was never reached.
  expect(run.stdout).toMatch(/no peer certificate available/);
  expect(counts['upstream-failures']).toBe(1);
  expect(lines.some((l) => l.msgId === 'PPX-3-190004' && /ECONNREFUSED/.test(String(l.msg)))).toBe(true);
  await until('released', () => r.active === 0);
  r.reconfigure(DEFAULT_LIMITS, { address: HOST, port: CAPF, connectTimeoutMs: 2000 });
  await enrol(5);
}, 20_000);

test('CAPF not answering (its accept queue full): the connect timeout closes the phone, counted', async () => {
  await startSilentListener(HOST, SILENT);
  const { relay: r, counts } = await relay({}, { port: SILENT, connectTimeoutMs: 500 });
  const s = await rawConnect(HOST, RELAY);
  s.write(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
  const t = await closed(s);
  expect(t).toBeGreaterThanOrEqual(400);
  expect(t).toBeLessThan(3000);
  expect(counts['upstream-timeouts']).toBe(1);
  await until('session released', () => r.active === 0);
}, 20_000);

/** A plain TCP stand-in behind the relay: for the bounds, where TLS is not needed. */
async function plainCapf(onConn: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer(onConn);
  await new Promise<void>((resolve) => server.listen(PLAIN, HOST, () => resolve()));
  return server;
}

test('idle, duration and byte bounds close the connection and are counted', async () => {
  const ups: net.Socket[] = [];
  const server = await plainCapf((s) => {
    ups.push(s);
    s.on('error', () => undefined);
    s.resume();
  });
  try {
    const { counts } = await relay({ idleTimeoutMs: 400, maxDurationMs: 1500, maxBytes: 10_000 }, { port: PLAIN });
    // Idle: one byte, then nothing either way.
    const idle = await rawConnect(HOST, RELAY);
    idle.write(Buffer.from([0x16]));
    const t = await closed(idle);
    expect(t).toBeGreaterThanOrEqual(300);
    expect(counts['idle-ageouts']).toBe(1);

    // Duration: busy (a byte every 100 ms both ways) but open past max-duration.
    const busy = await rawConnect(HOST, RELAY);
    busy.write(Buffer.from([0x16]));
    const tick = setInterval(() => {
      if (!busy.destroyed) busy.write('.');
      for (const u of ups) if (!u.destroyed) u.write('.');
    }, 100);
    await closed(busy);
    clearInterval(tick);
    expect(counts['duration-limit']).toBe(1);

    // Bytes: past max-bytes through one connection.
    const big = await rawConnect(HOST, RELAY);
    big.write(Buffer.concat([Buffer.from([0x16]), Buffer.alloc(20_000, 1)]));
    await closed(big);
    expect(counts['byte-limit']).toBe(1);
  } finally {
    for (const u of ups) u.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
}, 30_000);

test('back-pressure: a phone that does not read stops the relay reading from CAPF (no unbounded buffer)', async () => {
  let up: net.Socket | undefined;
  let offered = 0;
  const server = await plainCapf((s) => {
    up = s;
    s.on('error', () => undefined);
    // CAPF sends as fast as the relay takes it, up to 64 MiB.
    const push = () => {
      let more = true;
      while (more && offered < 64 * 1024 * 1024) {
        more = s.write(Buffer.alloc(64 * 1024, 7));
        offered += 64 * 1024;
      }
      if (offered < 64 * 1024 * 1024) s.once('drain', push);
    };
    push();
  });
  try {
    const { relay: r } = await relay({ maxBytes: 64 * 1024 * 1024 }, { port: PLAIN });
    const phone = await rawConnect(HOST, RELAY);
    phone.pause(); // never reads
    phone.write(Buffer.from([0x16]));
    await until('CAPF connected', () => up !== undefined);
    await new Promise((res) => setTimeout(res, 1500));
    const session = r.views()[0];
    // What reached the relay is bounded by the kernel buffers and one chunk over the mark, not by CAPF's 64 MiB.
    expect(session?.toPhone).toBeLessThan(16 * 1024 * 1024);
    expect(session?.queued).toBeLessThan(1024 * 1024);
    // CAPF's side backs up: its writes wait (the relay stopped reading).
    expect(up?.writableLength).toBeGreaterThan(0);
    phone.destroy();
  } finally {
    up?.destroy();
    await new Promise<void>((res) => server.close(() => res()));
  }
}, 20_000);
