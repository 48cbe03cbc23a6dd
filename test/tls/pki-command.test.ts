import { X509Certificate } from 'node:crypto';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { runPki } from '../../src/commands/pki';
import { createTlsProxyService } from '../../src/tls/service';
import { serve } from '../support/serve';
import { type Harness, harness } from './harness';

let h: Harness;
beforeAll(async () => {
  h = await harness({ mode: 'mixed', port: 25661, ucmTcpPort: 25660, ucmTlsPort: 25662, mediaPort: 62500 });
}, 30_000);
afterAll(() => h?.cleanup());

function io() {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d) => {
    out += d;
  });
  stderr.on('data', (d) => {
    err += d;
  });
  return { io: { stdout, stderr, stdin: new PassThrough(), env: {} }, out: () => out, err: () => err };
}

describe('LDC issuer export', () => {
  it('pki export ldc-issuer prints the issuer certificate that signs the LDCs', async () => {
    const t = io();
    const code = await runPki(
      ['export', 'ldc-issuer', '--policy', path.join(h.dir, 'policy.yaml'), '--state', path.join(h.dir, 'state')],
      t.io,
    );
    expect(code).toBe(0);
    const cert = new X509Certificate(t.out());
    expect(cert.subject).toContain('CN=LDC issuer');
    expect(cert.toString()).toBe(new X509Certificate(h.ctx.state.ldcIssuer?.certPem ?? '').toString());
  });

  it('says what is wrong on bad usage or a missing state', async () => {
    const t = io();
    expect(await runPki(['export', 'nothing'], t.io)).toBe(2);
    expect(t.err()).toMatch(/usage: phone-proxy pki export ldc-issuer/);
    const t2 = io();
    expect(
      await runPki(
        ['export', 'ldc-issuer', '--policy', path.join(h.dir, 'policy.yaml'), '--state', path.join(h.dir, 'nowhere')],
        t2.io,
      ),
    ).toBe(1);
    expect(t2.err()).toMatch(/cannot read the LDC issuer certificate \(ENOENT\); start the appliance once/);
  });

  it('show tls-proxy ldc-issuer gives the same PEM from the running appliance', async () => {
    const service = createTlsProxyService(h.ctx, {});
    await serve(service, h.ctx.control);
    try {
      const view = await h.ctx.control.findShow(['tls-proxy', 'ldc-issuer'])?.item.render([]);
      expect(view?.data).toEqual({ certPem: h.ctx.state.ldcIssuer?.certPem });
    } finally {
      await service.stop();
    }
  });
});
