/**
 * Issue 12, file descriptors: the real daemon (`phone-proxy start`, dist/) under a soft and hard
 * open-files limit of 256 (prlimit). It warns at start that the policy's worst case does not
 * fit; then TLS connections, never-ACKing TFTP requests and a phone's INVITE flood drive it
 * into EMFILE from outside; then the pressure goes and TFTP (tftp-hpa fetching CTLFile.tlv), TLS
 * (a phone's handshake and REGISTER to a scripted UCM) and media (a call's RTP both ways) serve
 * again, from the same process that never restarted and logged nothing uncaught. A limit too low
 * for even one call is refused at start. Bounded in count and time; loopback only.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { audioSdp, MediaEndpoint, mediaOf, request, respond, sdpOf } from '../sip/sip-helpers';
import { CLI, ROOT, runCli } from '../support/cli-process';
import { rrqPacket, tftpHpaGet } from '../tftp/peers';
import { connectPhone, ScriptedUcm, type SipPeer, sleep, type TestPki, testPki, until } from '../tls/harness';

const SIP = 27161;
const SCCP = 27162;
const TFTP = 27169;
const METRICS = 27164;
const UCM_TCP = 27160;
const MEDIA_MIN = 61800;
const LIMIT = 256;

let work: string;
let stateDir: string;
let pki: TestPki;
let child: ChildProcess | undefined;
let out = '';
const ucm = new ScriptedUcm();
const peers: SipPeer[] = [];
const endpoints: MediaEndpoint[] = [];

function policy(): string {
  return `
interfaces:
  - { name: outside, address: 127.0.1.1/24, role: outside }
  - { name: inside, address: 127.0.2.1/24, role: inside }
cluster:
  mode: nonsecure
  members:
    - { name: cucm1, address: 127.0.2.20, interface: inside, sip-port: ${UCM_TCP} }
tftp-server: { address: 127.0.2.20, interface: inside, port: 27168, timeout: 1 }
media-termination:
  addresses:
    - { interface: outside, address: 127.0.1.11 }
    - { interface: inside, address: 127.0.2.11 }
  rtp-min-port: ${MEDIA_MIN}
  rtp-max-port: ${MEDIA_MIN + 199}
  workers: 1
  # High caps: the fds, not admission, are what the flood runs into.
  max-sessions-per-phone: 200
  max-sessions-per-connection: 200
trustpoints:
  - { name: pp-server, enroll: self, subject: "CN=phone-proxy,O=test" }
  - { name: ldc-issuer, enroll: local-ca, subject: "CN=LDC issuer,O=test" }
  - { name: phone-ca, certificate: phone-ca.pem }
ctl-file:
  records:
    - { function: cucm-tftp, trustpoint: pp-server, address: 127.0.1.1 }
tls-proxy:
  server-trustpoint: pp-server
  ldc-issuer: ldc-issuer
  client-trustpoints: [phone-ca]
  max-connections-per-source: 1000
  max-pending-handshakes-per-source: 1000
  handshake-timeout: 60
listen: { tftp: ${TFTP}, sip-tls: ${SIP}, sccp-tls: ${SCCP} }
control:
  metrics: { port: ${METRICS} }
`;
}

/** `phone-proxy start` under prlimit (which execs node: the pid is the daemon's). */
function startLimited(limit: number): { child: ChildProcess; ready: Promise<'ready' | 'exited'> } {
  const c = spawn(
    'prlimit',
    [
      `--nofile=${limit}:${limit}`,
      '--',
      process.execPath,
      CLI,
      'start',
      '--policy',
      path.join(work, 'policy.yaml'),
      '--state',
      stateDir,
    ],
    { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  out = '';
  const ready = new Promise<'ready' | 'exited'>((resolve) => {
    const timer = setTimeout(() => resolve('exited'), 30_000);
    const onData = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready;')) {
        clearTimeout(timer);
        resolve('ready');
      }
    };
    c.stdout?.on('data', onData);
    c.stderr?.on('data', onData);
    c.once('exit', () => {
      clearTimeout(timer);
      resolve('exited');
    });
  });
  return { child: c, ready };
}

