/**
 * Connection admission on the real TLS proxy (issue 12), on loopback with shortened timers:
 * silent and slow handshakes are closed at the deadline and their fds come back; per-source,
 * pending and global limits refuse and count while a legitimate phone still registers; a
 * partial SIP or SCCP message is closed after the message timeout; one certificate opens at
 * most maxPerDevice upstream connections; a phone without a certificate gets a TLS alert; and
 * 200 refused handshakes write a bounded number of warning lines, every one accounted for.
 * Sources are distinct 127.0.x.y addresses (all of 127/8 is local on Linux).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { createTlsProxyService, type TlsProxyDeps, type TlsProxyService } from '../../src/tls/service';
import { request } from '../sip/sip-helpers';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, sleep, until, within } from '../tls/harness';

const PORT = 26161;
const SCCP_PORT = PORT + 1000; // the harness puts listen.sccp-tls there
const UCM_TCP = 26160;
const UCM_TLS = 26162;
const HANDSHAKE_MS = 1000;
const MESSAGE_MS = 1000;

let h: Harness;
const ucm = new ScriptedUcm();
const services: TlsProxyService[] = [];
const sockets: net.Socket[] = [];

const fds = () => readdirSync('/proc/self/fd').length;
const register = (callId: string) =>
  request('REGISTER', 'sip:127.0.1.1', {
    via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKr',
    callId,
    cseq: 1,
    from: '<sip:1000@127.0.1.1>;tag=r',
    to: '<sip:1000@127.0.1.1>',
  });

/** A service on its own port (and SCCP port), started without views. */
async function proxy(
  port: number,
  limits: TlsProxyDeps['limits'],
  extra: { logLimitMs?: number; sccp?: boolean } = {},
): Promise<TlsProxyService> {
  h.ctx.loaded.policy.listen['sip-tls'] = port;
  h.ctx.loaded.policy.listen['sccp-tls'] = port + 1000;
  const s = createTlsProxyService(h.ctx, {
    handshakeTimeoutMs: HANDSHAKE_MS,
    messageTimeoutMs: MESSAGE_MS,
    tickMs: 100,
    connectTimeoutMs: 2000,
    limits,
    ...extra,
  });
  await s.start();
  services.push(s);
  return s;
}

/** A TCP connection that says nothing (or what the caller writes); resolves once connected. */
function silent(port: number, localAddress: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.1.1', port, localAddress });
    sockets.push(s);
    s.on('error', () => undefined);
    s.once('connect', () => resolve(s));
    s.once('close', () => reject(new Error('closed before connect')));
  });
}

const closed = (s: net.Socket) => new Promise<void>((r) => (s.destroyed ? r() : s.once('close', () => r())));

function phoneFrom(port: number, localAddress: string, cred = h.pki.phone2): Promise<SipPeer> {
  return connectPhone(port, cred, { localAddress } as tls.ConnectionOptions);
}

beforeAll(async () => {
  h = await harness({
    mode: 'nonsecure',
    port: PORT,
    ucmTcpPort: UCM_TCP,
    ucmTlsPort: UCM_TLS,
    mediaPort: 63200,
    members: `    - { name: cucm1, address: 127.0.2.20, interface: inside, sip-port: ${UCM_TCP}, sip-tls-port: ${UCM_TLS}, sccp-port: ${UCM_TCP}, sccp-tls-port: ${UCM_TLS}, trustpoint: ucm }`,
  });
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
}, 30_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  for (const s of services) await s.stop();
  await ucm.stop();
  h?.cleanup();
});

describe('handshake deadline', () => {
  it('closes 300 silent and 20 slowloris connections at the deadline, counts them, and the fds come back', async () => {
    const s = await proxy(PORT, { maxConnections: 1000, maxPerSource: 1000, maxPendingPerSource: 1000 });
    const baseline = fds();
    const t0 = Date.now();
    const quiet = await Promise.all(Array.from({ length: 300 }, () => silent(PORT, '127.0.5.1')));
    // Slowloris: a TLS record header, then a byte every 100 ms (Node's inactivity timer never fires).
    const slow = await Promise.all(Array.from({ length: 20 }, () => silent(PORT, '127.0.5.2')));
    for (const c of slow) c.write(Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00]));
    const drip = setInterval(() => {
      for (const c of slow) if (!c.destroyed) c.write(Buffer.from([0x01]));
    }, 100);
    const opened = Date.now();
    let peak = 0;
    try {
      // Connected is not yet accepted: wait until the appliance holds all 320.
      await until(
        () => s.admission.pending === 320,
        () => `320 accepted (${s.admission.pending})`,
      );
      peak = fds();
      expect(peak).toBeGreaterThan(baseline + 600); // both ends of 320 connections are in this process
      await within(Promise.all([...quiet, ...slow].map(closed)), HANDSHAKE_MS + 5000, 'all closed by the appliance');
    } finally {
      clearInterval(drip);
    }
    const closedAt = Date.now();
    // Not before the deadline: the first socket was accepted at t0.
    expect(closedAt - t0).toBeGreaterThanOrEqual(HANDSHAKE_MS);
    expect(s.table.counters['handshake-timeouts']).toBe(320);
    expect(s.table.counters['tls-server-handshake-failures']).toBe(320);
    await until(() => s.admission.connections === 0 && s.admission.pending === 0, 'admission slots returned');
    await until(
      () => fds() <= baseline + 5,
      () => `fds near baseline (${fds()} vs ${baseline})`,
    );
    process.stdout.write(
      `[abuse] 320 handshakes (300 silent, 20 slowloris): opened in ${opened - t0} ms, all closed ${closedAt - opened} ms later (deadline ${HANDSHAKE_MS} ms); fds ${baseline} -> ${peak} -> ${fds()}\n`,
    );
    const metrics = await h.ctx.metrics.getSingleMetricAsString('phone_proxy_tls_proxy_events_total');
    expect(metrics).toMatch(/event="handshake-timeouts"} 320/);
  }, 30_000);
});

