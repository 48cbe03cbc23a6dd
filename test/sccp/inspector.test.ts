import { decideLegs } from '../../src/contracts/leg-decision';
import { parseFrame } from '../../src/sccp/framing';
import { type InspectorEvent, SccpInspector, type SccpInspectorOptions, type Verdict } from '../../src/sccp/inspector';
import { KeyBlock } from '../../src/sccp/key-block';
import { decodeMessage, encodeMessage, type MessageOf, type SccpMessage } from '../../src/sccp/messages';
import { samples, testKey } from '../support/sccp-samples';
import { MediaDouble } from './media-double';

type Kind = SccpMessage['kind'];
type MsgOf<K extends Kind> = MessageOf<K>;

function sample<K extends Kind>(version: number, kind: K, over: Partial<MsgOf<K>> = {}): MsgOf<K> {
  const m = samples(version).find((s) => s.kind === kind);
  if (!m) throw new Error(kind);
  return { ...m, ...over } as MsgOf<K>;
}

const frameOf = (m: SccpMessage, version: number) => parseFrame(encodeMessage(m, version));

function forwarded(v: Verdict): Buffer {
  if (v.action !== 'forward') throw new Error(`expected forward, got ${v.action}: ${v.reason}`);
  return v.data;
}

let keySeed = 0;
function setup(over: Partial<SccpInspectorOptions> = {}) {
  const media = new MediaDouble();
  const events: InspectorEvent[] = [];
  const keys: Buffer[] = [];
  const insp = new SccpInspector({
    connectionId: 7,
    certDeviceName: 'SEP001122334455',
    decision: decideLegs('nonsecure', undefined),
    media,
    randomBytes: (n) => {
      const k = testKey(100 + keySeed++ * 31).subarray(0, n);
      keys.push(k);
      return k;
    },
    onEvent: (e) => events.push(e),
    ...over,
  });
  return { insp, media, events, keys };
}

async function register(insp: SccpInspector, phoneMax: number, chosen: number) {
  forwarded(await insp.fromPhone(frameOf(sample(phoneMax, 'Register', { protocolVer: phoneMax }), phoneMax)));
  forwarded(await insp.fromUcm(frameOf(sample(chosen, 'RegisterAck', { maxProtocolVer: chosen }), chosen)));
  expect(insp.protocolVersion).toBe(chosen);
}

describe('SCCP inspector: identity', () => {
  test('Register passes byte for byte when the name matches the certificate (any hex case)', async () => {
    const { insp } = setup({ certDeviceName: 'sep001122334455' });
    const f = frameOf(sample(17, 'Register'), 17);
    expect(await insp.fromPhone(f)).toEqual({ action: 'forward', data: f.raw, rewritten: false });
    expect(insp.deviceName).toBe('SEP001122334455');
  });

  test.each([
    [
      { certDeviceName: 'SEP00112233445F' },
      /Register device name SEP001122334455 does not match certificate device name SEP00112233445F/,
    ],
    [{ securePhoneDeviceName: 'SEPAAAAAAAAAAAA' }, /does not match secure-phones record SEPAAAAAAAAAAAA/],
    [{ certDeviceName: undefined }, /certificate carries no device name/],
  ])('mismatch is refused: %o', async (over, reason) => {
    const { insp } = setup(over);
    const v = await insp.fromPhone(frameOf(sample(17, 'Register'), 17));
    expect(v.action).toBe('close');
    expect(v.action === 'close' && v.reason).toMatch(reason);
    expect(insp.stats.refused).toBe(1);
    // Nothing else passes on a refused connection.
    expect((await insp.fromUcm(frameOf(sample(17, 'KeepAliveAck'), 17))).action).toBe('close');
  });

  test('a second Register under another name is refused', async () => {
    const { insp } = setup({ certDeviceName: 'SEP001122334455' });
    await insp.fromPhone(frameOf(sample(17, 'Register'), 17));
    const v = await insp.fromPhone(frameOf(sample(17, 'Register', { deviceName: 'SEP0011223344FF' }), 17));
    expect(v.action).toBe('close');
  });
});

