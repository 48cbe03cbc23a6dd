/**
 * bench:abuse — the issue-12 defences of the real daemon (dist/src/cli.js start, a child
 * process), measured on loopback in one run:
 *   1. idle handshakes: ATTACKERS sources each open PER_SOURCE silent TCP connections to the SIP
 *      TLS port; how many the appliance took, how many it closed, and how long until the last
 *      one went (tls-proxy.handshake-timeout HANDSHAKE_S); meanwhile a legitimate phone opens a
 *      new TLS connection and REGISTERs LEGIT_REGISTERS times and places one call;
 *   2. TFTP amplification towards a source that never ACKs: RRQs for CTLFile.tlv, every reply
 *      datagram counted until the transfers give up, bytes out / bytes in, with IP+UDP headers
 *      (28 bytes a datagram) and payload only; the same against tftpd-hpa (in.tftpd, started
 *      here on loopback, serving the same file) as the anchor;
 *   3. one phone's INVITE flood (never answered): media port pairs left, and whether another
 *      phone's call still gets media.
 * The scripted UCM (TCP SIP: 200 to REGISTER and to the legitimate INVITE, silence otherwise)
 * and all clients run in this process. Last stdout line: one JSON object.
 * Env: ATTACKERS (20), PER_SOURCE (30), LEGIT_REGISTERS (20), TFTP_RRQS (10), FLOOD_INVITES (100).
 * Needs `npm run build` (the daemon runs from dist/) and Debian's tftpd-hpa.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { createCertificate, generateRsaKey } from '../src/pki/x509';
import { SipFramer } from '../src/sip/framing';

const ROOT = path.resolve(__dirname, '../..');
const CLI = path.join(ROOT, 'dist/src/cli.js');
const SIP = 28161;
const TFTP = 28169;
const UCM_TCP = 28160;
const TFTPD_ADDRESS = '127.0.2.21';
const TFTPD_PORT = 28170;
const MEDIA_MIN = 61000;
const HANDSHAKE_S = 2;
const env = (k: string, d: number) => Number(process.env[k] ?? d);
const ATTACKERS = env('ATTACKERS', 20);
const PER_SOURCE = env('PER_SOURCE', 30);
const LEGIT_REGISTERS = env('LEGIT_REGISTERS', 20);
const TFTP_RRQS = env('TFTP_RRQS', 10);
const FLOOD_INVITES = env('FLOOD_INVITES', 100);
/** IPv4 (20) + UDP (8) header bytes a datagram carries on the wire. */
const IP_UDP = 28;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const children: ChildProcess[] = [];

// ---------------------------------------------------------------- SIP peers

class Peer {
  readonly messages: string[] = [];
  private readonly framer = new SipFramer();
  private waiters: { pred: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  constructor(readonly sock: net.Socket) {
    sock.on('error', () => undefined);
    sock.on('data', (chunk: Buffer) => {
      let items: ReturnType<SipFramer['push']>;
      try {
        items = this.framer.push(chunk);
      } catch {
        return;
      }
      for (const it of items) {
        if (it.kind !== 'message') continue;
        const text = it.data.toString('utf8');
        const w = this.waiters.find((x) => x.pred(text));
        if (w) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(text);
        } else this.messages.push(text);
        this.onMessage?.(text);
      }
    });
  }
  onMessage?: (m: string) => void;
  waitFor(pred: (m: string) => boolean, ms = 5000): Promise<string | undefined> {
    const have = this.messages.find(pred);
    if (have) return Promise.resolve(have);
    return new Promise((resolve) => {
      const t = setTimeout(() => resolve(undefined), ms);
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(t);
          resolve(m);
        },
      });
    });
  }
}

