/**
 * `clear … --cluster` reaches a node that was cut off from Redis when it was sent (issue 14,
 * docs/cluster.md §5): the command is numbered and kept in Redis, and the node applies what it
 * missed when its link returns, before it re-publishes its own state (which would otherwise put
 * the cleared phones back). Real redis-server; node b reaches it through a TCP relay the test
 * cuts and restores, node a directly.
 */
import net from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import { MediaReplica, type MediaReplicaHost } from '../../src/media/cluster-replica';
import { PhonesReplica } from '../../src/tftp/phones-replica';
import { SecurePhones } from '../../src/tftp/secure-phones';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

const DEVICE = 'SEP00AA11BB22CC';
let redis: RedisServer;
const links: RedisLink[] = [];
const replicas: MediaReplica[] = [];
const relays: { cut(): Promise<void> }[] = [];

/** A TCP relay to Redis that can be cut (every connection reset, new ones refused) and restored. */
async function relay(to: number) {
  const port = await freePort();
  const socks = new Set<net.Socket>();
  let server: net.Server | undefined;
  const open = () =>
    new Promise<void>((resolve) => {
      server = net.createServer((c) => {
        const up = net.connect(to, '127.0.0.1');
        for (const s of [c, up]) {
          socks.add(s);
          s.on('close', () => socks.delete(s));
          s.on('error', () => undefined);
        }
        c.pipe(up).pipe(c);
        c.on('close', () => up.destroy());
        up.on('close', () => c.destroy());
      });
      server.listen(port, '127.0.0.1', () => resolve());
    });
  await open();
  const r = {
    port,
    cut: async () => {
      const s = server;
      server = undefined;
      const closed = new Promise<void>((resolve) => (s ? s.close(() => resolve()) : resolve()));
      for (const x of socks) x.destroy();
      await closed;
    },
    restore: open,
  };
  relays.push(r);
  return r;
}

function node(name: string, port: number) {
  const lines: string[] = [];
  const log = pino(
    { level: 'info' },
    new Writable({
      write(chunk: Buffer, _e, cb) {
        lines.push(...chunk.toString().trim().split('\n'));
        cb();
      },
    }),
  );
  const link = new RedisLink({
    node: name,
    role: 'active-active',
    connect: { url: `redis://127.0.0.1:${port}/0`, options: {}, describe: `127.0.0.1:${port}` },
    secrets: new SecretBox(parseSecretKeys('c'.repeat(64))),
    log,
    metrics: new Registry(),
  });
  links.push(link);
  let replica: PhonesReplica | undefined;
  const phones = new SecurePhones({ timeoutSec: 600, onChange: (e) => replica?.publish(e) });
  replica = new PhonesReplica(
    link,
    () => phones,
    () => 600,
    log,
  );
  const sessions = new Set<string>();
  const released: string[] = [];
  const host: MediaReplicaHost = {
    adopt: async () => {
      throw new Error('not in this test');
    },
    sessions: () => [...sessions].map((id) => ({ id })),
    release: async (id) => {
      sessions.delete(id);
      released.push(id);
    },
  };
  const media = new MediaReplica({ store: link, log, follow: false });
  replicas.push(media);
  return { link, phones, replica, media, host, sessions, released, lines };
}

async function until(what: string, f: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await f())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const r of replicas) r.stop();
  for (const l of links) await l.stop();
  for (const r of relays) await r.cut();
  await redis.stop();
});