describe('SCCP inspector: protocol version selects the layout', () => {
  test('RegisterAck choice wins over the phone maximum', async () => {
    const { insp } = setup();
    await register(insp, 20, 11);
    // IPv4-layout OpenReceiveChannel decodes; a v17-layout one is refused with the reason.
    expect((await insp.fromUcm(frameOf(sample(11, 'OpenReceiveChannel'), 11))).action).toBe('forward');
    const v = await insp.fromUcm(frameOf(sample(17, 'StartMediaTransmission'), 17));
    expect(v.action === 'close' && v.reason).toMatch(
      /StartMediaTransmission.*protocol version 11.*looks like the v17 layout/,
    );
  });

  test('unknown message ids pass through byte for byte', async () => {
    const { insp } = setup();
    await register(insp, 17, 17);
    const raw = Buffer.from('0c00000011000000ffff000001020304aabbccdd', 'hex');
    const v = await insp.fromUcm(parseFrame(raw));
    expect(v).toEqual({ action: 'forward', data: raw, rewritten: false });
  });
});

describe.each([11, 17, 20])('SCCP inspector: call through media termination, protocol version %i', (version) => {
  const party = 16777301;
  const callRef = 22000001;

  async function callSetup(over: Partial<SccpInspectorOptions> = {}, ucmKeys?: { rx: KeyBlock; tx: KeyBlock }) {
    const ctx = setup(over);
    const { insp, media } = ctx;
    await register(insp, version, version);
    const orcIn = sample(version, 'OpenReceiveChannel', { rxKey: ucmKeys?.rx ?? KeyBlock.none() });
    const orcOut = decodeMessage(parseFrame(forwarded(await insp.fromUcm(frameOf(orcIn, version)))), version);
    const ackIn = sample(version, 'OpenReceiveChannelAck');
    const ackOut = decodeMessage(parseFrame(forwarded(await insp.fromPhone(frameOf(ackIn, version)))), version);
    const smtIn = sample(version, 'StartMediaTransmission', { txKey: ucmKeys?.tx ?? KeyBlock.none() });
    const smtOut = decodeMessage(parseFrame(forwarded(await insp.fromUcm(frameOf(smtIn, version)))), version);
    const smtAckIn = sample(version, 'StartMediaTransmissionAck');
    const smtAckOut = decodeMessage(parseFrame(forwarded(await insp.fromPhone(frameOf(smtAckIn, version)))), version);
    expect(media.allocations).toHaveLength(1);
    const alloc = media.allocations[0]?.allocation;
    if (!alloc) throw new Error('no allocation');
    return { ...ctx, alloc, orcIn, orcOut, ackIn, ackOut, smtIn, smtOut, smtAckIn, smtAckOut };
  }

  test('authenticated phone (CIPC): phone leg RTP, no key pushed to the phone either way', async () => {
    const c = await callSetup({ decision: decideLegs('nonsecure', undefined, 'authenticated') });
    const id = String(c.alloc.id);
    expect(c.media.last(id, 'outside')).toMatchObject({ mode: 'rtp' });
    expect(c.media.last(id, 'outside')?.srtp).toBeUndefined();
    const rx = (c.orcOut as MsgOf<'OpenReceiveChannel'>).rxKey;
    const tx = (c.smtOut as MsgOf<'StartMediaTransmission'>).txKey;
    expect(rx.encrypted).toBe(false);
    expect(tx?.encrypted).toBe(false);
    expect(c.keys.every((k) => !rx.key.includes(k.subarray(0, 16)))).toBe(true);
  });

  test('nonsecure cluster: phone leg SRTP with appliance keys, inside RTP, addresses rewritten', async () => {
    const c = await callSetup();
    const { media, alloc } = c;
    expect(media.allocations[0]?.callId).toBe(`sccp:7:${callRef}:${party}`);
    const id = String(alloc.id);
    const outside = media.last(id, 'outside');
    const inside = media.last(id, 'inside');
    // Outside: SRTP, default suite, peer = where the phone said it receives.
    expect(outside?.mode).toBe('srtp');
    expect(outside?.srtp?.profile).toBe('AES_CM_128_HMAC_SHA1_80');
    expect(outside?.peer).toEqual({ address: '10.0.0.50', rtpPort: 16384, rtcpPort: 16385 });
    // Inside: plain RTP to the far end from StartMediaTransmission.
    expect(inside).toEqual({ mode: 'rtp', peer: { address: '203.0.113.10', rtpPort: 24580, rtcpPort: 24581 } });

    // OpenReceiveChannel toward the phone: the appliance's send key, outside source address.
    expect(c.orcOut).toEqual({
      ...c.orcIn,
      rxKey: expect.any(KeyBlock),
      sourceIpAddr: { type: 0, ip: alloc.outside.address },
      sourcePortNumber: alloc.outside.rtpPort,
    });
    if (c.orcOut.kind !== 'OpenReceiveChannel' || c.smtOut.kind !== 'StartMediaTransmission') throw new Error('kind');
    expect(c.orcOut.rxKey.describe()).toEqual({ algorithmId: 2, keyLength: 16, saltLength: 14 });
    expect(c.orcOut.rxKey.masterKeySalt()).toEqual(outside?.srtp?.sendKey);
    // StartMediaTransmission toward the phone: send to the outside leg, with the key the appliance decrypts with.
    expect(c.smtOut).toEqual({
      ...c.smtIn,
      txKey: expect.any(KeyBlock),
      remoteIpAddr: { type: 0, ip: alloc.outside.address },
      remotePortNumber: alloc.outside.rtpPort,
    });
    expect(c.smtOut.txKey?.masterKeySalt()).toEqual(outside?.srtp?.recvKey);
    expect(outside?.srtp?.recvKey).not.toEqual(outside?.srtp?.sendKey);
    // Acks toward UCM only show the inside leg.
    expect(c.ackOut).toEqual({
      ...c.ackIn,
      ipAddr: { type: 0, ip: alloc.inside.address },
      portNumber: alloc.inside.rtpPort,
    });
    expect(c.smtAckOut).toEqual({
      ...c.smtAckIn,
      transmitIpAddr: { type: 0, ip: alloc.inside.address },
      transmitPort: alloc.inside.rtpPort,
    });
    expect(c.insp.stats.rewritten).toBe(4);
    expect(c.insp.streamsView()).toEqual([
      expect.objectContaining({
        deviceName: 'SEP001122334455',
        callReference: callRef,
        passThruPartyId: party,
        receive: 'open',
        transmit: 'open',
        insideMedia: 'rtp',
      }),
    ]);
  });

  test('encrypted phone in a mixed cluster: UCM keys on the inside leg, fresh keys outside', async () => {
    const ucmRx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(50));
    const ucmTx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(60));
    const c = await callSetup({ decision: decideLegs('mixed', 'encrypted') }, { rx: ucmRx, tx: ucmTx });
    const id = String(c.alloc.id);
    const inside = c.media.last(id, 'inside');
    expect(inside?.mode).toBe('srtp');
    expect(inside?.srtp).toEqual({ profile: 'AES_CM_128_HMAC_SHA1_80', recvKey: testKey(50), sendKey: testKey(60) });
    const outside = c.media.last(id, 'outside');
    // The phone gets UCM's suite but never UCM's keys.
    expect(outside?.srtp?.profile).toBe('AES_CM_128_HMAC_SHA1_80');
    if (c.orcOut.kind !== 'OpenReceiveChannel' || c.smtOut.kind !== 'StartMediaTransmission') throw new Error('kind');
    expect(c.orcOut.rxKey.algorithmId).toBe(2);
    expect(c.orcOut.rxKey.masterKeySalt()).not.toEqual(testKey(50));
    expect(c.smtOut.txKey?.masterKeySalt()).not.toEqual(testKey(60));
    expect(c.orcOut.rxKey.masterKeySalt()).toEqual(outside?.srtp?.sendKey);
    expect(c.smtOut.txKey?.masterKeySalt()).toEqual(outside?.srtp?.recvKey);
    expect(c.insp.streamsView()[0]?.insideMedia).toBe('srtp');
  });

  test('key bytes never reach events or verdict reasons', async () => {
    const ucmRx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(50));
    const ucmTx = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', testKey(60));
    const c = await callSetup({ decision: decideLegs('mixed', 'encrypted') }, { rx: ucmRx, tx: ucmTx });
    const text = JSON.stringify(c.events) + JSON.stringify(c.insp.streamsView()) + JSON.stringify(c.orcOut);
    for (const k of [...c.keys, testKey(50), testKey(60)]) {
      expect(text).not.toContain(k.toString('hex').slice(0, 16));
      expect(text).not.toContain(k.toString('base64').slice(0, 12));
    }
  });

  test('NAT: a private announced address is replaced by the TLS peer address, at the announced port', async () => {
    const c = await callSetup({ phoneAddress: '198.51.100.99' });
    const peer = c.media.last(String(c.alloc.id), 'outside')?.peer;
    expect(peer).toEqual({ address: '198.51.100.99', rtpPort: 16384, rtcpPort: 16385 });
    // Not behind NAT (the TLS peer is private too): the announced address stands.
    const d = await callSetup({ phoneAddress: '10.9.9.9' });
    expect(d.media.last(String(d.alloc.id), 'outside')?.peer?.address).toBe('10.0.0.50');
  });

  test('the 32-bit-tag suite can be chosen for the phone leg', async () => {
    const c = await callSetup({ outsideProfile: 'AES_CM_128_HMAC_SHA1_32' });
    if (c.orcOut.kind !== 'OpenReceiveChannel') throw new Error('kind');
    expect(c.orcOut.rxKey.algorithmId).toBe(1);
    expect(c.media.last(String(c.alloc.id), 'outside')?.srtp?.profile).toBe('AES_CM_128_HMAC_SHA1_32');
  });

  test('Close then Stop releases the media session once; hold/resume allocates a new one', async () => {
    const c = await callSetup();
    const f = (kind: 'CloseReceiveChannel' | 'StopMediaTransmission') => frameOf(sample(version, kind), version);
    const close = f('CloseReceiveChannel');
    expect(await c.insp.fromUcm(close)).toEqual({ action: 'forward', data: close.raw, rewritten: false });
    expect(c.media.released).toHaveLength(0);
    await c.insp.fromUcm(f('StopMediaTransmission'));
    expect(c.media.released).toEqual([{ id: String(c.alloc.id), reason: 'StopMediaTransmission' }]);
    // Resume: new party id, new session.
    await c.insp.fromUcm(frameOf(sample(version, 'OpenReceiveChannel', { passThruPartyId: party + 1 }), version));
    expect(c.media.allocations).toHaveLength(2);
    expect(c.media.live).toEqual([c.media.allocations[1]?.id]);
  });

  test('on-hook CallState releases the call; other states do not', async () => {
    const c = await callSetup();
    await c.insp.fromUcm(frameOf(sample(version, 'CallState', { callState: 5 }), version));
    expect(c.media.released).toHaveLength(0);
    expect(c.insp.streamsView()[0]?.callState).toBe(5);
    await c.insp.fromUcm(frameOf(sample(version, 'CallState', { callState: 2, callReference: callRef + 1 }), version));
    expect(c.media.released).toHaveLength(0);
    await c.insp.fromUcm(frameOf(sample(version, 'CallState', { callState: 2 }), version));
    expect(c.media.released).toEqual([{ id: String(c.alloc.id), reason: 'on-hook' }]);
    expect(c.insp.streamsView()).toEqual([]);
  });

  test('Unregister and connection loss release everything', async () => {
    const c = await callSetup();
    await c.insp.fromUcm(
      frameOf(sample(version, 'OpenReceiveChannel', { passThruPartyId: party + 9, callReference: 5 }), version),
    );
    expect(c.media.live).toHaveLength(2);
    const un = frameOf(sample(version, 'Unregister'), version);
    expect(await c.insp.fromPhone(un)).toEqual({ action: 'forward', data: un.raw, rewritten: false });
    expect(c.media.live).toHaveLength(0);

    const d = await callSetup();
    await d.insp.close('phone leg reset');
    expect(d.media.released).toEqual([{ id: String(d.alloc.id), reason: 'connection closed: phone leg reset' }]);
    expect((await d.insp.fromUcm(frameOf(sample(version, 'KeepAliveAck'), version))).action).toBe('close');
  });

  test('no media ports: the message is dropped, the connection stays usable', async () => {
    const { insp, media } = setup();
    await register(insp, version, version);
    media.failNextAllocate = 'no free port pair';
    const v = await insp.fromUcm(frameOf(sample(version, 'OpenReceiveChannel'), version));
    expect(v).toEqual({ action: 'drop', reason: 'OpenReceiveChannel: media allocation failed: no free port pair' });
    expect(
      forwarded(await insp.fromUcm(frameOf(sample(version, 'OpenReceiveChannel'), version))).length,
    ).toBeGreaterThan(0);
    // An ack for a stream the appliance does not hold never leaks the phone's address to UCM.
    const stray = await insp.fromPhone(
      frameOf(sample(version, 'OpenReceiveChannelAck', { passThruPartyId: 42 }), version),
    );
    expect(stray.action).toBe('drop');
  });

  test('video streams are proxied like audio', async () => {
    const { insp, media } = setup();
    await register(insp, version, version);
    const ommrc = sample(version, 'OpenMultiMediaReceiveChannel', { rxKey: KeyBlock.none() });
    const out = decodeMessage(parseFrame(forwarded(await insp.fromUcm(frameOf(ommrc, version)))), version);
    if (out.kind !== 'OpenMultiMediaReceiveChannel') throw new Error(out.kind);
    const alloc = media.allocations[0]?.allocation;
    expect(out.rxKey.algorithmId).toBe(2);
    expect(out.parameters).toEqual(ommrc.parameters);
    expect(out.sourceIpAddr).toEqual({ type: 0, ip: alloc?.outside.address });
    const smmt = sample(version, 'StartMultiMediaTransmission', {
      passThruPartyId: ommrc.passThruPartyId,
      txKey: KeyBlock.none(),
    });
    const out2 = decodeMessage(parseFrame(forwarded(await insp.fromUcm(frameOf(smmt, version)))), version);
    if (out2.kind !== 'StartMultiMediaTransmission') throw new Error(out2.kind);
    expect(out2.remoteIpAddr.ip).toBe(alloc?.outside.address);
    expect(out2.remotePortNumber).toBe(alloc?.outside.rtpPort);
    expect(media.allocations).toHaveLength(1);
    const ack = sample(version, 'OpenMultiMediaReceiveChannelAck', { passThruPartyId: ommrc.passThruPartyId });
    const out3 = decodeMessage(parseFrame(forwarded(await insp.fromPhone(frameOf(ack, version)))), version);
    expect(out3).toMatchObject({ ipAddr: { ip: alloc?.inside.address }, portNumber: alloc?.inside.rtpPort });
    expect(insp.streamsView()[0]?.kind).toBe('video');
  });
});

