/**
 * The offer's leg travels with the create (issue 13, CPU per call): allocate({ first }) binds the
 * session and programs that leg in one worker request, and the inspector's updateLeg with the
 * same config that follows costs none. A first config the service cannot take is not applied
 * and is refused, counted once, by that updateLeg.
 */
import { createMediaService, type MediaService } from '../../src/media/service';
import { WorkerPool } from '../../src/media/workers';
import { mediaContext, requireBuiltWorker, rtpPacket, UdpPeer } from '../support/media-harness';
import { serve } from '../support/serve';

describe('allocate with the first leg', () => {
  let media: MediaService;
  const peers: UdpPeer[] = [];
  beforeAll(async () => {
    requireBuiltWorker();
    const ctx = mediaContext({ 'rtp-min-port': 61950, 'rtp-max-port': 61957, workers: 1, 'idle-timeout': 3600 });
    media = createMediaService(ctx);
    await serve(media, ctx.control);
  });
  afterAll(async () => {
    for (const p of peers) p.close();
    await media.stop();
  });
  afterEach(() => jest.restoreAllMocks());

  test('one worker request binds and programs the leg; the same updateLeg after sends nothing', async () => {
    const phone = await UdpPeer.open('127.0.1.70');
    const ucm = await UdpPeer.open('127.0.2.70');
    peers.push(phone, ucm);
    const requests = jest.spyOn(WorkerPool.prototype, 'request');
    const outside = { mode: 'rtp' as const, peer: { address: phone.address, rtpPort: phone.port } };
    const info = await media.allocate({ callId: 'first-leg@test', first: { leg: 'outside', cfg: outside } });
    await media.updateLeg(info.id, 'outside', { ...outside, peer: { ...outside.peer } });
    expect(requests.mock.calls.map((c) => c[1].op)).toEqual(['create']);
    await media.updateLeg(info.id, 'inside', { mode: 'rtp', peer: { address: ucm.address, rtpPort: ucm.port } });
    expect(requests).toHaveBeenCalledTimes(2);
    // The outside peer came with the create: the inside peer's packet goes to the phone.
    ucm.send(rtpPacket(0x33, 7), info.inside.rtpPort, info.inside.address);
    expect((await phone.next())?.msg.readUInt16BE(2)).toBe(7);
    await media.release(info.id, 'hangup');
  });

  test('a first config the service refuses is not applied: the updateLeg after refuses it, counted once', async () => {
    const bad = { mode: 'rtp' as const, peer: { address: 'phone.example', rtpPort: 40000 } };
    const before = media.errors.get('bad-request') ?? 0;
    const info = await media.allocate({ callId: 'first-leg-bad@test', first: { leg: 'outside', cfg: bad } });
    expect(media.errors.get('bad-request') ?? 0).toBe(before);
    await expect(media.updateLeg(info.id, 'outside', bad)).rejects.toThrow(/not an IPv4 address/);
    expect(media.errors.get('bad-request')).toBe(before + 1);
    await media.release(info.id, 'refused');
  });
});