function sipRequest(method: string, callId: string, ext: string, body = ''): string {
  return [
    `${method} sip:${method === 'REGISTER' ? '' : '2000@'}127.0.1.1:${SIP};transport=tls SIP/2.0`,
    `Via: SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bK${callId}`,
    `From: <sip:${ext}@127.0.1.1>;tag=${callId}`,
    `To: <sip:${method === 'REGISTER' ? ext : '2000'}@127.0.1.1>`,
    `Call-ID: ${callId}`,
    `CSeq: 1 ${method}`,
    `Contact: <sip:${ext}@127.0.1.100:5061;transport=tls>`,
    'Max-Forwards: 70',
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

function sdp(address: string, port: number, key?: Buffer): string {
  return [
    'v=0',
    `o=- 1 1 IN IP4 ${address}`,
    's=-',
    't=0 0',
    `m=audio ${port} ${key ? 'RTP/SAVP' : 'RTP/AVP'} 0`,
    `c=IN IP4 ${address}`,
    ...(key ? [`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${key.toString('base64')}`] : []),
    'a=rtpmap:0 PCMU/8000',
    'a=sendrecv',
    '',
  ].join('\r\n');
}

function reply(req: string, status: string, body = ''): string {
  const head = req.slice(0, req.indexOf('\r\n\r\n')).split('\r\n');
  const keep = head.filter((l) => /^(via|from|call-id|cseq):/i.test(l));
  const to = head.find((l) => /^to:/i.test(l)) ?? 'To: <sip:x@x>';
  return [
    `SIP/2.0 ${status}`,
    ...keep,
    `${to};tag=ucm`,
    `Contact: <sip:2000@127.0.2.20:${UCM_TCP};transport=tcp>`,
    ...(body ? ['Content-Type: application/sdp'] : []),
    `Content-Length: ${Buffer.byteLength(body)}`,
    '',
    body,
  ].join('\r\n');
}

/** The scripted UCM: 200 to REGISTER, 200 with RTP SDP to INVITEs whose Call-ID starts "legit". */
function startUcm(): Promise<net.Server> {
  const server = net.createServer((s) => {
    const p = new Peer(s);
    p.onMessage = (m) => {
      const callId = /Call-ID: (\S+)/i.exec(m)?.[1] ?? '';
      if (m.startsWith('REGISTER')) s.write(reply(m, '200 OK'));
      else if (m.startsWith('INVITE') && callId.startsWith('legit'))
        s.write(reply(m, '200 OK', sdp('127.0.2.31', 40_000)));
    };
  });
  return new Promise((resolve) => server.listen(UCM_TCP, '127.0.2.20', () => resolve(server)));
}

// ---------------------------------------------------------------- the daemon

function policy(): string {
  return `
interfaces:
  - { name: outside, address: 127.0.1.1/24, role: outside }
  - { name: inside, address: 127.0.2.1/24, role: inside }
cluster:
  mode: nonsecure
  members:
    - { name: cucm1, address: 127.0.2.20, interface: inside, sip-port: ${UCM_TCP} }
tftp-server: { address: ${TFTPD_ADDRESS}, interface: inside, port: ${TFTPD_PORT} }
media-termination:
  addresses:
    - { interface: outside, address: 127.0.1.11 }
    - { interface: inside, address: 127.0.2.11 }
  rtp-min-port: ${MEDIA_MIN}
  rtp-max-port: ${MEDIA_MIN + 199}
  workers: 1
trustpoints:
  - { name: pp-server, enroll: self, subject: "CN=phone-proxy,O=bench" }
  - { name: phone-ca, certificate: phone-ca.pem }
ctl-file:
  records:
    - { function: cucm-tftp, trustpoint: pp-server, address: 127.0.1.1 }
tls-proxy:
  server-trustpoint: pp-server
  client-trustpoints: [phone-ca]
  handshake-timeout: ${HANDSHAKE_S}
listen: { tftp: ${TFTP}, sip-tls: ${SIP}, sccp-tls: ${SIP + 1} }
`;
}

async function startDaemon(dir: string): Promise<ChildProcess> {
  const c = spawn(
    process.execPath,
    [CLI, 'start', '--policy', path.join(dir, 'policy.yaml'), '--state', path.join(dir, 'state')],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  children.push(c);
  let out = '';
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`daemon not ready:\n${out}`)), 30_000);
    const on = (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready;')) {
        clearTimeout(t);
        resolve();
      }
    };
    c.stdout?.on('data', on);
    c.stderr?.on('data', on);
    c.once('exit', () => reject(new Error(`daemon exited:\n${out}`)));
  });
  return c;
}

function cli(dir: string, args: string[]): Promise<string> {
  return new Promise((resolve) =>
    execFile(process.execPath, [CLI, ...args, '--state', path.join(dir, 'state')], { cwd: ROOT }, (_e, stdout) =>
      resolve(stdout),
    ),
  );
}

type Cred = { certPem: string; keyPem: string };

