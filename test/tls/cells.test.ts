/**
 * Every cell of the leg decision table end to end (real sockets, real media service): cluster
 * mode × the phone's original mode → upstream TCP or TLS with an LDC, and SRTP↔RTP or
 * SRTP↔SRTP media with payloads intact. The mixed cluster's primary member is an impostor
 * (no TCP; a TLS certificate that does not match the member's trustpoint): every phone falls
 * over to the second member, and each attempt is counted.
 */

import { randomBytes } from 'node:crypto';
import type { ClusterMode, PhoneSecurityMode } from '../../src/contracts/leg-decision';
import { createMediaService, type MediaService } from '../../src/media/service';
import { SecurePhones } from '../../src/tftp/secure-phones';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { audioSdp, MediaEndpoint, mediaOf, request, respond, sdpOf, viaLines } from '../sip/sip-helpers';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, until } from './harness';

interface Env {
  h: Harness;
  media: MediaService;
  service: TlsProxyService;
  ucm: ScriptedUcm;
  impostor?: ScriptedUcm;
  port: number;
  phoneMode: PhoneSecurityMode;
}

const envs = new Map<ClusterMode, Env>();

async function setup(mode: ClusterMode, base: number, mediaPort: number): Promise<Env> {
  const ucmAddress = mode === 'mixed' ? '127.0.2.21' : '127.0.2.20';
  const members =
    mode === 'mixed'
      ? [
          `    - { name: cucm-bad, address: 127.0.2.20, interface: inside, sip-port: ${base}, sip-tls-port: ${base + 2}, trustpoint: alt-server }`,
          `    - { name: cucm1, address: 127.0.2.21, interface: inside, sip-port: ${base}, sip-tls-port: ${base + 2}, trustpoint: ucm }`,
        ].join('\n')
      : undefined;
  const h = await harness({
    mode,
    port: base + 1,
    ucmTcpPort: base,
    ucmTlsPort: base + 2,
    mediaPort,
    ...(members ? { members } : {}),
  });
  const issuer = h.ctx.state.ldcIssuer?.certPem ?? '';
  const ucm = new ScriptedUcm();
  await ucm.start(base, base + 2, h.pki.ucm, issuer, ucmAddress);
  let impostor: ScriptedUcm | undefined;
  if (mode === 'mixed') {
    impostor = new ScriptedUcm();
    await impostor.start(undefined, base + 2, h.pki.ucm, issuer, '127.0.2.20');
  }
  const media = createMediaService(h.ctx, { workers: 1, quarantineMs: 0 });
  await serve(media, h.ctx.control);
  const env: Env = { h, media, ucm, ...(impostor ? { impostor } : {}), port: base + 1, phoneMode: 'nonsecure' } as Env;
  env.service = createTlsProxyService(h.ctx, {
    media,
    phones: { get: () => ({ originalMode: env.phoneMode }) },
    connectTimeoutMs: 2000,
  });
  await serve(env.service, h.ctx.control);
  return env;
}

beforeAll(async () => {
  envs.set('nonsecure', await setup('nonsecure', 25460, 62300));
  envs.set('mixed', await setup('mixed', 25360, 62200));
}, 60_000);

afterAll(async () => {
  for (const e of envs.values()) {
    await e.service.stop();
    await e.media.stop();
    await e.ucm.stop();
    await e.impostor?.stop();
    e.h.cleanup();
  }
});

