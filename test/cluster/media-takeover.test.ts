/**
 * Media replication through a real redis-server (issue 14, docs/cluster.md §7): node A relays a
 * secure call and publishes its snapshots (sealed) through its cluster link; node B follows.
 * A dies (its heartbeat stops, its sockets close; it forgets nothing): B sees A's heartbeat key
 * expire, adopts the session on the same ports, and the call goes on with no SRTP failure at
 * the phone or the inside peer. And with Redis killed mid-call, A keeps relaying.
 *
 * Both nodes run in this process (their own workers and engines); kill -9 of a separate node
 * process is test/cluster/media-kill.test.ts.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import type { MediaReplicaSink } from '../../src/contracts/media';
import { MediaReplica } from '../../src/media/cluster-replica';
import { createMediaService, type MediaService } from '../../src/media/service';
import { mediaContext, requireBuiltWorker, sleep } from '../support/media-harness';
import { type RedisServer, startRedisServer } from '../support/redis-server';
import { serve } from '../support/serve';
import { SrtpCall } from '../support/srtp-call';

jest.setTimeout(60_000);

let redis: RedisServer;
const links: RedisLink[] = [];
const replicas: MediaReplica[] = [];
const media: MediaService[] = [];
const logLines: string[] = [];
const log = pino(
  { level: 'info' },
  new Writable({
    write(chunk: Buffer, _e, cb) {
      logLines.push(chunk.toString());
      cb();
    },
  }),
);

beforeAll(async () => {
  requireBuiltWorker();
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const r of replicas) r.stop();
  for (const m of media) await m.stop().catch(() => undefined);
  for (const l of links) await l.stop();
  await redis.stop();
});

async function node(name: string, follow: boolean, ports: number) {
  const link = new RedisLink({
    node: name,
    role: follow ? 'standby' : 'active',
    connect: { url: redis.url(0), options: {}, describe: `127.0.0.1:${redis.port}` },
    secrets: new SecretBox(parseSecretKeys('c'.repeat(64))),
    log,
    metrics: new Registry(),
  });
  links.push(link);
  expect(await link.start(5000)).toBe(true);
  const replica = new MediaReplica({ store: link, log, follow, heartbeatMs: 100, deadAfterMs: 400 });
  replicas.push(replica);
  let dead = false;
  // A process killed with -9 forgets nothing: after "death" the sink drops everything.
  const sink: MediaReplicaSink = {
    publish: (id, s) => void (dead || replica.publish(id, s)),
    forget: (id) => void (dead || replica.forget(id)),
  };
  const ctx = mediaContext({ 'rtp-min-port': ports, 'rtp-max-port': ports + 19, workers: 1, 'idle-timeout': 60 });
  const m = createMediaService(ctx, { replica: sink, replicaEveryMs: 200, adoptBindMs: 3000 });
  media.push(m);
  await serve(m, ctx.control);
  replica.start(m);
  const die = async () => {
    dead = true;
    replica.stop();
    await m.stop();
  };
  return { link, replica, media: m, ctx, die };
}

test('B takes over A’s call when A’s heartbeat expires: same ports, no SRTP failure either side', async () => {
  const a = await node('a', false, 64300);
  const b = await node('b', true, 64300);
  const call = await SrtpCall.place(a.media, '127.0.1.58', '127.0.2.58');
  try {
    await call.until(65_536 + 30);
    // B holds a foreign copy, sealed in Redis (no key bytes in clear there).
    const key = `media:a:${call.info.id}`;
    const end = Date.now() + 5000;
    while (!b.replica.foreign.get('a')?.has(call.info.id) && Date.now() < end) await sleep(20);
    expect(b.replica.foreign.get('a')?.has(call.info.id)).toBe(true);
    expect(await redis.cli('GET', `pp:${key}`)).toMatch(/^sealed:/);

    await a.die();
    const died = Date.now();
    const mark = { peer: call.atPeer, phone: call.atPhone };
    expect(await call.flowsAgain(mark, 5000)).toBe(true);
    const gap = call.resumedAfter(died);
    expect(gap).toBeLessThan(1000);
    await sleep(400);
    expect(call.atPeer - mark.peer).toBeGreaterThan(5);
    expect(call.atPhone - mark.phone).toBeGreaterThan(5);

    const taken = b.media.sessions().find((s) => s.takenOver?.from === 'a');
    expect(taken?.legs.map((l) => l.rtpPort)).toEqual([call.info.outside.rtpPort, call.info.inside.rtpPort]);
    expect(b.replica.takeovers[0]).toMatchObject({ from: 'a', failed: 0 });
    const show = b.ctx.control.findShow(['phone-proxy', 'media-sessions']);
    const view = (await show?.item.render([])) as { tables: { rows: unknown[][] }[] };
    expect(view.tables[0]?.rows.some((r) => r[1] === 'taken over from a')).toBe(true);
    // A's key is gone; B now publishes the session as its own.
    expect((await redis.cli('EXISTS', `pp:${key}`)).trim()).toBe('0');
    expect((await redis.cli('EXISTS', `pp:media:b:${taken?.id}`)).trim()).toBe('1');
  } finally {
    call.stop();
  }
  expect(call.failures).toEqual([]);
});

test('Redis killed mid-call: no crash, the call continues on A, which re-publishes when Redis returns', async () => {
  const a = await node('a2', false, 64340);
  const call = await SrtpCall.place(a.media, '127.0.1.59', '127.0.2.59');
  try {
    await call.until(65_520);
    await redis.kill();
    const mark = { peer: call.atPeer, phone: call.atPhone };
    await sleep(600);
    expect(call.atPeer - mark.peer).toBeGreaterThan(15);
    expect(call.atPhone - mark.phone).toBeGreaterThan(15);
    await redis.start();
    const end = Date.now() + 10_000;
    let exists = '0';
    while (exists !== '1' && Date.now() < end) {
      exists = (await redis.cli('EXISTS', `pp:media:a2:${call.info.id}`).catch(() => '0')).trim();
      await sleep(100);
    }
    expect(exists).toBe('1');
  } finally {
    call.stop();
  }
  expect(call.failures).toEqual([]);
});
