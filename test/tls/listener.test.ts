/**
 * The phone-facing TLS listener with real peers: `openssl s_client` as the phone (accepted with
 * a certificate chaining to the manufacturer CA; refused and counted without one, with an
 * untrusted one, with an expired one), per-subnet server certificates and strict ciphers.
 */

import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import tls from 'node:tls';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { serve } from '../support/serve';
import { type Harness, harness, ScriptedUcm, until, within } from './harness';

const PORT = 25161;
const UCM_TCP = 25160;
const UCM_TLS = 25162;

let h: Harness;
let service: TlsProxyService;
const ucm = new ScriptedUcm();
const children: ChildProcess[] = [];

function sClient(args: string[]): { child: ChildProcess; output: () => string; exited: Promise<number | null> } {
  const child = spawn('openssl', ['s_client', '-connect', `127.0.1.1:${PORT}`, '-quiet', ...args], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
  return { child, output: () => out, exited };
}

function files(name: string, cred: { certPem: string; keyPem: string }): string[] {
  const cert = path.join(h.dir, `${name}.pem`);
  const key = path.join(h.dir, `${name}.key`);
  writeFileSync(cert, cred.certPem);
  writeFileSync(key, cred.keyPem, { mode: 0o600 });
  return ['-cert', cert, '-key', key];
}

const stat = (name: string) => (service.table.counters as Record<string, number>)[name];

beforeAll(async () => {
  h = await harness({
    mode: 'nonsecure',
    port: PORT,
    ucmTcpPort: UCM_TCP,
    ucmTlsPort: UCM_TLS,
    mediaPort: 62000,
    extraTls: '  remote-addr:\n    - { subnet: 127.0.3.0/24, trustpoint: alt-server, strict-cipher: true }',
  });
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  service = createTlsProxyService(h.ctx);
  await serve(service, h.ctx.control);
}, 30_000);

afterAll(async () => {
  for (const c of children) c.kill('SIGKILL');
  await service?.stop();
  await ucm.stop();
  h?.cleanup();
});

describe('TLS listener (openssl s_client as the phone)', () => {
  it('accepts a phone certificate chaining to the manufacturer CA and relays its bytes upstream', async () => {
    const c = sClient([...files('phone', h.pki.phone)]);
    const options =
      'OPTIONS sip:127.0.1.1 SIP/2.0\r\nVia: SIP/2.0/TLS 127.0.1.1:5061;branch=z9hG4bKs1\r\nCall-ID: s1\r\nCSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n';
    c.child.stdin?.write(options);
    const peer = await ucm.peer(0);
    const got = await peer.waitFor((m) => m.startsWith('OPTIONS'), 'OPTIONS at UCM');
    expect(got).toContain('Call-ID: s1');
    const view = await h.ctx.control.findShow(['tls-proxy', 'sessions'])?.item.render([]);
    expect(JSON.stringify(view?.data)).toContain('SEP001122334455');
    c.child.kill('SIGKILL');
    await c.exited;
    await until(() => service.table.active === 0, 'connection gone');
  });

  it.each([
    ['no certificate', () => [], /sent no certificate/],
    [
      'an untrusted certificate',
      () => files('evil', h.pki.untrustedPhone),
      /certificate validation: (UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT\w*)/,
    ],
    ['an expired certificate', () => files('old', h.pki.expiredPhone), /certificate validation: CERT_HAS_EXPIRED/],
  ])('refuses a phone with %s, counts and logs the reason', async (_what, args, reason) => {
    const before = stat('tls-server-handshake-failures') ?? 0;
    const lines = h.logLines.length;
    const c = sClient(args());
    // s_client exits once the appliance drops the connection
    await within(c.exited, 8000, 's_client to be disconnected');
    expect(stat('tls-server-handshake-failures')).toBe(before + 1);
    expect(h.logLines.slice(lines).join('')).toMatch(reason);
    expect(service.table.active).toBe(0);
  });
});

describe('server certificate and cipher policy per remote subnet', () => {
  const connectFrom = (localAddress: string, opts: tls.ConnectionOptions = {}) =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host: '127.0.1.1',
        port: PORT,
        localAddress,
        cert: h.pki.phone.certPem,
        key: h.pki.phone.keyPem,
        rejectUnauthorized: false,
        ...opts,
      } as tls.ConnectionOptions); // localAddress reaches net.connect
      s.once('secureConnect', () => resolve(s));
      s.once('error', reject);
    });

  it('presents the default trustpoint to other addresses, with strong ciphers', async () => {
    const s = await connectFrom('127.0.1.50');
    expect(s.getPeerCertificate().subject.CN).toBe('phone-proxy');
    expect(s.getProtocol()).toMatch(/TLSv1\.[23]/);
    s.destroy();
  });

  it('presents the remote-addr trustpoint to its subnet, with the strict suites only', async () => {
    const s = await connectFrom('127.0.3.5', { maxVersion: 'TLSv1.2' });
    expect(s.getPeerCertificate().subject.CN).toBe('phone-proxy-branch');
    expect(s.getCipher().standardName).toBe('TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256');
    s.destroy();
    // SIP's mandatory suite is accepted in strict mode ...
    const mti = await connectFrom('127.0.3.6', { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' });
    expect(mti.getCipher().standardName).toBe('TLS_RSA_WITH_AES_128_CBC_SHA');
    mti.destroy();
    // ... a strong suite outside the strict set is not, and the default subnet accepts it.
    const before = stat('tls-server-handshake-failures') ?? 0;
    await expect(
      connectFrom('127.0.3.7', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' }),
    ).rejects.toThrow();
    await until(() => stat('tls-server-handshake-failures') === before + 1, 'strict refusal counted');
    const ok = await connectFrom('127.0.1.51', { maxVersion: 'TLSv1.2', ciphers: 'ECDHE-RSA-AES256-GCM-SHA384' });
    ok.destroy();
  });

  it('refuses TLS 1.0 and AES128-SHA by default (legacy-phones off)', async () => {
    await expect(
      connectFrom('127.0.1.52', { minVersion: 'TLSv1', maxVersion: 'TLSv1', ciphers: 'AES128-SHA:@SECLEVEL=0' }),
    ).rejects.toThrow();
    await expect(connectFrom('127.0.1.53', { maxVersion: 'TLSv1.2', ciphers: 'AES128-SHA' })).rejects.toThrow();
  });
});

describe('legacy-phones', () => {
  it('accepts TLS 1.0 with AES128-SHA only when the policy allows it, and says so loudly at start', async () => {
    const tlsPolicy = h.ctx.loaded.policy['tls-proxy'];
    const saved = { ...tlsPolicy };
    Object.assign(tlsPolicy, { 'legacy-phones': true, 'min-version': 'TLSv1' });
    h.ctx.loaded.policy.listen['sip-tls'] = PORT + 5;
    const legacy = createTlsProxyService(h.ctx);
    const lines = h.logLines.length;
    try {
      await legacy.start();
      expect(h.logLines.slice(lines).join('')).toMatch(
        /"level":40.*LEGACY PHONES ALLOWED: TLS 1\.0\/1\.1 and AES128-SHA/,
      );
      const s = await new Promise<tls.TLSSocket>((resolve, reject) => {
        const c = tls.connect({
          host: '127.0.1.1',
          port: PORT + 5,
          cert: h.pki.phone.certPem,
          key: h.pki.phone.keyPem,
          rejectUnauthorized: false,
          minVersion: 'TLSv1',
          maxVersion: 'TLSv1',
          ciphers: 'AES128-SHA:@SECLEVEL=0',
        });
        c.once('secureConnect', () => resolve(c));
        c.once('error', reject);
      });
      expect(s.getProtocol()).toBe('TLSv1');
      expect(s.getCipher().standardName).toBe('TLS_RSA_WITH_AES_128_CBC_SHA');
      s.destroy();
    } finally {
      await legacy.stop();
      Object.assign(tlsPolicy, saved);
      h.ctx.loaded.policy.listen['sip-tls'] = PORT;
    }
  });
});