test('node b, cut off from Redis while node a clears cluster-wide, applies the clears when it returns', async () => {
  const r = await relay(redis.port);
  const a = node('a', redis.port);
  const b = node('b', r.port);
  for (const n of [a, b]) {
    expect(await n.link.start(5000)).toBe(true);
    await n.replica.start();
    n.media.start(n.host);
  }
  // b saw a phone (a gets its copy) and relays a call.
  b.phones.record({
    deviceName: DEVICE,
    mac: DEVICE.slice(3),
    address: '198.51.100.7',
    originalMode: 'nonsecure',
    forcedMode: 'encrypted',
  });
  b.sessions.add('m1');
  await until('a has b’s phone', () => a.phones.get(DEVICE) !== undefined);
  await until('the record in Redis', async () => (await redis.cli('EXISTS', `pp:phone:${DEVICE}`)).trim() === '1');

  await r.cut();
  await until('b sees the outage', () => !b.link.isUp());
  expect(await a.replica.clearEverywhere()).toBe(1);
  await a.media.clearEverywhere();
  expect(a.phones.get(DEVICE)).toBeUndefined();
  expect((await redis.cli('EXISTS', `pp:phone:${DEVICE}`)).trim()).toBe('0');
  expect((await redis.cli('GET', 'pp:cmd-epoch')).trim()).toBe('2');
  expect(Number(await redis.cli('PTTL', 'pp:cmd-log:1'))).toBeGreaterThan(23 * 3600_000);
  await new Promise((res) => setTimeout(res, 300));
  // Cut off, b missed both: its copy and its session are still there.
  expect(b.phones.get(DEVICE)).toBeDefined();
  expect(b.released).toEqual([]);

  await r.restore();
  await until('b applies the missed clears', () => b.phones.get(DEVICE) === undefined && b.released.length === 1);
  expect(b.released).toEqual(['m1']);
  expect(b.link.status()).toMatchObject({ commandEpoch: 2, commandsReplayed: 2 });
  expect(b.lines.some((l) => l.includes('cluster commands missed during the outage applied'))).toBe(true);
  // Its re-publish came after the clear: the phone is not put back into Redis.
  await new Promise((res) => setTimeout(res, 500));
  expect((await redis.cli('EXISTS', `pp:phone:${DEVICE}`)).trim()).toBe('0');
  expect(a.phones.get(DEVICE)).toBeUndefined();

  // Once applied, never twice: another cut and return replays nothing.
  b.sessions.add('m2');
  await r.cut();
  await until('b sees the second outage', () => !b.link.isUp());
  await r.restore();
  await until('b back', () => b.link.isUp());
  await new Promise((res) => setTimeout(res, 500));
  expect(b.released).toEqual(['m1']);
  expect(b.link.status()).toMatchObject({ commandEpoch: 2, commandsReplayed: 2 });

  // A node joining later does not apply the clears sent before it joined.
  const c = node('c', redis.port);
  c.sessions.add('m1');
  expect(await c.link.start(5000)).toBe(true);
  c.media.start(c.host);
  await new Promise((res) => setTimeout(res, 300));
  expect(c.released).toEqual([]);
  expect(c.link.status()).toMatchObject({ commandEpoch: 2, commandsReplayed: 0 });

  // A live clear reaches every node once, numbered on.
  await a.media.clearEverywhere();
  await until('b and c release on the live clear', () => b.released.length === 2 && c.released.length === 1);
  expect(b.released).toEqual(['m1', 'm2']);
  expect(c.link.status()).toMatchObject({ commandEpoch: 3 });

  // Redis restarted empty numbers from 1 again: the nodes follow, the next clear still arrives.
  await redis.stop();
  await until('b sees Redis gone', () => !b.link.isUp() && !a.link.isUp());
  await redis.start();
  await until('all back', () => a.link.isUp() && b.link.isUp() && c.link.isUp());
  await until('b at the new numbering', () => b.link.status().commandEpoch === 0);
  b.sessions.add('m3');
  c.sessions.add('m4');
  await a.media.clearEverywhere();
  await until('the clear after the restart arrives', () => b.released.length === 3 && c.released.length === 2);
  expect(b.released).toEqual(['m1', 'm2', 'm3']);
  expect(b.link.status()).toMatchObject({ commandEpoch: 1, commandsReplayed: 2 });
});

test('a clear whose log entry is gone by the time the node returns is reported, not guessed', async () => {
  const r = await relay(redis.port);
  const a = node('a2', redis.port);
  const b = node('b2', r.port);
  for (const n of [a, b]) {
    expect(await n.link.start(5000)).toBe(true);
    n.media.start(n.host);
  }
  b.sessions.add('m9');
  await r.cut();
  await until('b2 sees the outage', () => !b.link.isUp());
  await a.media.clearEverywhere();
  const epoch = (await redis.cli('GET', 'pp:cmd-epoch')).trim();
  await redis.cli('DEL', `pp:cmd-log:${epoch}`); // as if a day had passed
  await r.restore();
  await until('b2 reports the missed command', () => b.lines.some((l) => l.includes('PPX-4-170016')));
  expect(b.released).toEqual([]);
  expect(b.link.status()).toMatchObject({ commandEpoch: Number(epoch), commandsReplayed: 0 });
});