const fdsOf = (pid: number) => readdirSync(`/proc/${pid}/fd`).length;

function register(phone: SipPeer, callId: string, ext: string): void {
  phone.send(
    request('REGISTER', 'sip:127.0.1.1', {
      via: `SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}`,
      callId,
      cseq: 1,
      from: `<sip:${ext}@127.0.1.1>;tag=${callId}`,
      to: `<sip:${ext}@127.0.1.1>`,
      contact: `<sip:${ext}@127.0.1.100:5061;transport=tls>`,
    }),
  );
}

/** REGISTER through the appliance, answered 200 by the scripted UCM on its n-th connection. */
async function registered(cred: TestPki['phone'], n: number, ext: string): Promise<{ phone: SipPeer; up: SipPeer }> {
  const phone = await connectPhone(SIP, cred);
  peers.push(phone);
  const up = await ucm.peer(n, 10_000);
  register(phone, `reg-${ext}-${n}`, ext);
  const atUcm = await up.waitFor((m) => m.startsWith('REGISTER') && m.includes(`reg-${ext}-${n}`), 'REGISTER at UCM');
  up.send(respond(atUcm, 200, 'OK', {}));
  await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes(`reg-${ext}-${n}`), '200 to REGISTER at phone');
  return { phone, up };
}

function invite(callId: string, sdp: string): string {
  return request(
    'INVITE',
    `sip:2000@127.0.1.1:${SIP};transport=tls`,
    {
      from: `<sip:1000@127.0.1.1>;tag=${callId}`,
      to: '<sip:2000@127.0.1.1>',
      callId,
      contact: '<sip:1000@127.0.1.100:5061;transport=tls>',
      via: `SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}`,
      cseq: 1,
    },
    sdp,
  );
}

async function endpoint(address: string): Promise<{ e: MediaEndpoint; port: number }> {
  const e = new MediaEndpoint(address);
  endpoints.push(e);
  return { e, port: await e.bind() };
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  execFileSync('prlimit', ['--version']);
  pki = await testPki();
  work = mkdtempSync(path.join(os.tmpdir(), 'pp-emfile-'));
  stateDir = path.join(work, 'state');
  writeFileSync(path.join(work, 'phone-ca.pem'), pki.manufacturerCa.certPem);
  writeFileSync(path.join(work, 'policy.yaml'), policy());
  await ucm.start(UCM_TCP, undefined, pki.ucm, '');
}, 60_000);

afterAll(async () => {
  for (const p of peers) p.sock.destroy();
  for (const e of endpoints) e.close();
  if (child && child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child?.once('exit', r));
  }
  await ucm.stop();
  rmSync(work, { recursive: true, force: true });
});

