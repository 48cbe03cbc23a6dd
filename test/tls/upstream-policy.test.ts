/**
 * tls-proxy.upstream (issue 13): the TLS leg to UCM in a mixed-mode cluster, against
 * `openssl s_server` on loopback as a stand-in UCM that verifies the phone's LDC. An old UCM that
 * speaks only TLS 1.1 is refused by the default (strong) policy, counted as a client handshake
 * failure; `ciphers: legacy` with `min-version: TLSv1.1` reaches it and bytes flow (logged loudly
 * at start); a TLS 1.3-only UCM works with the default.
 */
import { type ChildProcessWithoutNullStreams, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TlsUpstream } from '../../src/config/policy-schema';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { request } from '../sip/sip-helpers';
import { connectPhone, type Harness, harness, type SipPeer, until } from './harness';

const UCM_TCP = 26460;
const PORT = 26461;
const UCM_TLS = 26462;

let h: Harness;

/** A stand-in UCM: s_server on the member's TLS port, requiring a client certificate from the LDC issuer. */
class SServer {
  out = '';
  private proc?: ChildProcessWithoutNullStreams;

  async start(protocolArgs: string[]): Promise<void> {
    const proc = spawn(
      'openssl',
      [
        's_server',
        '-accept',
        `127.0.2.20:${UCM_TLS}`,
        '-cert',
        path.join(h.dir, 'ucm.pem'),
        '-key',
        path.join(h.dir, 'ucm-key.pem'),
        '-Verify',
        '1',
        '-CAfile',
        path.join(h.dir, 'ldc-issuer.pem'),
        ...protocolArgs,
      ],
      { stdio: 'pipe' },
    );
    this.proc = proc;
    proc.stdout.on('data', (d: Buffer) => {
      this.out += d.toString('utf8');
    });
    proc.stderr.on('data', (d: Buffer) => {
      this.out += d.toString('utf8');
    });
    await until(
      () => this.out.includes('ACCEPT'),
      () => `s_server listening; output:\n${this.out}`,
    );
  }

  async stop(): Promise<void> {
    const proc = this.proc;
    if (!proc || proc.exitCode !== null) return;
    await new Promise<void>((r) => {
      proc.once('exit', () => r());
      proc.kill('SIGTERM');
    });
  }
}

const options = (callId: string) =>
  request('OPTIONS', 'sip:127.0.1.1', {
    via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKo',
    callId,
    cseq: 1,
    from: '<sip:1000@127.0.1.1>;tag=o',
    to: '<sip:127.0.1.1>',
  });

/** A service on the policy as it stands, with every phone authenticated on UCM (TLS leg + LDC). */
async function withService(upstream: TlsUpstream | undefined, body: (s: TlsProxyService) => Promise<void>) {
  const tlsPolicy = h.ctx.loaded.policy['tls-proxy'];
  const saved = tlsPolicy.upstream;
  if (upstream) tlsPolicy.upstream = upstream;
  const service = createTlsProxyService(h.ctx, {
    phones: { get: () => ({ originalMode: 'authenticated' }) },
    connectTimeoutMs: 3000,
  });
  try {
    await service.start();
    await body(service);
  } finally {
    await service.stop();
    tlsPolicy.upstream = saved;
  }
}

beforeAll(async () => {
  h = await harness({ mode: 'mixed', port: PORT, ucmTcpPort: UCM_TCP, ucmTlsPort: UCM_TLS, mediaPort: 63000 });
  writeFileSync(path.join(h.dir, 'ucm-key.pem'), h.pki.ucm.keyPem);
  writeFileSync(path.join(h.dir, 'ldc-issuer.pem'), h.ctx.state.ldcIssuer?.certPem ?? '');
}, 30_000);

afterAll(() => h?.cleanup());