describe.each([
  ['nonsecure', 'nonsecure', 'tcp', 'rtp'],
  ['nonsecure', 'authenticated', 'tcp', 'rtp'],
  ['nonsecure', 'encrypted', 'tcp', 'rtp'],
  ['mixed', 'nonsecure', 'tcp', 'rtp'],
  ['mixed', 'authenticated', 'tls', 'rtp'],
  ['mixed', 'encrypted', 'tls', 'srtp'],
] as const)('%s cluster, %s phone', (cluster, phoneMode, transport, insideMedia) => {
  it(`goes upstream over ${transport} with media SRTP↔${insideMedia.toUpperCase()}, payloads intact`, async () => {
    const env = envs.get(cluster) as Env;
    env.phoneMode = phoneMode;
    const counters = { ...env.service.table.counters };
    const phoneRtp = new MediaEndpoint('127.0.1.100');
    const ucmRtp = new MediaEndpoint('127.0.2.30');
    const [phonePort, ucmPort] = [await phoneRtp.bind(), await ucmRtp.bind()];
    const phone = await connectPhone(env.port, env.h.pki.phone);
    try {
      const n = env.ucm.peers.length;
      const phoneKey = randomBytes(30);
      const callId = `cell-${cluster}-${phoneMode}`;
      const dialog = {
        from: '<sip:1000@127.0.1.1>;tag=c1',
        to: '<sip:1001@127.0.1.1>',
        callId,
        contact: '<sip:1000@127.0.1.100:5061;transport=tls>',
      };
      const invite = request(
        'INVITE',
        'sip:1001@127.0.1.1',
        { ...dialog, via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKc1', cseq: 1 },
        audioSdp({ address: '127.0.1.100', port: phonePort, proto: 'RTP/SAVP', key: phoneKey }),
      );
      phone.send(invite);
      const up = await env.ucm.peer(n);
      const atUcm = await up.waitFor((m) => m.startsWith('INVITE'), 'INVITE at UCM');

      // Upstream transport, and on TLS the LDC: the phone's identity, issued by the LDC issuer.
      const tlsPeer = env.ucm.tlsPeers.find((t) => t.peer === up);
      expect(tlsPeer ? 'tls' : 'tcp').toBe(transport);
      if (tlsPeer) {
        expect(tlsPeer.cert.subject.CN).toBe('SEP001122334455');
        expect(tlsPeer.cert.issuer.CN).toBe('LDC issuer');
      }
      expect(viaLines(atUcm)[0]).toContain(`SIP/2.0/${transport.toUpperCase()} 127.0.2.1:`);
      const inside = mediaOf(sdpOf(atUcm));
      expect(inside.proto).toBe(insideMedia === 'srtp' ? 'RTP/SAVP' : 'RTP/AVP');
      expect(inside.key !== undefined).toBe(insideMedia === 'srtp');

      const ucmKey = randomBytes(30);
      const answer = audioSdp({
        address: '127.0.2.30',
        port: ucmPort,
        proto: insideMedia === 'srtp' ? 'RTP/SAVP' : 'RTP/AVP',
        ...(insideMedia === 'srtp' ? { key: ucmKey } : {}),
      });
      up.send(respond(atUcm, 200, 'OK', { toTag: 'u1', contact: '<sip:1001@127.0.2.20>', body: answer }));
      const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
      const outside = mediaOf(sdpOf(ok));
      expect(outside.proto).toBe('RTP/SAVP');

      phoneRtp.secure(phoneKey, outside.key as Buffer);
      if (insideMedia === 'srtp') ucmRtp.secure(ucmKey, inside.key as Buffer);
      for (let i = 0; i < 3; i++) {
        phoneRtp.send(Buffer.from(`up-${i}`), outside, 0x3333);
        ucmRtp.send(Buffer.from(`down-${i}`), inside, 0x4444);
      }
      await until(
        () => ucmRtp.received.length >= 3 && phoneRtp.received.length >= 3,
        () =>
          `media both ways: ucm got ${ucmRtp.payloads()}, phone got ${phoneRtp.payloads()}; ${JSON.stringify(env.h.ctx.control.findShow(['phone-proxy', 'media-sessions'])?.item.render([]))}\nLOG:\n${env.h.logLines.filter((l) => /media|errors|warn|SDP|call/.test(l)).join('')}`,
      );
      expect(ucmRtp.payloads()).toEqual(['up-0', 'up-1', 'up-2']);
      expect(phoneRtp.payloads()).toEqual(['down-0', 'down-1', 'down-2']);

      phone.send(
        request('BYE', 'sip:1001@127.0.1.1', {
          ...dialog,
          to: `${dialog.to};tag=u1`,
          via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKc2',
          cseq: 2,
        }),
      );
      await up.waitFor((m) => m.startsWith('BYE'), 'BYE at UCM');
      await until(() => env.media.sessions().length === 0, 'media released');

      if (cluster === 'mixed') {
        // The impostor primary was tried first and refused: counted, then the next member served.
        const c = env.service.table.counters;
        expect(c['connection-failures']).toBe(counters['connection-failures'] + 1);
        expect(c['tls-client-handshake-failures']).toBe(
          counters['tls-client-handshake-failures'] + (transport === 'tls' ? 1 : 0),
        );
      }
    } finally {
      phone.sock.destroy();
      phoneRtp.close();
      ucmRtp.close();
    }
    await until(() => env.service.table.active === 0, 'connection closed');
  });
});

describe('phone mode from the TFTP interceptor record', () => {
  it("uses the secure-phones record's original mode (encrypted → TLS), and the documented default without one", async () => {
    const env = envs.get('mixed') as Env;
    const securePhones = new SecurePhones({ timeoutSec: 300 });
    env.h.ctx.loaded.policy.listen['sip-tls'] = env.port + 10;
    const service = createTlsProxyService(env.h.ctx, {
      media: env.media,
      phones: securePhones,
      connectTimeoutMs: 2000,
    });
    await service.start();
    try {
      securePhones.record({
        deviceName: 'SEP001122334455',
        mac: '001122334455',
        address: '127.0.1.100',
        originalMode: 'nonsecure',
        forcedMode: 'encrypted',
      });
      const a = await connectPhone(env.port + 10, env.h.pki.phone);
      await until(() => service.table.list()[0]?.state === 'established', 'upstream up');
      expect(service.table.list()[0]?.transport).toBe('tcp');
      a.sock.destroy();
      await until(() => service.table.active === 0, 'closed');
      securePhones.record({
        deviceName: 'SEP001122334455',
        mac: '001122334455',
        address: '127.0.1.100',
        originalMode: 'encrypted',
        forcedMode: 'encrypted',
      });
      const b = await connectPhone(env.port + 10, env.h.pki.phone);
      await until(() => service.table.list()[0]?.state === 'established', 'upstream up');
      expect(service.table.list()[0]?.transport).toBe('tls');
      b.sock.destroy();
      await until(() => service.table.active === 0, 'closed');
      // SEP0011223344AA has no record: a mixed cluster assumes authenticated (TLS), and logs it.
      const c = await connectPhone(env.port + 10, env.h.pki.phone2);
      await until(() => service.table.list()[0]?.state === 'established', 'upstream up');
      expect(service.table.list()[0]?.transport).toBe('tls');
      expect(env.h.logLines.join('')).toMatch(
        /"phone":"SEP0011223344AA","assumed":"authenticated","msg":"no secure-phones record/,
      );
      c.sock.destroy();
    } finally {
      await service.stop();
      env.h.ctx.loaded.policy.listen['sip-tls'] = env.port;
    }
  });
});
