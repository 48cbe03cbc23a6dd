/**
 * End to end over real sockets with the real media service: a scripted SCCP phone over mutual
 * TLS (a MIC-style certificate chaining to a test manufacturer CA), the appliance's TLS proxy
 * with SCCP inspection, and a scripted UCM — on TCP for a nonsecure cluster, on TLS (the
 * appliance presenting the phone's LDC) for an encrypted phone in a mixed cluster. Register,
 * call setup, media both ways through media termination (SRTP at the phone, RTP or SRTP at the
 * far end, werift's SRTP as the independent peer), hold/resume, hang-up, Unregister; a device
 * name mismatch is refused; garbage on one connection leaves the others alone.
 */

import { randomBytes } from 'node:crypto';
import { KeyBlock } from '../../src/sccp/key-block';
import { MSG } from '../../src/sccp/message-ids';
import { MediaEndpoint } from '../sip/sip-helpers';
import { until } from '../tls/harness';
import { type Env, mediaFlows, msg, openMedia, register, setup, teardown, version } from './sccp-call';
import { connectSccpPhone, type SccpPeer } from './sccp-peers';

describe('SCCP phone over TLS ↔ appliance ↔ UCM over TCP (nonsecure cluster)', () => {
  let e: Env | undefined;
  const phoneRtp = new MediaEndpoint('127.0.1.100');
  const farRtp = new MediaEndpoint('127.0.2.30');
  let phone: SccpPeer | undefined;
  let other: SccpPeer | undefined;

  beforeAll(async () => {
    e = await setup('nonsecure', 25760, 41700, 'encrypted');
  }, 60_000);

  afterAll(async () => {
    phone?.sock.destroy();
    other?.sock.destroy();
    phoneRtp.close();
    farRtp.close();
    await teardown(e);
  });

  test('register, call, media, hold/resume, hang-up, unregister', async () => {
    if (!e) throw new Error('setup');
    const env = e;
    const phoneRtpPort = await phoneRtp.bind();
    const farPort = await farRtp.bind();
    phone = await connectSccpPhone(env.sccpPort, env.h.pki.phone, version);
    const ucmSide = await register(env, phone, 0, 'SEP001122334455');
    const p = phone;

    // Call setup: UCM (nonsecure) sends no keys; the phone gets the appliance's.
    const legs = await openMedia(
      p,
      ucmSide,
      0x01000055,
      22000001,
      { address: '127.0.1.100', port: phoneRtpPort },
      { address: '127.0.2.30', port: farPort },
    );
    expect(env.media.sessions()).toHaveLength(1);
    phoneRtp.secure(legs.phoneTx.masterKeySalt(), legs.phoneRx.masterKeySalt());
    await mediaFlows(phoneRtp, farRtp, legs, 'call');

    // Hold: UCM closes both directions; the media session goes.
    ucmSide.send(msg('CallState', { callState: 8, callReference: 22000001 }));
    ucmSide.send(msg('CloseReceiveChannel', { passThruPartyId: 0x01000055, callReference: 22000001 }));
    ucmSide.send(msg('StopMediaTransmission', { passThruPartyId: 0x01000055, callReference: 22000001 }));
    await p.next(MSG.StopMediaTransmission, 'Stop at phone');
    await until(() => env.media.sessions().length === 0, 'media released on hold');

    // Resume: new party id, new session, new keys; media flows again.
    const legs2 = await openMedia(
      p,
      ucmSide,
      0x01000056,
      22000001,
      { address: '127.0.1.100', port: phoneRtpPort },
      { address: '127.0.2.30', port: farPort },
    );
    expect(env.media.sessions()).toHaveLength(1);
    expect(legs2.phoneRx.masterKeySalt()).not.toEqual(legs.phoneRx.masterKeySalt());
    phoneRtp.secure(legs2.phoneTx.masterKeySalt(), legs2.phoneRx.masterKeySalt());
    await mediaFlows(phoneRtp, farRtp, legs2, 'resumed');

    // The call shows in the signaling-sessions view.
    const view = await env.h.ctx.control.findShow(['phone-proxy', 'signaling-sessions'])?.item.render([]);
    expect(view?.data).toContainEqual(
      expect.objectContaining({ protocol: 'SCCP', callId: '22000001/16777302', phone: expect.stringMatching(/^SEP/) }),
    );

    // Hang-up: on-hook releases the media.
    ucmSide.send(msg('CallState', { callState: 2, callReference: 22000001 }));
    await p.next(MSG.CallState, 'on-hook at phone');
    await until(() => env.media.sessions().length === 0, 'media released on hang-up');

    // Unregister passes through.
    const un = p.send(msg('Unregister'));
    expect((await ucmSide.next(MSG.Unregister, 'Unregister at UCM')).raw).toEqual(un);
  }, 30_000);

  test("a device name that is not the certificate's is refused; UCM never sees it", async () => {
    if (!e) throw new Error('setup');
    const before = e.ucm.peers.length;
    const impostor = await connectSccpPhone(e.sccpPort, e.h.pki.phone2, version);
    impostor.send(msg('Register', { deviceName: 'SEP001122334455' }));
    await impostor.waitClosed();
    const ucmSide = await e.ucm.peer(before);
    await ucmSide.waitClosed();
    expect(ucmSide.frames).toEqual([]);
  });

  test('garbage on one connection closes only that connection', async () => {
    if (!e) throw new Error('setup');
    const env = e;
    const before = env.ucm.peers.length;
    other = await connectSccpPhone(env.sccpPort, env.h.pki.phone2, version);
    const otherUcm = await register(env, other, before, 'SEP0011223344AA');
    const bad = await connectSccpPhone(env.sccpPort, env.h.pki.phone, version);
    const badUcm = await env.ucm.peer(before + 1);
    bad.sock.write(Buffer.from('02000000000000000000000000', 'hex')); // length 2 < 4: cannot be framed
    await bad.waitClosed();
    await badUcm.waitClosed();
    // The other phone still talks to UCM both ways.
    const ka = other.send(msg('KeepAlive'));
    expect((await otherUcm.next(MSG.KeepAlive, 'KeepAlive at UCM')).raw).toEqual(ka);
    const kaa = otherUcm.send(msg('KeepAliveAck'));
    expect((await other.next(MSG.KeepAliveAck, 'KeepAliveAck at phone')).raw).toEqual(kaa);
    expect(other.closed).toBe(false);
    const errors = await env.h.ctx.metrics.getSingleMetricAsString('phone_proxy_sccp_errors_total');
    expect(errors).toMatch(/reason="framing"} 1/);
    expect(errors).toMatch(/reason="refused"} 1/);
  });
});