test('messages are handled in arrival order even when the caller does not wait', async () => {
  const { insp, media } = setup();
  const v = 17;
  const all = await Promise.all([
    insp.fromPhone(frameOf(sample(v, 'Register', { protocolVer: 17 }), v)),
    insp.fromUcm(frameOf(sample(v, 'RegisterAck', { maxProtocolVer: 17 }), v)),
    insp.fromUcm(frameOf(sample(v, 'OpenReceiveChannel'), v)),
    insp.fromPhone(frameOf(sample(v, 'OpenReceiveChannelAck'), v)),
  ]);
  expect(all.map((x) => x.action)).toEqual(['forward', 'forward', 'forward', 'forward']);
  expect(media.last('m1', 'outside')?.peer?.rtpPort).toBe(16384);
});

describe('SCCP inspector: nonsecure listener, bind-identity, registrations', () => {
  test('a phone on a nonsecure listener has no certificate: its Register passes and is reported once acknowledged', async () => {
    const seen: string[] = [];
    const { insp } = setup({
      certDeviceName: undefined,
      decision: decideLegs('mixed', 'encrypted', 'nonsecure'),
      onRegistered: (d) => seen.push(d),
    });
    await register(insp, 17, 17);
    expect(seen).toEqual(['SEP001122334455']);
    forwarded(await insp.fromPhone(frameOf(sample(17, 'KeepAlive'), 17)));
    expect(seen).toEqual(['SEP001122334455', 'SEP001122334455']);
  });

  test('a certificate without a device name is refused on TLS unless bind-identity is off', async () => {
    const f = frameOf(sample(17, 'Register'), 17);
    expect((await setup({ certDeviceName: undefined }).insp.fromPhone(f)).action).toBe('close');
    expect((await setup({ certDeviceName: undefined, bindIdentity: false }).insp.fromPhone(f)).action).toBe('forward');
    expect((await setup({ certDeviceName: 'SEP00000000AAAA', bindIdentity: false }).insp.fromPhone(f)).action).toBe(
      'forward',
    );
  });
});