describe('connection limits', () => {
  let s: TlsProxyService;
  const port = PORT + 100;
  beforeAll(async () => {
    s = await proxy(port, { maxConnections: 30, maxPerSource: 6, maxPendingPerSource: 4, maxPerDevice: 4 });
  });

  it('refuses past the pending and per-source limits and counts; a legitimate phone still registers', async () => {
    // Source X: 10 silent handshakes, only 4 may be pending.
    const x = await Promise.all(Array.from({ length: 10 }, () => silent(port, '127.0.6.1')));
    await until(() => s.table.counters['refused-pending-limit'] === 6, 'pending refusals counted');
    await until(() => x.filter((c) => c.destroyed).length === 6, '6 refused sockets closed');
    // Source Y: 4 phones that finished their handshake plus 2 silent = 6 open; the 7th is refused.
    const n = ucm.peers.length;
    const phones = await Promise.all(Array.from({ length: 4 }, () => phoneFrom(port, '127.0.6.2', h.pki.phone)));
    await ucm.peer(n + 3);
    await Promise.all([silent(port, '127.0.6.2'), silent(port, '127.0.6.2')]);
    const seventh = await silent(port, '127.0.6.2');
    await within(closed(seventh), 3000, 'the 7th connection from Y refused');
    expect(s.table.counters['refused-source-limit']).toBe(1);
    // During the flood, a phone from elsewhere connects and its REGISTER reaches UCM.
    const legit = await phoneFrom(port, '127.0.6.3');
    const up = await ucm.peer(n + 4);
    legit.send(register('during-flood'));
    await up.waitFor((m) => m.includes('during-flood'), 'REGISTER at UCM during the flood');
    for (const p of [...phones, legit]) p.sock.destroy();
  });

  it('refuses everyone at the global limit; once silent ones time out a phone gets in again', async () => {
    await until(() => s.admission.connections === 0, 'previous test drained', 5000);
    const flood: net.Socket[] = [];
    // 8 sources x 4 pending = 32 attempts against a global limit of 30.
    for (let src = 1; src <= 8; src++)
      for (let i = 0; i < 4; i++) flood.push(await silent(port, `127.0.7.${src}`).catch(() => new net.Socket()));
    await until(() => s.table.counters['refused-global-limit'] === 2, 'global refusals counted');
    await expect(phoneFrom(port, '127.0.7.100')).rejects.toThrow();
    expect(s.table.counters['refused-global-limit']).toBe(3);
    await within(Promise.all(flood.map(closed)), HANDSHAKE_MS + 3000, 'flood closed at the deadline');
    const n = ucm.peers.length;
    const phone = await phoneFrom(port, '127.0.7.100');
    const up = await ucm.peer(n);
    phone.send(register('after-flood'));
    await up.waitFor((m) => m.includes('after-flood'), 'REGISTER at UCM after the flood');
    phone.sock.destroy();
    const stats = await s
      .operatorViews()
      .show.find((v) => v.name === 'tls-proxy statistics')
      ?.render([]);
    const text = stats?.lines?.join('\n') ?? '';
    expect(text).toMatch(/Refused at the global limit\s+: 3/);
    expect(text).toMatch(/Refused, handshakes pending\s+: 6/);
    expect(text).toMatch(/Refused at the source limit\s+: 1/);
  });

  it('one certificate opens at most maxPerDevice upstream connections', async () => {
    await until(() => s.admission.connections === 0, 'previous test drained', 5000);
    const before = ucm.peers.length;
    const attempts = Array.from({ length: 20 }, (_, i) => phoneFrom(port, `127.0.8.${i + 1}`, h.pki.phone));
    // TLS 1.3: the client finishes its handshake before it learns of the refusal, so all resolve.
    const peers = await Promise.all(attempts.map((p) => p.catch(() => undefined)));
    await until(
      () => s.table.counters['refused-device-limit'] === 16,
      () => `16 device refusals (got ${s.table.counters['refused-device-limit']})`,
    );
    await sleep(300);
    expect(ucm.peers.length - before).toBe(4);
    expect(s.admission.onDevice('SEP001122334455')).toBe(4);
    for (const p of peers) p?.sock.destroy();
    await until(() => s.admission.onDevice('SEP001122334455') === 0, 'device slots returned');
  });
});

