/**
 * Shared pieces of the TLS proxy integration tests: a real state directory (openState) with a
 * test manufacturer CA, phone certificates, a scripted UCM (TCP and TLS) and a scripted phone.
 * Everything listens on loopback (outside 127.0.1.x, inside 127.0.2.x) on high ports.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { Registry } from 'prom-client';
import { parsePolicy } from '../../src/config/load-policy';
import { ControlRegistry } from '../../src/control/registry';
import { Logs } from '../../src/log';
import { openState } from '../../src/pki/state';
import { createCertificate, generateRsaKey } from '../../src/pki/x509';
import { SipFramer } from '../../src/sip/framing';
import type { TestContext } from '../support/serve';

export interface Cred {
  certPem: string;
  keyPem: string;
}

export interface TestPki {
  manufacturerCa: Cred;
  otherCa: Cred;
  phone: Cred;
  /** Second phone, for the "one connection does not affect another" tests. */
  phone2: Cred;
  untrustedPhone: Cred;
  expiredPhone: Cred;
  ucm: Cred;
}

let pkiPromise: Promise<TestPki> | undefined;

/** Test certificates, generated once per test file (RSA keys from node:crypto). */
export function testPki(): Promise<TestPki> {
  pkiPromise ??= (async () => {
    const [k1, k2, k3, k4, k5, k6, k7] = await Promise.all(Array.from({ length: 7 }, () => generateRsaKey(2048)));
    const ca = (subject: string, keyPem: string): Cred => ({
      certPem: createCertificate({ subject, subjectKeyPem: keyPem, ca: true }),
      keyPem,
    });
    const manufacturerCa = ca('CN=Test Manufacturing CA,O=test', k1 as string);
    const otherCa = ca('CN=Someone Else CA,O=evil', k2 as string);
    const leaf = (subject: string, keyPem: string, issuer: Cred, extra: { days?: number; now?: Date } = {}): Cred => ({
      certPem: createCertificate({ subject, subjectKeyPem: keyPem, issuer, ...extra }),
      keyPem,
    });
    return {
      manufacturerCa,
      otherCa,
      phone: leaf('CN=CP-8865-SEP001122334455,O=Cisco Systems Inc.', k3 as string, manufacturerCa),
      phone2: leaf('CN=SEP0011223344AA', k4 as string, manufacturerCa),
      untrustedPhone: leaf('CN=SEP00112233EEEE', k5 as string, otherCa),
      expiredPhone: leaf('CN=SEP001122330000', k6 as string, manufacturerCa, {
        days: 1,
        now: new Date(Date.now() - 10 * 86400_000),
      }),
      ucm: {
        certPem: createCertificate({ subject: 'CN=cucm1,O=test', subjectKeyPem: k7 as string }),
        keyPem: k7 as string,
      },
    };
  })();
  return pkiPromise;
}

export interface HarnessOptions {
  mode: 'nonsecure' | 'mixed';
  /** Phone-facing port (listen.sip-tls). */
  port: number;
  ucmTcpPort: number;
  ucmTlsPort: number;
  /** Media-termination port range start (100 ports; above the ephemeral range, 32768-60999). */
  mediaPort: number;
  extraTls?: string;
  members?: string;
  /** The appliance's TFTP listener (only bound when the whole daemon runs). */
  tftpPort?: number;
}

export interface Harness {
  ctx: TestContext;
  dir: string;
  pki: TestPki;
  logLines: string[];
  cleanup(): void;
}