describe('tls-proxy.upstream', () => {
  const oldUcm = ['-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0'];

  it('by default (TLS 1.2+, strong suites) refuses a TLS 1.1-only UCM: counted as a client handshake failure', async () => {
    const ucm = new SServer();
    await ucm.start(oldUcm);
    let phone: SipPeer | undefined;
    try {
      await withService(undefined, async (service) => {
        const before = { ...service.table.counters };
        phone = await connectPhone(PORT, h.pki.phone);
        await until(
          () => service.table.counters['tls-client-handshake-failures'] === before['tls-client-handshake-failures'] + 1,
          () => `handshake failure counted: ${JSON.stringify(service.table.counters)}`,
        );
        expect(service.table.counters['connection-failures']).toBe(before['connection-failures'] + 1);
        const p = phone;
        await until(() => p.closed, 'phone connection closed (no UCM member reachable)');
        expect(h.logLines.join('')).toMatch(
          /TLS handshake with UCM failed \(offered TLSv1\.2\+ with strong ciphers, tls-proxy\.upstream\)/,
        );
      });
    } finally {
      phone?.sock.destroy();
      await ucm.stop();
    }
    expect(ucm.out).not.toMatch(/CIPHER is/);
  });

  it('ciphers: legacy with min-version TLSv1.1 reaches it (AES128-SHA), bytes flow, and says so loudly at start', async () => {
    const ucm = new SServer();
    await ucm.start(oldUcm);
    let phone: SipPeer | undefined;
    const lines = h.logLines.length;
    try {
      await withService({ 'min-version': 'TLSv1.1', ciphers: 'legacy' }, async (service) => {
        const started = h.logLines.slice(lines).filter((l) => l.includes('LEGACY UPSTREAM CIPHERS'));
        // Once, on the errors log, at warn (not a second copy for syslog to count).
        expect(started).toHaveLength(1);
        expect(started[0]).toContain('"category":"errors"');
        for (const l of started) expect(l).toMatch(/"level":40.*tls-proxy\.upstream\.ciphers: legacy/);
        phone = await connectPhone(PORT, h.pki.phone);
        await until(() => service.table.list()[0]?.state === 'established', 'upstream up');
        expect(service.table.list()[0]?.transport).toBe('tls');
        phone.send(options('legacy-upstream'));
        await until(
          () => ucm.out.includes('Call-ID: legacy-upstream'),
          () => `OPTIONS at UCM:\n${ucm.out}`,
        );
      });
    } finally {
      phone?.sock.destroy();
      await ucm.stop();
    }
    expect(ucm.out).toMatch(/CIPHER is AES128-SHA/);
    // s_server verified the LDC the appliance presented.
    expect(ucm.out).toMatch(/SEP001122334455/);
  });

  it('ciphers: legacy keeps the TLS 1.2 floor unless min-version lowers it: the failure names what was offered', async () => {
    const ucm = new SServer();
    await ucm.start(oldUcm);
    let phone: SipPeer | undefined;
    try {
      await withService({ 'min-version': 'TLSv1.2', ciphers: 'legacy' }, async (service) => {
        const before = service.table.counters['tls-client-handshake-failures'];
        phone = await connectPhone(PORT, h.pki.phone);
        await until(() => service.table.counters['tls-client-handshake-failures'] === before + 1, 'failure counted');
        expect(h.logLines.join('')).toMatch(/offered TLSv1\.2\+ with legacy ciphers, tls-proxy\.upstream/);
      });
    } finally {
      phone?.sock.destroy();
      await ucm.stop();
    }
  });

  it('the default reaches a TLS 1.3-only UCM', async () => {
    const ucm = new SServer();
    await ucm.start(['-tls1_3']);
    let phone: SipPeer | undefined;
    const lines = h.logLines.length;
    try {
      await withService(undefined, async (service) => {
        expect(h.logLines.slice(lines).join('')).not.toMatch(/LEGACY UPSTREAM/);
        const before = service.table.counters['tls-client-handshake-failures'];
        phone = await connectPhone(PORT, h.pki.phone);
        await until(() => service.table.list()[0]?.state === 'established', 'upstream up');
        phone.send(options('modern-upstream'));
        await until(
          () => ucm.out.includes('Call-ID: modern-upstream'),
          () => `OPTIONS at UCM:\n${ucm.out}`,
        );
        expect(service.table.counters['tls-client-handshake-failures']).toBe(before);
      });
    } finally {
      phone?.sock.destroy();
      await ucm.stop();
    }
    expect(ucm.out).toMatch(/CIPHER is TLS_AES_/);
  });
});
