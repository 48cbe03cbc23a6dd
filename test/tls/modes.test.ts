/**
 * Phone modes through the real TLS proxy and media service (issue 13 parts 2 and 3, issue 12's
 * SIP identity), on loopback: an authenticated phone (CIPC) calls with plain RTP outside; a
 * REGISTER naming another device is refused with 403; UCM's 200 to a REGISTER (TLS, or plain TCP
 * on the nonsecure listener) refreshes the phone's secure-phones record.
 */
import net from 'node:net';
import { createMediaService, type MediaService } from '../../src/media/service';
import { SecurePhones } from '../../src/tftp/secure-phones';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { audioSdp, MediaEndpoint, mediaOf, request, respond, sdpOf } from '../sip/sip-helpers';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, SipPeer, until } from './harness';

const BASE = 26360;
const TLS_PORT = BASE + 1;
const PLAIN_PORT = BASE + 5;
const DEVICE = 'SEP001122334455'; // the harness phone certificate: CN=CP-8865-SEP001122334455

let h: Harness;
let ucm: ScriptedUcm;
let media: MediaService;
let service: TlsProxyService;
let clock = Date.parse('2025-01-01T00:00:00Z');
const phones = new SecurePhones({ timeoutSec: 300, now: () => clock });

beforeAll(async () => {
  h = await harness({ mode: 'nonsecure', port: TLS_PORT, ucmTcpPort: BASE, ucmTlsPort: BASE + 2, mediaPort: 62800 });
  h.ctx.loaded.policy.listen.sip = PLAIN_PORT;
  h.ctx.loaded.policy.listen.off = h.ctx.loaded.policy.listen.off.filter((n) => n !== 'sip');
  ucm = new ScriptedUcm();
  await ucm.start(BASE, undefined, h.pki.ucm, '');
  media = createMediaService(h.ctx, { workers: 1, quarantineMs: 0 });
  await serve(media, h.ctx.control);
  service = createTlsProxyService(h.ctx, { media, phones, connectTimeoutMs: 2000 });
  const listening = await serve(service, h.ctx.control);
  expect(listening.map((l) => `${l.protocol} ${l.address}:${l.port}`)).toEqual([
    `tls 127.0.1.1:${TLS_PORT}`,
    `tcp 127.0.1.1:${PLAIN_PORT}`,
  ]);
}, 30_000);

afterAll(async () => {
  await service?.stop();
  await media?.stop();
  await ucm?.stop();
  h?.cleanup();
});

function record(forcedMode: 'authenticated' | 'encrypted'): void {
  phones.record({
    deviceName: DEVICE,
    mac: DEVICE.slice(3),
    address: '127.0.1.100',
    port: 40000,
    originalMode: 'nonsecure',
    forcedMode,
    protocol: 'sip',
  });
}

/** A Cisco phone's REGISTER: the device in Contact's devicename and +sip.instance. */
function register(device: string, cseq: number, transport: 'TLS' | 'TCP', expires = 3600): string {
  const mac = device.slice(3).toLowerCase();
  return request('REGISTER', 'sip:127.0.1.1', {
    via: `SIP/2.0/${transport} 127.0.1.100:5061;branch=z9hG4bKr${cseq}`,
    from: '<sip:1000@127.0.1.1>;tag=r1',
    to: '<sip:1000@127.0.1.1>',
    callId: `reg-${device}-${transport}@127.0.1.100`,
    cseq,
    contact: `<sip:7a2b-11ee@127.0.1.100:5061;transport=${transport.toLowerCase()}>;+sip.instance="<urn:uuid:00000000-0000-0000-0000-${mac}>";+u.sip!devicename.ccm.cisco.com="${device}";expires=${expires}`,
  });
}

function plainPhone(): Promise<SipPeer> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host: '127.0.1.1', port: PLAIN_PORT, localAddress: '127.0.1.100' });
    sock.once('connect', () => resolve(new SipPeer(sock)));
    sock.once('error', reject);
  });
}