function phoneTls(cred: Cred, localAddress = '127.0.1.100'): Promise<Peer | undefined> {
  return new Promise((resolve) => {
    const s = tls.connect({
      host: '127.0.1.1',
      port: SIP,
      localAddress,
      cert: cred.certPem,
      key: cred.keyPem,
      rejectUnauthorized: false,
    } as tls.ConnectionOptions);
    const t = setTimeout(() => {
      s.destroy();
      resolve(undefined);
    }, 5000);
    s.once('secureConnect', () => {
      clearTimeout(t);
      resolve(new Peer(s));
    });
    s.once('error', () => {
      clearTimeout(t);
      resolve(undefined);
    });
  });
}

/** A new TLS connection and one REGISTER answered 200. */
async function registerOnce(cred: Cred, n: number): Promise<boolean> {
  const p = await phoneTls(cred);
  if (!p) return false;
  p.sock.write(sipRequest('REGISTER', `reg-${n}`, '1000'));
  const ok = await p.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes(`reg-${n}`));
  p.sock.destroy();
  return ok !== undefined;
}

async function legitCall(cred: Cred, n: number): Promise<boolean> {
  const p = await phoneTls(cred);
  if (!p) return false;
  p.sock.write(sipRequest('INVITE', `legit-${n}`, '1000', sdp('127.0.1.101', 40_000, randomBytes(30))));
  const ok = await p.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes(`legit-${n}`));
  p.sock.destroy();
  return ok !== undefined && /m=audio \d+ RTP\/SAVP/.test(ok);
}

// ---------------------------------------------------------------- phases

async function idleHandshakes(phone: Cred) {
  const t0 = performance.now();
  let opened = 0;
  let closedQuickly = 0;
  let closedAtDeadline = 0;
  let lastClose = 0;
  const socks: net.Socket[] = [];
  const all: Promise<void>[] = [];
  for (let a = 0; a < ATTACKERS; a++) {
    for (let i = 0; i < PER_SOURCE; i++) {
      all.push(
        new Promise<void>((resolve) => {
          const s = net.connect({ host: '127.0.1.1', port: SIP, localAddress: `127.0.1.${150 + a}` });
          socks.push(s);
          let at = 0;
          s.on('error', () => undefined);
          s.once('connect', () => {
            opened++;
            at = performance.now();
          });
          s.once('close', () => {
            const now = performance.now();
            // Refused at admission: closed at once; held: closed at the handshake deadline.
            if (at && now - at < 500) closedQuickly++;
            else closedAtDeadline++;
            lastClose = now;
            resolve();
          });
        }),
      );
    }
  }
  await sleep(200);
  // The legitimate phone while the flood holds its slots.
  let registered = 0;
  for (let n = 0; n < LEGIT_REGISTERS; n++) if (await registerOnce(phone, n)) registered++;
  const called = (await legitCall(phone, 1)) ? 1 : 0;
  await Promise.race([Promise.all(all), sleep(HANDSHAKE_S * 1000 * 3 + 5000)]);
  for (const s of socks) s.destroy();
  return {
    idle_attempted: ATTACKERS * PER_SOURCE,
    idle_opened: opened,
    idle_refused_at_once: closedQuickly,
    idle_closed_at_deadline: closedAtDeadline,
    idle_seconds_to_close_all: Math.round((lastClose - t0) / 10) / 100,
    handshake_timeout_s: HANDSHAKE_S,
    legit_register_ok: registered,
    legit_register_tried: LEGIT_REGISTERS,
    legit_call_ok: called,
  };
}

/** RRQs from TFTP_RRQS ports of a source that never ACKs; every reply datagram counted. */
async function amplification(address: string, port: number, listenMs: number) {
  let inPackets = 0;
  let inBytes = 0;
  let outPackets = 0;
  let outBytes = 0;
  const socks: dgram.Socket[] = [];
  for (let i = 0; i < TFTP_RRQS; i++) {
    const s = dgram.createSocket('udp4');
    socks.push(s);
    await new Promise<void>((r) => s.bind(0, '127.0.1.210', () => r()));
    s.on('message', (msg) => {
      outPackets++;
      outBytes += msg.length;
    });
    const rrq = Buffer.concat([Buffer.from([0, 1]), Buffer.from('CTLFile.tlv\0octet\0', 'latin1')]);
    s.send(rrq, port, address);
    inPackets++;
    inBytes += rrq.length;
  }
  await sleep(listenMs);
  for (const s of socks) s.close();
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    rrqs: inPackets,
    reply_datagrams: outPackets,
    bytes_in: inBytes,
    bytes_out: outBytes,
    factor_payload: round(outBytes / inBytes),
    factor_wire: round((outBytes + IP_UDP * outPackets) / (inBytes + IP_UDP * inPackets)),
  };
}

