/**
 * releaseLater (bench:sip, CPU per call): a released session is gone at once for signaling
 * (has() false, caps freed) and its destroy rides with the worker's next create — one worker
 * request for both — or, with no create coming, goes alone within a few ms. Its ports come back
 * only once the worker has closed its sockets, so a new session never binds a port still open.
 */
import dgram from 'node:dgram';
import { createMediaService, type MediaService } from '../../src/media/service';
import { WorkerPool } from '../../src/media/workers';
import { mediaContext, requireBuiltWorker } from '../support/media-harness';
import { serve } from '../support/serve';
import { until } from '../tls/harness';

/** Whether address:port can be bound now (the worker closed its socket there). */
function bindable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => {
      s.close();
      resolve(false);
    });
    s.bind(port, address, () => s.close(() => resolve(true)));
  });
}

describe('releaseLater', () => {
  let media: MediaService;
  beforeAll(async () => {
    requireBuiltWorker();
    const ctx = mediaContext({ 'rtp-min-port': 65240, 'rtp-max-port': 65247, workers: 1, 'idle-timeout': 3600 });
    media = createMediaService(ctx);
    await serve(media, ctx.control);
  });
  afterAll(async () => {
    await media.stop();
  });
  afterEach(() => jest.restoreAllMocks());

  const inUse = () => media.pools().map((p) => p.pool.stats().inUse);

  test('the destroy rides with the next create: one request; the ports come back after it', async () => {
    const a = await media.allocate({ callId: 'later-a@test', phone: 'SEP00AA', connection: 'c1' });
    const requests = jest.spyOn(WorkerPool.prototype, 'request');
    media.releaseLater(a.id, 'BYE');
    expect(media.has(a.id)).toBe(false);
    expect(media.sessions()).toHaveLength(0);
    expect(media.releases.get('BYE')).toBe(1);
    // Not closed yet: its pairs are still taken, so the next session gets others.
    expect(inUse()).toEqual([1, 1]);
    const b = await media.allocate({ callId: 'later-b@test', phone: 'SEP00AA', connection: 'c1' });
    expect(requests.mock.calls.map((c) => [c[1].op, (c[1] as { release?: string[] }).release])).toEqual([
      ['create', [a.id]],
    ]);
    expect(b.outside.rtpPort).not.toBe(a.outside.rtpPort);
    expect(inUse()).toEqual([1, 1]);
    expect(await bindable(a.outside.address, a.outside.rtpPort)).toBe(true);
    expect(await bindable(a.inside.address, a.inside.rtpPort)).toBe(true);
    await media.release(b.id, 'test');
  });

  test('with no create coming, the destroy goes alone within a few ms', async () => {
    const a = await media.allocate({ callId: 'later-c@test' });
    const requests = jest.spyOn(WorkerPool.prototype, 'request');
    media.releaseLater(a.id, 'BYE');
    await until(() => inUse().every((n) => n === 0), 'the pairs back in the pools');
    expect(requests.mock.calls.map((c) => c[1].op)).toEqual(['destroy']);
    expect(await bindable(a.outside.address, a.outside.rtpPort)).toBe(true);
    expect(() => media.releaseLater(a.id, 'BYE')).toThrow(/unknown media session/);
  });
});
