/**
 * End to end, real sockets and the real media service: a scripted SIP phone over mutual TLS,
 * the appliance, and a scripted UCM on TCP (nonsecure cluster). REGISTER, then a full call
 * (INVITE/100/180/200/ACK, re-INVITE hold and resume, BYE) while media flows SRTP (phone) ↔
 * RTP (UCM side) through media termination with payloads intact; then an incoming call that
 * is cancelled. Media sessions are released when the calls end.
 */

import { randomBytes } from 'node:crypto';
import { createMediaService, type MediaService } from '../../src/media/service';
import { createTlsProxyService, type TlsProxyService } from '../../src/tls/service';
import { serve } from '../support/serve';
import { connectPhone, type Harness, harness, ScriptedUcm, type SipPeer, until } from '../tls/harness';
import { audioSdp, header, MediaEndpoint, mediaOf, request, respond, sdpOf, viaLines } from './sip-helpers';

const PORT = 25261;
const UCM_TCP = 25260;
const UCM_TLS = 25262;

let h: Harness;
let media: MediaService;
let service: TlsProxyService;
const ucm = new ScriptedUcm();
let phone: SipPeer;
let ucmSide: SipPeer;
const phoneRtp = new MediaEndpoint('127.0.1.100');
const ucmRtp = new MediaEndpoint('127.0.2.30');
let phoneRtpPort: number;
let ucmRtpPort: number;

const PHONE_VIA = 'SIP/2.0/TLS 127.0.1.100:5061;branch=z9hG4bKphone';
const phoneContact = '<sip:1000@127.0.1.100:5061;transport=tls>';

beforeAll(async () => {
  h = await harness({ mode: 'nonsecure', port: PORT, ucmTcpPort: UCM_TCP, ucmTlsPort: UCM_TLS, mediaPort: 62100 });
  await ucm.start(UCM_TCP, UCM_TLS, h.pki.ucm, h.ctx.state.ldcIssuer?.certPem ?? '');
  media = createMediaService(h.ctx, { workers: 1, quarantineMs: 0 });
  await serve(media, h.ctx.control);
  service = createTlsProxyService(h.ctx, { media, phones: { get: () => ({ originalMode: 'encrypted' }) } });
  await serve(service, h.ctx.control);
  phoneRtpPort = await phoneRtp.bind();
  ucmRtpPort = await ucmRtp.bind();
  phone = await connectPhone(PORT, h.pki.phone);
  ucmSide = await ucm.peer(0);
}, 30_000);

afterAll(async () => {
  phone?.sock.destroy();
  phoneRtp.close();
  ucmRtp.close();
  await service?.stop();
  await media?.stop();
  await ucm.stop();
  h?.cleanup();
});

