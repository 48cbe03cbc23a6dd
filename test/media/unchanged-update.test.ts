/**
 * A leg update that changes nothing (a hold/resume re-INVITE with the address and keys it had)
 * is not sent to the worker (issue 13, CPU per call): what decides it (sameLegConfig), and what
 * a phone behind a NAT sees: media toward it keeps going where its packets came from, instead of
 * back to the address its SDP names until it speaks again.
 */
import { sameLegConfig } from '../../src/media/same-leg-config';
import { createMediaService, type MediaService } from '../../src/media/service';
import { mediaContext, requireBuiltWorker, rtpPacket, UdpPeer } from '../support/media-harness';
import { serve } from '../support/serve';

const key = (fill: number) => new Uint8Array(30).fill(fill);
const SRTP = { profile: 'AES_CM_128_HMAC_SHA1_80' as const, recvKey: key(1), sendKey: key(2) };
const PEER = { address: '127.0.1.60', rtpPort: 40000, rtcpPort: 40001 };

test('sameLegConfig: unchanged only for the same mode, profile, keys (by value) and peer, or no peer', () => {
  const current = { mode: 'srtp' as const, peer: PEER, srtp: SRTP };
  expect(sameLegConfig(current, { mode: 'srtp', peer: { ...PEER }, srtp: { ...SRTP, recvKey: key(1) } })).toBe(true);
  // No peer: the worker keeps its destination and latch (hold with c=0.0.0.0, re-key).
  expect(sameLegConfig(current, { mode: 'srtp', srtp: SRTP })).toBe(true);
  expect(sameLegConfig(undefined, current)).toBe(false);
  expect(sameLegConfig(current, { mode: 'rtp', peer: PEER })).toBe(false);
  expect(sameLegConfig(current, { mode: 'srtp', peer: { ...PEER, rtpPort: 40002 }, srtp: SRTP })).toBe(false);
  expect(sameLegConfig(current, { mode: 'srtp', peer: { ...PEER, address: '127.0.1.61' }, srtp: SRTP })).toBe(false);
  expect(sameLegConfig(current, { mode: 'srtp', peer: PEER, srtp: { ...SRTP, sendKey: key(3) } })).toBe(false);
  expect(sameLegConfig(current, { mode: 'srtp', peer: PEER, srtp: { ...SRTP, recvKey: key(3) } })).toBe(false);
  expect(sameLegConfig(current, { mode: 'srtp', peer: PEER, srtp: { ...SRTP, profile: 'AEAD_AES_128_GCM' } })).toBe(
    false,
  );
  expect(sameLegConfig({ mode: 'rtp', peer: PEER }, { mode: 'rtp', peer: PEER })).toBe(true);
  expect(sameLegConfig({ mode: 'rtp' }, { mode: 'rtp', peer: PEER })).toBe(false);
});

describe('a phone behind a NAT across re-INVITEs', () => {
  let media: MediaService;
  const peers: UdpPeer[] = [];
  beforeAll(async () => {
    requireBuiltWorker();
    const ctx = mediaContext({ 'rtp-min-port': 61700, 'rtp-max-port': 61707, workers: 1, 'idle-timeout': 3600 });
    media = createMediaService(ctx);
    await serve(media, ctx.control);
  });
  afterAll(async () => {
    for (const p of peers) p.close();
    await media.stop();
  });

  test('an unchanged re-INVITE keeps the latched peer; a changed one goes back to the signaled address', async () => {
    const open = async (a: string) => {
      const p = await UdpPeer.open(a);
      peers.push(p);
      return p;
    };
    // The SDP names `signaled`; the phone's packets come from `natted` (its NAT's mapping).
    const signaled = await open('127.0.1.60');
    const natted = await open('127.0.1.61');
    const inside = await open('127.0.2.50');
    const info = await media.allocate({ callId: 'nat-reinvite@test' });
    const outsideCfg = { mode: 'rtp' as const, peer: { address: signaled.address, rtpPort: signaled.port } };
    await media.updateLeg(info.id, 'outside', outsideCfg);
    await media.updateLeg(info.id, 'inside', { mode: 'rtp', peer: { address: inside.address, rtpPort: inside.port } });

    natted.send(rtpPacket(0x11, 1), info.outside.rtpPort, info.outside.address);
    expect((await inside.next())?.msg.readUInt16BE(2)).toBe(1);
    const toPhone = async (seq: number) => {
      inside.send(rtpPacket(0x22, seq), info.inside.rtpPort, info.inside.address);
      const [atNat, atSignaled] = await Promise.all([natted.next(300), signaled.next(300)]);
      return { natted: atNat?.msg.readUInt16BE(2), signaled: atSignaled?.msg.readUInt16BE(2) };
    };
    expect(await toPhone(10)).toEqual({ natted: 10, signaled: undefined });

    // Hold and resume with the same SDP: nothing changes for the worker, the latch stands.
    await media.updateLeg(info.id, 'outside', { mode: 'rtp' });
    await media.updateLeg(info.id, 'outside', { ...outsideCfg, peer: { ...outsideCfg.peer } });
    expect(await toPhone(11)).toEqual({ natted: 11, signaled: undefined });

    // A new address in the SDP is news: the worker is told, and sends there until it is latched again.
    const moved = await open('127.0.1.62');
    await media.updateLeg(info.id, 'outside', { mode: 'rtp', peer: { address: moved.address, rtpPort: moved.port } });
    inside.send(rtpPacket(0x22, 12), info.inside.rtpPort, info.inside.address);
    expect((await moved.next())?.msg.readUInt16BE(2)).toBe(12);
    await media.release(info.id, 'hangup');
  });
});