async function inviteFlood(dir: string, flooderCred: Cred, phone: Cred) {
  const flooder = await phoneTls(flooderCred, '127.0.1.102');
  if (!flooder) throw new Error('flooding phone could not connect');
  for (let i = 0; i < FLOOD_INVITES; i++)
    flooder.sock.write(sipRequest('INVITE', `flood-${i}`, '1001', sdp('127.0.1.102', 40_000, randomBytes(30))));
  // Every INVITE is forwarded (allocated) or refused (486/503) by now.
  for (let i = 0; i < 50; i++) {
    const refused = flooder.messages.filter((m) => /^SIP\/2\.0 (486|503)/.test(m)).length;
    if (refused >= FLOOD_INVITES - 12) break;
    await sleep(100);
  }
  const refused = flooder.messages.filter((m) => /^SIP\/2\.0 (486|503)/.test(m)).length;
  const view = JSON.parse(await cli(dir, ['show', 'media-termination', '--json'])) as {
    addresses: { total: number; free: number }[];
  };
  const ok = await legitCall(phone, 2);
  flooder.sock.destroy();
  return {
    flood_invites: FLOOD_INVITES,
    flood_refused: refused,
    ports_pairs_total: Math.min(...view.addresses.map((a) => a.total)),
    ports_pairs_left_for_others: Math.min(...view.addresses.map((a) => a.free)),
    legit_call_after_flood_ok: ok ? 1 : 0,
  };
}

// ---------------------------------------------------------------- main

async function main(): Promise<void> {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-bench-abuse-'));
  try {
    const [k1, k2, k3] = await Promise.all([generateRsaKey(2048), generateRsaKey(2048), generateRsaKey(2048)]);
    const ca: Cred = {
      certPem: createCertificate({ subject: 'CN=Bench CA,O=bench', subjectKeyPem: k1, ca: true }),
      keyPem: k1,
    };
    const leaf = (cn: string, k: string): Cred => ({
      certPem: createCertificate({ subject: `CN=${cn}`, subjectKeyPem: k, issuer: ca }),
      keyPem: k,
    });
    const phone = leaf('SEP001122334455', k2);
    const flooder = leaf('SEP0011223344AA', k3);
    writeFileSync(path.join(dir, 'phone-ca.pem'), ca.certPem);
    writeFileSync(path.join(dir, 'policy.yaml'), policy());
    const ucm = await startUcm();
    const daemon = await startDaemon(dir);

    const handshakes = await idleHandshakes(phone);
    // The CTL the appliance serves, copied to tftpd-hpa so both serve the same bytes.
    const ctlDir = path.join(dir, 'tftpd');
    await new Promise<void>((r) => execFile('mkdir', ['-p', ctlDir], () => r()));
    await new Promise<void>((r) =>
      execFile(
        'tftp',
        ['-m', 'binary', '127.0.1.1', String(TFTP), '-c', 'get', 'CTLFile.tlv', path.join(ctlDir, 'CTLFile.tlv')],
        () => r(),
      ),
    );
    const ctlBytes = readFileSync(path.join(ctlDir, 'CTLFile.tlv')).length;
    const tftpd = spawn(
      'in.tftpd',
      ['--foreground', '--address', `${TFTPD_ADDRESS}:${TFTPD_PORT}`, '--secure', '--user', 'root', ctlDir],
      { stdio: 'ignore' },
    );
    children.push(tftpd);
    await sleep(300);
    // Both give up on a silent client within ~15 s (appliance: unproven wait 6 s; tftpd-hpa: its retries).
    const [appliance, tftpdHpa] = await Promise.all([
      amplification('127.0.1.1', TFTP, 20_000),
      amplification(TFTPD_ADDRESS, TFTPD_PORT, 20_000),
    ]);
    const flood = await inviteFlood(dir, flooder, phone);

    daemon.kill('SIGTERM');
    ucm.close();
    const result = {
      ...handshakes,
      ctl_bytes: ctlBytes,
      tftp_appliance: appliance,
      tftp_tftpd_hpa: tftpdHpa,
      ...flood,
    };
    console.log(JSON.stringify(result));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGTERM');
    rmSync(dir, { recursive: true, force: true });
  }
}

main().then(
  () => setTimeout(() => process.exit(0), 500).unref(),
  (err: Error) => {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    console.error(err.message);
    process.exit(1);
  },
);