export async function harness(o: HarnessOptions): Promise<Harness> {
  const pki = await testPki();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'pp-tls-'));
  writeFileSync(path.join(dir, 'phone-ca.pem'), pki.manufacturerCa.certPem);
  writeFileSync(path.join(dir, 'ucm.pem'), pki.ucm.certPem);
  const yaml = `
interfaces:
  - { name: outside, address: 127.0.1.1/24, role: outside }
  - { name: inside, address: 127.0.2.1/24, role: inside }
cluster:
  mode: ${o.mode}
  members:
${
  o.members ??
  `    - { name: cucm1, address: 127.0.2.20, interface: inside, sip-port: ${o.ucmTcpPort}, sip-tls-port: ${o.ucmTlsPort}, trustpoint: ucm }`
}
tftp-server: { address: 127.0.2.20, interface: inside, port: 10069 }
media-termination:
  addresses:
    - { interface: outside, address: 127.0.1.11 }
    - { interface: inside, address: 127.0.2.11 }
  rtp-min-port: ${o.mediaPort}
  rtp-max-port: ${o.mediaPort + 99}
  workers: 1
trustpoints:
  - { name: pp-server, enroll: self, subject: "CN=phone-proxy,O=test" }
  - { name: alt-server, enroll: self, subject: "CN=phone-proxy-branch,O=test" }
  - { name: ldc-issuer, enroll: local-ca, subject: "CN=LDC issuer,O=test" }
  - { name: phone-ca, certificate: phone-ca.pem }
  - { name: ucm, certificate: ucm.pem }
ctl-file:
  records:
    - { function: cucm-tftp, trustpoint: pp-server, address: 127.0.1.1 }
tls-proxy:
  server-trustpoint: pp-server
  ldc-issuer: ldc-issuer
  client-trustpoints: [phone-ca]
${o.extraTls ?? ''}
listen: { tftp: ${o.tftpPort ?? 10069}, sip-tls: ${o.port}, sccp-tls: ${o.port + 1000} }
`;
  const file = path.join(dir, 'policy.yaml');
  writeFileSync(file, yaml);
  const loaded = parsePolicy(yaml, file);
  const state = await openState(path.join(dir, 'state'), loaded);
  const logLines: string[] = [];
  const logs = new Logs('info', { write: (s: string) => void logLines.push(s) });
  const ctx: TestContext = {
    loaded,
    state,
    logs,
    control: new ControlRegistry(),
    metrics: new Registry(),
  };
  return { ctx, dir, pki, logLines, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A SIP peer on one stream: collects framed messages, answers nothing by itself. */
export class SipPeer {
  readonly messages: string[] = [];
  private readonly framer = new SipFramer();
  private waiters: { pred: (m: string) => boolean; resolve: (m: string) => void }[] = [];
  closed = false;

  constructor(readonly sock: net.Socket) {
    sock.on('data', (chunk: Buffer) => {
      for (const item of this.framer.push(chunk)) {
        if (item.kind !== 'message') continue;
        const text = item.data.toString('utf8');
        this.messages.push(text);
        this.waiters = this.waiters.filter((w) => {
          if (!w.pred(text)) return true;
          w.resolve(text);
          return false;
        });
      }
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => undefined);
  }

  send(text: string): void {
    this.sock.write(text);
  }

  /** Next message (already received or future) matching pred, bounded in time. */
  waitFor(pred: (m: string) => boolean, what: string, timeoutMs = 5000): Promise<string> {
    const have = this.messages.find(pred);
    if (have) {
      this.messages.splice(this.messages.indexOf(have), 1);
      return Promise.resolve(have);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`timed out waiting for ${what}; got:\n${this.messages.join('\n---\n')}`)),
        timeoutMs,
      );
      this.waiters.push({
        pred,
        resolve: (m) => {
          clearTimeout(timer);
          this.messages.splice(this.messages.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }
}

/** Scripted UCM: accepts TCP and TLS connections on 127.0.2.20 and exposes each as a SipPeer. */
export class ScriptedUcm {
  readonly peers: SipPeer[] = [];
  readonly tlsPeers: { peer: SipPeer; cert: tls.PeerCertificate }[] = [];
  private readonly servers: net.Server[] = [];
  private waiting: ((p: SipPeer) => void)[] = [];
  tlsRefusals = 0;

  async start(
    tcpPort: number | undefined,
    tlsPort: number | undefined,
    cred: Cred,
    ldcIssuerPem: string,
    address = '127.0.2.20',
  ): Promise<void> {
    const add = (sock: net.Socket) => {
      const peer = new SipPeer(sock);
      this.peers.push(peer);
      for (const w of this.waiting.splice(0)) w(peer);
      return peer;
    };
    const servers: [net.Server, number][] = [];
    if (tcpPort) servers.push([net.createServer((s) => add(s)), tcpPort]);
    if (tlsPort) {
      const secure = tls.createServer(
        { cert: cred.certPem, key: cred.keyPem, requestCert: true, rejectUnauthorized: true, ca: [ldcIssuerPem] },
        (s) => {
          const peer = add(s);
          this.tlsPeers.push({ peer, cert: s.getPeerCertificate() });
        },
      );
      secure.on('tlsClientError', () => {
        this.tlsRefusals++;
      });
      servers.push([secure, tlsPort]);
    }
    for (const [server, port] of servers) {
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(port, address, () => resolve());
      });
      this.servers.push(server);
    }
  }

  /** The n-th connection (0-based), waiting for it if needed. */
  async peer(n: number, timeoutMs = 5000): Promise<SipPeer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.peers[n]) {
      if (Date.now() > deadline) throw new Error(`UCM: no connection #${n}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiting.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.peers[n] as SipPeer;
  }

  async stop(): Promise<void> {
    for (const p of this.peers) p.sock.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
  }
}

/** A scripted phone: mutual TLS to the appliance's outside address. */
export function connectPhone(port: number, cred: Cred | undefined, opts: tls.ConnectionOptions = {}): Promise<SipPeer> {
  return new Promise((resolve, reject) => {
    const sock = tls.connect({
      host: '127.0.1.1',
      port,
      ...(cred ? { cert: cred.certPem, key: cred.keyPem } : {}),
      rejectUnauthorized: false,
      ...opts,
    });
    sock.once('secureConnect', () => resolve(new SipPeer(sock)));
    sock.once('error', reject);
  });
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls until cond() holds (bounded). */
export async function until(cond: () => boolean, what: string | (() => string), timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${typeof what === 'string' ? what : what()}`);
    await sleep(20);
  }
}

/** p, or a rejection naming what did not happen within ms (the timer never outlives p). */
export function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_r, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}