describe('SIP phone over TLS ↔ appliance ↔ UCM over TCP', () => {
  it('REGISTER: appliance Via on top and removed from the answer, Contact and Request-URI rewritten', async () => {
    phone.send(
      request('REGISTER', 'sip:127.0.1.1', {
        via: `${PHONE_VIA}reg`,
        callId: 'reg-1',
        cseq: 1,
        from: '<sip:1000@127.0.1.1>;tag=p1',
        to: '<sip:1000@127.0.1.1>',
        contact: `${phoneContact};+u.sip!devicename.ccm.cisco.com="SEP001122334455"`,
        extra: ['Expires: 3600'],
      }),
    );
    const reg = await ucmSide.waitFor((m) => m.startsWith('REGISTER'), 'REGISTER at UCM');
    const local = ucmSide.sock.remotePort;
    expect(reg.split('\r\n')[0]).toBe(`REGISTER sip:127.0.2.20:${UCM_TCP};transport=tcp SIP/2.0`);
    const vias = viaLines(reg);
    expect(vias[0]).toMatch(new RegExp(`^Via: SIP/2.0/TCP 127\\.0\\.2\\.1:${local};branch=z9hG4bKpp[0-9a-f]{24}$`));
    expect(vias[1]).toBe(`Via: ${PHONE_VIA}reg`);
    expect(header(reg, 'Contact')).toBe(
      `<sip:1000@127.0.2.1:${local};transport=tcp>;+u.sip!devicename.ccm.cisco.com="SEP001122334455"`,
    );
    ucmSide.send(respond(reg, 200, 'OK', { toTag: 'u1', contact: header(reg, 'Contact') }));
    const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('reg-1'), '200 to REGISTER');
    expect(viaLines(ok)).toEqual([`Via: ${PHONE_VIA}reg`]);
    expect(header(ok, 'Contact')).toContain(`@127.0.1.1:${PORT};transport=tls>`);
  });

  it('a full call: SDP through media termination, SRTP↔RTP with payloads intact, hold/resume, BYE releases media', async () => {
    const phoneKey = randomBytes(30);
    const dialog = {
      from: '"Alice" <sip:1000@127.0.1.1>;tag=p2',
      to: '<sip:1001@127.0.1.1>',
      callId: 'call-1@127.0.1.100',
      contact: phoneContact,
    };
    const offer = audioSdp({
      address: '127.0.1.100',
      port: phoneRtpPort,
      proto: 'RTP/SAVP',
      key: phoneKey,
      video: true,
    });
    const invite = request(
      'INVITE',
      'sip:1001@127.0.1.1;user=phone',
      { ...dialog, via: `${PHONE_VIA}inv1`, cseq: 101 },
      offer,
    );
    phone.send(invite);

    const atUcm = await ucmSide.waitFor((m) => m.startsWith('INVITE'), 'INVITE at UCM');
    const inside = mediaOf(sdpOf(atUcm));
    expect(inside).toEqual({ address: '127.0.2.11', port: expect.any(Number), proto: 'RTP/AVP' });
    expect(sdpOf(atUcm)).not.toContain('a=crypto');
    expect(sdpOf(atUcm)).toContain('a=rtpmap:101 telephone-event/8000');
    expect(sdpOf(atUcm)).toContain('m=video 0 RTP/AVP 126'); // video rejected with port 0

    ucmSide.send(respond(atUcm, 100, 'Trying'));
    ucmSide.send(respond(atUcm, 180, 'Ringing', { toTag: 'u2' }));
    const ucmContact = `<sip:1001@127.0.2.20:${UCM_TCP};transport=tcp>`;
    const answer = audioSdp({ address: '127.0.2.30', port: ucmRtpPort, proto: 'RTP/AVP', video: true }).replace(
      'm=video 7002',
      'm=video 0',
    );
    ucmSide.send(respond(atUcm, 200, 'OK', { toTag: 'u2', contact: ucmContact, body: answer }));

    await phone.waitFor((m) => m.startsWith('SIP/2.0 180'), '180 at phone');
    const ok = await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('call-1'), '200 at phone');
    const outside = mediaOf(sdpOf(ok));
    expect(outside).toMatchObject({ address: '127.0.1.11', proto: 'RTP/SAVP' });
    expect(outside.key).toHaveLength(30);
    expect(header(ok, 'Contact')).toBe(`<sip:1001@127.0.1.1:${PORT};transport=tls>`);
    const signaling = await h.ctx.control.findShow(['phone-proxy', 'signaling-sessions'])?.item.render([]);
    expect(signaling?.data).toEqual([
      {
        protocol: 'SIP',
        phone: 'SEP001122334455',
        callId: 'call-1@127.0.1.100',
        state: 'confirmed',
        mediaSession: expect.any(String),
      },
    ]);
    expect(media.sessions()).toHaveLength(1);

    phone.send(
      request('ACK', `sip:1001@127.0.1.1:${PORT};transport=tls`, {
        ...dialog,
        to: `${dialog.to};tag=u2`,
        via: `${PHONE_VIA}ack1`,
        cseq: 101,
      }),
    );
    const ack = await ucmSide.waitFor((m) => m.startsWith('ACK'), 'ACK at UCM');
    expect(ack.split('\r\n')[0]).toBe(`ACK sip:1001@127.0.2.20:${UCM_TCP};transport=tcp SIP/2.0`);

    // Media: SRTP from the phone arrives as RTP on the UCM side, and back.
    phoneRtp.secure(phoneKey, outside.key as Buffer);
    for (let n = 0; n < 5; n++) {
      phoneRtp.send(Buffer.from(`phone-voice-${n}`), { address: outside.address, port: outside.port }, 0x1111);
      ucmRtp.send(Buffer.from(`ucm-voice-${n}`), { address: inside.address, port: inside.port }, 0x2222);
    }
    await until(() => ucmRtp.received.length >= 5 && phoneRtp.received.length >= 5, 'media both ways');
    expect(ucmRtp.payloads()).toEqual([0, 1, 2, 3, 4].map((n) => `phone-voice-${n}`));
    expect(phoneRtp.payloads()).toEqual([0, 1, 2, 3, 4].map((n) => `ucm-voice-${n}`));

    // Hold: the direction attribute goes through; the media session stays.
    const hold = audioSdp({
      address: '127.0.1.100',
      port: phoneRtpPort,
      proto: 'RTP/SAVP',
      key: phoneKey,
      direction: 'sendonly',
    });
    phone.send(
      request(
        'INVITE',
        `sip:1001@127.0.1.1:${PORT};transport=tls`,
        { ...dialog, to: `${dialog.to};tag=u2`, via: `${PHONE_VIA}inv2`, cseq: 102 },
        hold,
      ),
    );
    const reinvite = await ucmSide.waitFor(
      (m) => m.startsWith('INVITE') && m.includes('CSeq: 102'),
      're-INVITE at UCM',
    );
    expect(sdpOf(reinvite)).toContain('a=sendonly');
    expect(mediaOf(sdpOf(reinvite))).toEqual({ ...inside });
    ucmSide.send(
      respond(reinvite, 200, 'OK', {
        contact: ucmContact,
        body: audioSdp({ address: '127.0.2.30', port: ucmRtpPort, proto: 'RTP/AVP', direction: 'recvonly' }),
      }),
    );
    const held = await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('CSeq: 102'), '200 to hold');
    expect(sdpOf(held)).toContain('a=recvonly');
    expect(mediaOf(sdpOf(held))).toEqual(outside); // same address, port and key
    expect(media.sessions()).toHaveLength(1);

    // Resume, then media still flows with the same keys.
    const resume = audioSdp({ address: '127.0.1.100', port: phoneRtpPort, proto: 'RTP/SAVP', key: phoneKey });
    phone.send(
      request(
        'INVITE',
        `sip:1001@127.0.1.1:${PORT};transport=tls`,
        { ...dialog, to: `${dialog.to};tag=u2`, via: `${PHONE_VIA}inv3`, cseq: 103 },
        resume,
      ),
    );
    const reinvite2 = await ucmSide.waitFor((m) => m.startsWith('INVITE') && m.includes('CSeq: 103'), 'resume at UCM');
    expect(sdpOf(reinvite2)).toContain('a=sendrecv');
    ucmSide.send(respond(reinvite2, 200, 'OK', { contact: ucmContact, body: answer }));
    await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('CSeq: 103'), '200 to resume');
    phoneRtp.send(Buffer.from('after-resume'), { address: outside.address, port: outside.port }, 0x1111);
    await until(() => ucmRtp.payloads().includes('after-resume'), 'media after resume');

    // BYE ends the call and releases the media session.
    phone.send(
      request('BYE', `sip:1001@127.0.1.1:${PORT};transport=tls`, {
        ...dialog,
        to: `${dialog.to};tag=u2`,
        via: `${PHONE_VIA}bye`,
        cseq: 104,
      }),
    );
    const bye = await ucmSide.waitFor((m) => m.startsWith('BYE'), 'BYE at UCM');
    ucmSide.send(respond(bye, 200, 'OK'));
    await phone.waitFor((m) => m.startsWith('SIP/2.0 200') && m.includes('CSeq: 104'), '200 to BYE');
    await until(() => media.sessions().length === 0, 'media released after BYE');
    const after = await h.ctx.control.findShow(['phone-proxy', 'signaling-sessions'])?.item.render([]);
    expect(after?.data).toEqual([]);
  });

  it('an incoming call from UCM reaches the phone at its own Contact with an appliance key; 487 after CANCEL releases media', async () => {
    const local = ucmSide.sock.remotePort;
    const ucmVia = `SIP/2.0/TCP 127.0.2.20:${UCM_TCP};branch=z9hG4bKucm1`;
    const offer = audioSdp({ address: '127.0.2.30', port: ucmRtpPort, proto: 'RTP/AVP' });
    const dialog = {
      from: '<sip:1001@127.0.2.20>;tag=u9',
      to: '<sip:1000@127.0.2.20>',
      callId: 'in-1@127.0.2.20',
      contact: `<sip:1001@127.0.2.20:${UCM_TCP};transport=tcp>`,
    };
    const invite = request(
      'INVITE',
      `sip:1000@127.0.2.1:${local};transport=tcp`,
      { ...dialog, via: ucmVia, cseq: 1 },
      offer,
    );
    ucmSide.send(invite);
    const atPhone = await phone.waitFor((m) => m.startsWith('INVITE') && m.includes('in-1'), 'INVITE at phone');
    expect(atPhone.split('\r\n')[0]).toBe('INVITE sip:1000@127.0.1.100:5061;transport=tls SIP/2.0');
    expect(viaLines(atPhone)[0]).toMatch(new RegExp(`^Via: SIP/2.0/TLS 127\\.0\\.1\\.1:${PORT};branch=z9hG4bKpp`));
    const toPhone = mediaOf(sdpOf(atPhone));
    expect(toPhone).toMatchObject({ address: '127.0.1.11', proto: 'RTP/SAVP' });
    expect(toPhone.key).toHaveLength(30);
    expect(media.sessions()).toHaveLength(1);

    phone.send(respond(atPhone, 180, 'Ringing', { toTag: 'p9' }));
    const ringing = await ucmSide.waitFor((m) => m.startsWith('SIP/2.0 180') && m.includes('in-1'), '180 at UCM');
    expect(viaLines(ringing)).toEqual([`Via: ${ucmVia}`]);
    ucmSide.send(request('CANCEL', `sip:1000@127.0.2.1:${local};transport=tcp`, { ...dialog, via: ucmVia, cseq: 1 }));
    const cancel = await phone.waitFor((m) => m.startsWith('CANCEL'), 'CANCEL at phone');
    phone.send(respond(cancel, 200, 'OK', { toTag: 'p9' }));
    phone.send(respond(atPhone, 487, 'Request Terminated', { toTag: 'p9' }));
    await ucmSide.waitFor((m) => m.startsWith('SIP/2.0 487'), '487 at UCM');
    await until(() => media.sessions().length === 0, 'media released after CANCEL/487');
  });

  it('REFER with a remotecc XML body passes byte for byte (compact headers too)', async () => {
    const xml =
      '<?xml version="1.0" encoding="UTF-8"?>\r\n<x-cisco-remotecc-request><softkeyeventmsg><softkeyevent>Conference</softkeyevent><dialogid><callid>call-1@127.0.1.100</callid><localtag>p2</localtag><remotetag>u2</remotetag></dialogid></softkeyeventmsg></x-cisco-remotecc-request>\r\n';
    const refer = request(
      'REFER',
      'sip:127.0.1.1',
      {
        via: `${PHONE_VIA}ref`,
        callId: 'refer-1',
        cseq: 5,
        from: '<sip:1000@127.0.1.1>;tag=p5',
        to: '<sip:127.0.1.1>',
        contact: phoneContact,
        extra: ['Refer-To: <urn:X-cisco-remotecc:conference>'],
      },
      xml,
      'application/x-cisco-remotecc-request+xml',
    ).replace('Content-Length:', 'l:');
    phone.send(refer);
    const got = await ucmSide.waitFor((m) => m.startsWith('REFER'), 'REFER at UCM');
    expect(sdpOf(got)).toBe(xml);
    expect(header(got, 'Content-Type')).toBe('application/x-cisco-remotecc-request+xml');
    expect(header(got, 'Refer-To')).toBe('<urn:X-cisco-remotecc:conference>');
  });

  it('stopping the proxy mid-call releases the media session before media termination stops', async () => {
    const key = randomBytes(30);
    const offer = audioSdp({ address: '127.0.1.100', port: phoneRtpPort, proto: 'RTP/SAVP', key });
    phone.send(
      request(
        'INVITE',
        'sip:1002@127.0.1.1',
        {
          from: '<sip:1000@127.0.1.1>;tag=s1',
          to: '<sip:1002@127.0.1.1>',
          callId: 'stop-1',
          contact: phoneContact,
          via: `${PHONE_VIA}stop`,
          cseq: 1,
        },
        offer,
      ),
    );
    await ucmSide.waitFor((m) => m.startsWith('INVITE') && m.includes('stop-1'), 'INVITE at UCM');
    expect(media.sessions()).toHaveLength(1);
    await service.stop();
    expect(media.sessions()).toHaveLength(0);
  });
});