describe('the daemon under a 256-fd limit', () => {
  it('refuses to start when not even the listeners and one call fit', async () => {
    const s = startLimited(40);
    expect(await s.ready).toBe('exited');
    expect(s.child.exitCode).not.toBe(0);
    expect(out).toMatch(/open files: soft limit 40, hard 40: not even the listeners and one call fit \(\d+\)/);
    expect(out).toMatch(/media-workers\s+4/);
  }, 40_000);

  it('survives EMFILE on every front and serves again once the pressure goes', async () => {
    const s = startLimited(LIMIT);
    child = s.child;
    expect(await s.ready).toBe('ready');
    const pid = s.child.pid as number;
    // Warned at start, with each term.
    expect(out).toMatch(
      /open-files limit 256 is below the policy's worst case \d+ \(base 64, media-workers 4, listeners 5, control 16, tls 20000, tftp 2000, media 400\)/,
    );
    const resources = await runCli(['show', 'resources', '--json', '--state', stateDir]);
    expect(JSON.parse(resources.stdout)).toMatchObject({ softLimit: LIMIT, verdict: 'short', worstCase: 22_489 });

    const ctlBefore = path.join(work, 'ctl-before.tlv');
    const first = await tftpHpaGet('127.0.1.1', TFTP, 'CTLFile.tlv', ctlBefore);
    expect(first.stdout + first.stderr).toBe('');
    const legit = await registered(pki.phone, 0, '1000');
    const flooder = await registered(pki.phone2, 1, '1001');
    const idle = fdsOf(pid);

    // ---- pressure -------------------------------------------------------------------------
    // 1. The flooder's INVITEs: each allocated session binds 4 sockets in the media worker, so
    //    60 of them need more fds than there are (100 port pairs: the fds run out first).
    const key = randomBytes(30);
    const offer = audioSdp({ address: '127.0.1.100', port: 40000, proto: 'RTP/SAVP', key });
    for (let i = 0; i < 60; i++) flooder.phone.send(invite(`flood-${i}`, offer));
    let refusedCalls = 0;
    await until(
      () => {
        refusedCalls = flooder.phone.messages.filter((m) => /^SIP\/2\.0 (486|488|503)/.test(m)).length;
        return flooder.up.messages.filter((m) => m.startsWith('INVITE')).length + refusedCalls >= 60;
      },
      'every flood INVITE forwarded or refused',
      20_000,
    );
    // 2. TLS: 400 TCP connections that never say a word (each holds an fd until its deadline).
    const raw: net.Socket[] = [];
    let droppedAtAccept = 0;
    await Promise.all(
      Array.from(
        { length: 400 },
        () =>
          new Promise<void>((resolve) => {
            const c = net.connect({ host: '127.0.1.1', port: SIP, localAddress: '127.0.1.200' });
            raw.push(c);
            c.on('error', () => undefined);
            c.once('close', () => {
              droppedAtAccept++;
              resolve();
            });
            c.once('connect', () => setTimeout(resolve, 20));
          }),
      ),
    );
    // 3. TFTP: 300 requests for the CTL from 300 ports that never ACK.
    const tftpClients: dgram.Socket[] = [];
    for (let i = 0; i < 300; i++) {
      const u = dgram.createSocket('udp4');
      tftpClients.push(u);
      u.on('error', () => undefined);
      await new Promise<void>((r) => u.bind(0, '127.0.1.201', () => r()));
      u.send(rrqPacket('CTLFile.tlv'), TFTP, '127.0.1.1');
    }
    await sleep(500);
    const peak = fdsOf(pid);
    const dropped = droppedAtAccept;
    // The control API and metrics listeners at EMFILE too: answered or dropped, never fatal.
    await Promise.all([
      runCli(['show', 'version', '--state', stateDir], 5000),
      fetch(`http://127.0.0.1:${METRICS}/metrics`, { signal: AbortSignal.timeout(2000) }).catch(() => undefined),
    ]);
    // The limit was reached: the process holds (nearly) every fd it may.
    expect(peak).toBeGreaterThan(LIMIT - 16);
    expect(s.child.exitCode).toBeNull();

    // ---- release ----------------------------------------------------------------------------
    for (const c of raw) c.destroy();
    for (const u of tftpClients) u.close();
    flooder.phone.sock.destroy(); // its calls' media sessions go with the connection
    await until(
      () => fdsOf(pid) <= idle + 8,
      () => `fds back near ${idle} (now ${fdsOf(pid)})`,
      20_000,
    );

    // ---- serving again --------------------------------------------------------------------------
    // TFTP: a real tftp-hpa fetch, the same bytes as before the pressure.
    const ctlAfter = path.join(work, 'ctl-after.tlv');
    const again = await tftpHpaGet('127.0.1.1', TFTP, 'CTLFile.tlv', ctlAfter);
    expect(again.stdout + again.stderr).toBe('');
    expect(readFileSync(ctlAfter).equals(readFileSync(ctlBefore))).toBe(true);
    // TLS: a new connection's handshake and REGISTER; the connection held through it still works.
    const fresh = await registered(pki.phone, 2, '1002');
    register(legit.phone, 'reg-1000-again', '1000');
    await legit.up.waitFor((m) => m.includes('reg-1000-again'), 'REGISTER on the connection held through the flood');
    // Media: a call with RTP both ways through the appliance.
    const phoneRtp = await endpoint('127.0.1.101');
    const ucmRtp = await endpoint('127.0.2.31');
    const phoneKey = randomBytes(30);
    fresh.phone.send(
      invite('after-1', audioSdp({ address: '127.0.1.101', port: phoneRtp.port, proto: 'RTP/SAVP', key: phoneKey })),
    );
    const atUcm = await fresh.up.waitFor((m) => m.startsWith('INVITE') && m.includes('after-1'), 'INVITE at UCM');
    fresh.up.send(
      respond(atUcm, 200, 'OK', {
        toTag: 'u-after-1',
        contact: `<sip:2000@127.0.2.20:${UCM_TCP};transport=tcp>`,
        body: audioSdp({ address: '127.0.2.31', port: ucmRtp.port, proto: 'RTP/AVP' }),
      }),
    );
    const ok = await fresh.phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('after-1'), '200 at phone');
    const outside = mediaOf(sdpOf(ok));
    const inside = mediaOf(sdpOf(atUcm));
    phoneRtp.e.secure(phoneKey, outside.key as Buffer);
    await until(
      () => {
        phoneRtp.e.send(Buffer.from('phone-after'), outside, 0x1111);
        ucmRtp.e.send(Buffer.from('ucm-after'), inside, 0x2222);
        return ucmRtp.e.payloads().includes('phone-after') && phoneRtp.e.payloads().includes('ucm-after');
      },
      () => `audio both ways (UCM got ${ucmRtp.e.payloads().slice(-2)}, phone got ${phoneRtp.e.payloads().slice(-2)})`,
      10_000,
    );

    // The same process all along, and every refusal counted.
    expect(s.child.exitCode).toBeNull();
    expect(s.child.pid).toBe(pid);
    const version = await runCli(['show', 'version', '--json', '--state', stateDir]);
    expect(JSON.parse(version.stdout)).toMatchObject({ pid });
    expect(out).not.toMatch(/uncaught/i);
    const metrics = await (await fetch(`http://127.0.0.1:${METRICS}/metrics`)).text();
    const tftpStats = await runCli(['show', 'phone-proxy', 'tftp', '--json', '--state', stateDir]);
    const socketErrors = (JSON.parse(tftpStats.stdout) as { transfers: { socketErrors: number } }).transfers
      .socketErrors;
    const listenerErrors = Number(/event="listener-errors"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    const mediaRefused = Number(/phone_proxy_media_errors_total\{cause="bind-failed"\} (\d+)/.exec(metrics)?.[1] ?? 0);
    process.stdout.write(
      `[emfile] fds idle ${idle}, peak ${peak}/${LIMIT}; flood calls refused ${refusedCalls}/60 (media bind-failed ${mediaRefused}); ` +
        `TCP dropped at accept ${dropped}/400 (listener errors ${listenerErrors}); TFTP socket errors ${socketErrors}/300\n`,
    );
    // Something was refused on each front, and counted.
    expect(refusedCalls).toBeGreaterThan(0);
    expect(mediaRefused).toBeGreaterThan(0);
    // EMFILE on accept: libuv accepts and closes the connection itself (its reserve-fd trick)
    // and tells Node nothing, so the phone sees a close and no listener error is counted.
    expect(dropped).toBeGreaterThan(0);
    expect(socketErrors).toBeGreaterThan(0);
  }, 120_000);
});
