/**
 * Active-active views of media (issue 14, docs/cluster.md §8), through a real redis-server: two
 * nodes, each a media service whose replica runs off its own cluster link (as the daemon builds
 * it). Node b's `show phone-proxy media-sessions --cluster` lists a's session under node a (from
 * a's sealed snapshot in Redis, keys never shown), and b's `clear … --cluster` releases it on a
 * through the command channel: a's session is gone and its ports are free to bind again.
 */
import dgram from 'node:dgram';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import { createMediaService, type MediaService } from '../../src/media/service';
import { mediaContext, requireBuiltWorker, sleep } from '../support/media-harness';
import { type RedisServer, startRedisServer } from '../support/redis-server';
import { serve } from '../support/serve';

jest.setTimeout(60_000);

let redis: RedisServer;
const links: RedisLink[] = [];
const media: MediaService[] = [];
const log = pino({ level: 'info' }, new Writable({ write: (_c, _e, cb) => cb() }));

beforeAll(async () => {
  requireBuiltWorker();
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const m of media) await m.stop().catch(() => undefined);
  for (const l of links) await l.stop();
  await redis.stop();
});

async function node(name: string) {
  const link = new RedisLink({
    node: name,
    role: 'active-active',
    connect: { url: redis.url(0), options: {}, describe: `127.0.0.1:${redis.port}` },
    secrets: new SecretBox(parseSecretKeys('d'.repeat(64))),
    log,
    metrics: new Registry(),
  });
  links.push(link);
  expect(await link.start(5000)).toBe(true);
  const ctx = mediaContext({ 'rtp-min-port': 62040, 'rtp-max-port': 62059, workers: 1, 'idle-timeout': 60 });
  ctx.cluster = link;
  const m = createMediaService(ctx);
  media.push(m);
  await serve(m, ctx.control);
  return { media: m, ctx };
}

type View = { data: { node: string; id: string; legs: unknown[] }[]; tables: { rows: unknown[][] }[] };

const until = async (ok: () => Promise<boolean>, ms = 5000) => {
  const end = Date.now() + ms;
  while (!(await ok()) && Date.now() < end) await sleep(25);
  return ok();
};

function bindable(address: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = dgram.createSocket('udp4');
    s.once('error', () => resolve(false));
    s.bind(port, address, () => s.close(() => resolve(true)));
  });
}

test('b lists a’s session under node a, and b’s clear --cluster releases it on a (ports free again)', async () => {
  const a = await node('a');
  const b = await node('b');
  const key = Uint8Array.from({ length: 30 }, (_, i) => i + 1);
  const info = await a.media.allocate({ callId: 'views-call@127.0.0.1' });
  await a.media.updateLeg(info.id, 'outside', {
    peer: { address: '127.0.1.90', rtpPort: 40000 },
    mode: 'srtp',
    srtp: { profile: 'AES_CM_128_HMAC_SHA1_80', recvKey: key, sendKey: key },
  });
  await a.media.updateLeg(info.id, 'inside', { peer: { address: '127.0.2.90', rtpPort: 40002 }, mode: 'rtp' });

  const show = b.ctx.control.findShow(['phone-proxy', 'media-sessions']);
  const clear = b.ctx.control.findClear(['phone-proxy', 'media-sessions']);
  if (!show || !clear) throw new Error('media views not registered');
  const render = async () => (await show.item.render(['--cluster'])) as View;
  expect(await until(async () => (await render()).data.some((r) => r.node === 'a' && r.id === info.id))).toBe(true);
  const view = await render();
  const row = view.tables[0]?.rows.find((r) => r[0] === 'a');
  expect(row?.slice(0, 3)).toEqual(['a', info.id, 'views-call@127.0.0.1']);
  expect(row?.[6]).toBe('127.0.1.90:40000');
  expect(row?.[7]).toBe('srtp AES_CM_128_HMAC_SHA1_80');
  // The master key never leaves in the view (base64 or bytes).
  const text = JSON.stringify(view);
  expect(text).not.toContain(Buffer.from(key).toString('base64').slice(0, 16));
  expect(text).not.toContain('recvKey');
  // Without --cluster, b shows only its own (none).
  expect(((await show.item.render([])) as View).data).toEqual([]);

  expect(
    await Promise.resolve(clear.item.run([info.id, 'nosuchnode', '--cluster'])).catch((e: Error) => e.message),
  ).toMatch(/no media session .* on node nosuchnode/);
  expect(await clear.item.run(['--cluster', info.id])).toBe('cleared 1 media session cluster-wide');
  expect(await until(async () => !a.media.has(info.id))).toBe(true);
  expect(a.media.pools().reduce((n, p) => n + p.pool.stats().inUse, 0)).toBe(0);
  expect(await until(() => bindable(info.outside.address, info.outside.rtpPort))).toBe(true);
  expect(await bindable(info.inside.address, info.inside.rtpPort)).toBe(true);
  // a forgot it in Redis too: b's cluster view no longer lists it.
  expect(await until(async () => (await render()).data.length === 0)).toBe(true);
});