describe('authenticated phone (CIPC): TLS signaling, RTP outside', () => {
  it('an RTP/AVP offer is accepted, the answer carries no key, and plain RTP flows both ways', async () => {
    record('authenticated');
    const phoneRtp = new MediaEndpoint('127.0.1.100');
    const ucmRtp = new MediaEndpoint('127.0.2.30');
    const [phonePort, ucmPort] = [await phoneRtp.bind(), await ucmRtp.bind()];
    const phone = await connectPhone(TLS_PORT, h.pki.phone);
    try {
      const n = ucm.peers.length;
      const dialog = {
        from: '<sip:1000@127.0.1.1>;tag=a1',
        to: '<sip:1001@127.0.1.1>',
        callId: 'auth-call@127.0.1.100',
        contact: '<sip:1000@127.0.1.100:5061;transport=tls>',
      };
      phone.send(
        request(
          'INVITE',
          'sip:1001@127.0.1.1',
          { ...dialog, via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKa1', cseq: 1 },
          audioSdp({ address: '127.0.1.100', port: phonePort, proto: 'RTP/AVP' }),
        ),
      );
      const up = await ucm.peer(n);
      const atUcm = await up.waitFor((m) => m.startsWith('INVITE'), 'INVITE at UCM');
      const inside = mediaOf(sdpOf(atUcm));
      expect(inside).toMatchObject({ address: '127.0.2.11', proto: 'RTP/AVP' });
      expect(inside.key).toBeUndefined();
      up.send(
        respond(atUcm, 200, 'OK', {
          toTag: 'u1',
          contact: '<sip:1001@127.0.2.20>',
          body: audioSdp({ address: '127.0.2.30', port: ucmPort, proto: 'RTP/AVP' }),
        }),
      );
      const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
      const outside = mediaOf(sdpOf(ok));
      expect(outside).toMatchObject({ address: '127.0.1.11', proto: 'RTP/AVP' });
      expect(sdpOf(ok)).not.toContain('a=crypto');

      for (let i = 0; i < 3; i++) {
        phoneRtp.send(Buffer.from(`up-${i}`), outside, 0x1111);
        ucmRtp.send(Buffer.from(`down-${i}`), inside, 0x2222);
      }
      await until(
        () => ucmRtp.received.length >= 3 && phoneRtp.received.length >= 3,
        () => `RTP both ways: ucm got ${ucmRtp.payloads()}, phone got ${phoneRtp.payloads()}`,
      );
      expect(ucmRtp.payloads()).toEqual(['up-0', 'up-1', 'up-2']);
      // What the phone receives is plain RTP: the payload is readable without any key.
      expect(phoneRtp.payloads()).toEqual(['down-0', 'down-1', 'down-2']);
      const view = h.ctx.control.findShow(['phone-proxy', 'media-sessions'])?.item.render([]);
      expect(JSON.stringify(view)).not.toContain('srtp');
    } finally {
      phone.sock.destroy();
      phoneRtp.close();
      ucmRtp.close();
    }
    await until(() => media.sessions().length === 0, 'media released with the connection');
  });

  it('the same phone forced to encrypted gets its RTP offer refused with 488 (the cell differs)', async () => {
    record('encrypted');
    const phone = await connectPhone(TLS_PORT, h.pki.phone);
    try {
      phone.send(
        request(
          'INVITE',
          'sip:1001@127.0.1.1',
          {
            from: '<sip:1000@127.0.1.1>;tag=e1',
            to: '<sip:1001@127.0.1.1>',
            callId: 'enc-call@127.0.1.100',
            via: 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKe1',
            cseq: 1,
          },
          audioSdp({ address: '127.0.1.100', port: 40002, proto: 'RTP/AVP' }),
        ),
      );
      expect(await phone.waitFor((m) => m.startsWith('SIP/2.0 488'), '488')).toContain('a=crypto');
    } finally {
      phone.sock.destroy();
    }
  });
});

describe('REGISTER: bound to the certificate, refreshes the secure-phones record', () => {
  it("a REGISTER naming another device gets 403 and never reaches UCM; the certificate's own is forwarded", async () => {
    record('encrypted');
    const errors = async () =>
      (await h.ctx.metrics.getSingleMetricAsString('phone_proxy_sip_errors_total')).match(
        /reason="identity"} (\d+)/,
      )?.[1] ?? '0';
    const before = Number(await errors());
    const phone = await connectPhone(TLS_PORT, h.pki.phone);
    try {
      const n = ucm.peers.length;
      phone.send(register('SEP00DE0A1AB001', 1, 'TLS'));
      const refused = await phone.waitFor((m) => m.startsWith('SIP/2.0'), 'answer to the foreign REGISTER');
      expect(refused).toMatch(/^SIP\/2\.0 403 /);
      expect(refused).toMatch(/Warning: 399 127\.0\.1\.1 "REGISTER names SEP00DE0A1AB001 .*SEP001122334455"/);
      expect(Number(await errors())).toBe(before + 1);
      expect(h.logLines.some((l) => l.includes('SIP request refused') && l.includes('SEP00DE0A1AB001'))).toBe(true);

      const registeredAt = clock;
      clock += 240_000; // 4 min after the config fetch
      phone.send(register(DEVICE, 2, 'TLS'));
      const up = await ucm.peer(n);
      const atUcm = await up.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM');
      expect(up.messages.filter((m) => m.includes('SEP00DE0A1AB001'))).toEqual([]);
      up.send(respond(atUcm, 200, 'OK', { toTag: 'u9' }));
      await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
      await until(() => phones.get(DEVICE)?.registration !== undefined, 'registration recorded');
      const entry = phones.get(DEVICE);
      expect(entry?.registration).toMatchObject({
        protocol: 'sip',
        transport: 'tls',
        address: phone.sock.localAddress,
        port: phone.sock.localPort,
      });
      expect(entry?.lastSeen.getTime()).toBe(registeredAt + 240_000);
      // 4 more minutes: 8 since the fetch, 4 since the REGISTER — still the phone's mode.
      clock += 240_000;
      expect(phones.get(DEVICE)?.forcedMode).toBe('encrypted');
    } finally {
      phone.sock.destroy();
    }
  });

  it('the nonsecure listener: plain TCP both ways, REGISTER forwarded, its 200 refreshes the record', async () => {
    record('encrypted');
    const phone = await plainPhone();
    try {
      const n = ucm.peers.length;
      clock += 60_000;
      phone.send(register(DEVICE, 1, 'TCP'));
      const up = await ucm.peer(n);
      const atUcm = await up.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM');
      expect(atUcm).toMatch(/^Via: SIP\/2\.0\/TCP 127\.0\.2\.1:/m);
      up.send(respond(atUcm, 200, 'OK', { toTag: 'u2', contact: /^Contact: (.*)$/m.exec(atUcm)?.[1] ?? '' }));
      const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
      // The phone is shown the appliance on its own leg's transport, never ;transport=tls.
      expect(ok).toMatch(new RegExp(`^Contact: .*127\\.0\\.1\\.1:${PLAIN_PORT};transport=tcp`, 'm'));
      await until(() => phones.get(DEVICE)?.registration?.transport === 'tcp', 'nonsecure registration recorded');
      expect(phones.get(DEVICE)?.lastSeen.getTime()).toBe(clock);
      expect(phones.get(DEVICE)?.registration).toMatchObject({ address: '127.0.1.100', port: phone.sock.localPort });
    } finally {
      phone.sock.destroy();
    }
  });

  it('a de-registration (expires=0) does not keep the record alive', async () => {
    record('encrypted');
    const fetchedAt = clock;
    const phone = await connectPhone(TLS_PORT, h.pki.phone);
    try {
      const n = ucm.peers.length;
      clock += 10_000;
      phone.send(register(DEVICE, 1, 'TLS', 0));
      const up = await ucm.peer(n);
      up.send(respond(await up.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM'), 200, 'OK'));
      await phone.waitFor((m) => m.startsWith('SIP/2.0 200'), '200 at phone');
      expect(phones.get(DEVICE)?.lastSeen.getTime()).toBe(fetchedAt);
    } finally {
      phone.sock.destroy();
    }
  });
});