describe('complete-message timeout', () => {
  let s: TlsProxyService;
  const port = PORT + 200;
  beforeAll(async () => {
    s = await proxy(port, {}, { sccp: true });
  });

  it('a message that arrives in pieces within the limit passes; a partial SIP message is closed after it', async () => {
    const n = ucm.peers.length;
    const phone = await phoneFrom(port, '127.0.9.1');
    const up = await ucm.peer(n);
    const text = register('in-pieces');
    for (const piece of [text.slice(0, 40), text.slice(40, 80), text.slice(80)]) {
      phone.send(piece);
      await sleep(200);
    }
    await up.waitFor((m) => m.includes('in-pieces'), 'a slow but whole REGISTER relayed');
    // Headers without their end: held until the message timeout, never forwarded.
    const t0 = Date.now();
    phone.send('REGISTER sip:127.0.1.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKp\r\n');
    await within(closed(phone.sock), MESSAGE_MS + 2000, 'partial message closed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(MESSAGE_MS);
    expect(s.table.counters['message-timeouts']).toBe(1);
    expect(up.messages.some((m) => m.includes('branch=z9hG4bKp'))).toBe(false);
  });

  it('a partial SCCP message (a header announcing more than is sent) is closed after it', async () => {
    const phone = await phoneFrom(SCCP_PORT + 200, '127.0.9.2');
    await sleep(200); // upstream connected
    const header = Buffer.alloc(12);
    header.writeUInt32LE(100, 0); // length: 96 more bytes that never come
    header.writeUInt32LE(0, 4);
    header.writeUInt32LE(0x0001, 8);
    phone.sock.write(header);
    const t0 = Date.now();
    await within(closed(phone.sock), MESSAGE_MS + 2000, 'partial SCCP message closed');
    expect(Date.now() - t0).toBeGreaterThanOrEqual(MESSAGE_MS - 100);
    expect(s.table.counters['message-timeouts']).toBe(2);
  });
});

describe('certificate refusals', () => {
  let s: TlsProxyService;
  const port = PORT + 300;
  beforeAll(async () => {
    s = await proxy(port, {}, { logLimitMs: 60_000 });
  });

  it.each([
    ['-tls1_3', /alert certificate required.*SSL alert number 116/],
    ['-tls1_2', /alert handshake failure.*SSL alert number 40/],
  ])('a client without a certificate gets a TLS alert (openssl s_client %s) and is counted', async (version, alert) => {
    const before = s.table.counters['refused-no-certificate'];
    const child = spawn('openssl', ['s_client', '-connect', `127.0.1.1:${port}`, version, '-quiet'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.on('exit', () => r()));
    try {
      await within(exited, 8000, 's_client refused');
    } finally {
      child.kill('SIGKILL');
    }
    expect(out).toMatch(alert);
    expect(s.table.counters['refused-no-certificate']).toBe(before + 1);
  });
});

describe('warning rate limit', () => {
  const LIMIT_MS = 3000;
  let s: TlsProxyService;
  const port = PORT + 400;
  beforeAll(async () => {
    s = await proxy(port, {}, { logLimitMs: LIMIT_MS });
  });

  it('200 refused handshakes write a bounded number of warning lines, and every one is accounted for', async () => {
    const from = h.logLines.length;
    const t0 = Date.now();
    for (let batch = 0; batch < 10; batch++) {
      await Promise.all(
        Array.from(
          { length: 20 },
          () =>
            new Promise<void>((resolve) => {
              const c = tls.connect({ host: '127.0.1.1', port, rejectUnauthorized: false });
              c.on('error', () => resolve());
              c.on('close', () => resolve());
            }),
        ),
      );
    }
    await until(() => s.table.counters['refused-no-certificate'] === 200, 'all 200 counted');
    const took = Date.now() - t0;
    // Refusals are written once, to the errors log, their suppressed counts beside them.
    const errorsLog = () =>
      h.logLines
        .slice(from)
        .filter((l) => l.includes('"category":"errors"'))
        .map((l) => JSON.parse(l) as { msg: string; msgId?: string; kind?: string; suppressed?: number });
    // After the window the tick reports what it held back.
    await until(
      () => errorsLog().some((l) => l.kind === 'handshake:no-certificate' && /suppressed/.test(l.msg)),
      'suppressed-count line',
      LIMIT_MS + 2000,
    );
    const lines = errorsLog();
    const written = lines.filter((l) => l.msgId === 'PPX-4-130006').length;
    const reported = lines
      .filter((l) => l.kind === 'handshake:no-certificate')
      .reduce((n, l) => n + (l.suppressed ?? 0), 0);
    process.stdout.write(
      `[abuse] 200 refused handshakes in ${took} ms: ${written} "phone refused" line(s) + ${reported} reported as suppressed\n`,
    );
    expect(written).toBeLessThanOrEqual(1 + Math.ceil(took / LIMIT_MS));
    expect(written + reported).toBe(200);
    expect(s.table.counters['warnings-suppressed']).toBe(reported);
    expect(s.table.counters['tls-server-handshake-failures']).toBe(200);
  }, 30_000);
});