describe('encrypted SCCP phone in a mixed cluster: UCM on TLS with the LDC, SRTP on both legs', () => {
  let e: Env | undefined;
  const phoneRtp = new MediaEndpoint('127.0.1.100');
  const farRtp = new MediaEndpoint('127.0.2.30');
  let phone: SccpPeer | undefined;

  beforeAll(async () => {
    e = await setup('mixed', 25860, 41800, 'encrypted');
  }, 60_000);

  afterAll(async () => {
    phone?.sock.destroy();
    phoneRtp.close();
    farRtp.close();
    await teardown(e);
  });

  test("UCM's keys on the inside leg, the appliance's on the phone leg, payloads intact", async () => {
    if (!e) throw new Error('setup');
    const env = e;
    const phoneRtpPort = await phoneRtp.bind();
    const farPort = await farRtp.bind();
    phone = await connectSccpPhone(env.sccpPort, env.h.pki.phone, version);
    const ucmSide = await register(env, phone, 0, 'SEP001122334455');
    // The upstream leg presented an LDC for the phone's device name.
    expect(env.ucm.certs[0]?.subject?.CN).toMatch(/SEP001122334455/);

    const ucmRx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', randomBytes(30));
    const ucmTx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', randomBytes(30));
    const legs = await openMedia(
      phone,
      ucmSide,
      0x01000077,
      22000077,
      { address: '127.0.1.100', port: phoneRtpPort },
      { address: '127.0.2.30', port: farPort },
      { rx: ucmRx, tx: ucmTx },
    );
    phoneRtp.secure(legs.phoneTx.masterKeySalt(), legs.phoneRx.masterKeySalt());
    // The far end uses what UCM told the phone: it sends with the phone's receive key.
    farRtp.secure(ucmRx.masterKeySalt(), ucmTx.masterKeySalt());
    await mediaFlows(phoneRtp, farRtp, legs, 'srtp-srtp');

    // No key material in the appliance's logs.
    const logs = env.h.logLines.join('');
    for (const k of [ucmRx, ucmTx, legs.phoneRx, legs.phoneTx].map((b) => b.masterKeySalt())) {
      expect(logs).not.toContain(k.toString('hex').slice(0, 16));
      expect(logs).not.toContain(k.toString('base64').slice(0, 12));
    }
    expect(logs).toMatch(/SCCP registered/);

    // Connection loss (the phone goes away mid-call): the media session is released.
    phone.sock.destroy();
    await until(() => env.media.sessions().length === 0, 'media released when the connection goes');
  }, 30_000);
});
