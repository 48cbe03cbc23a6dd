/**
 * Which survivor takes a dead node's media sessions over (docs/cluster.md §7, roles): one, the
 * live follower (standby or active-active) next after the dead node in name order, wrapping; an
 * `active` node never does. The others keep their copies until the adopter's deletions drop
 * them. Real redis-server; the media services are stand-ins that note what they adopt.
 */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import { MediaReplica, takeoverBy } from '../../src/media/cluster-replica';
import { type RedisServer, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

let redis: RedisServer;
const log = pino({ level: 'silent' }, new Writable({ write: (_c, _e, cb) => cb() }));

interface N {
  name: string;
  link: RedisLink;
  replica: MediaReplica;
  adopted: string[];
  stop(): Promise<void>;
}
const all: N[] = [];

async function node(name: string, follow: boolean): Promise<N> {
  const link = new RedisLink({
    node: name,
    role: follow ? 'active-active' : 'active',
    connect: { url: redis.url(0), options: {}, describe: 'test' },
    secrets: new SecretBox(parseSecretKeys('e'.repeat(64))),
    log,
    metrics: new Registry(),
  });
  expect(await link.start(5000)).toBe(true);
  const replica = new MediaReplica({ store: link, log, follow });
  const adopted: string[] = [];
  replica.start({
    adopt: async (snap, from) => {
      const id = `${Buffer.from(snap).toString()}@${from}`;
      adopted.push(id);
      return id;
    },
    sessions: () => [],
    release: async () => undefined,
  });
  const n: N = {
    name,
    link,
    replica,
    adopted,
    stop: async () => {
      replica.stop();
      await link.stop();
    },
  };
  all.push(n);
  return n;
}

async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  while (!f()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const n of all) await n.stop().catch(() => undefined);
  await redis.stop();
});

test('the rule: the next live follower after the dead node, wrapping; active nodes never', () => {
  const alive = (...xs: [string, 'f' | 'p'][]) => xs.map(([n, r]) => ({ key: `media-alive:${n}`, value: `1 ${r}` }));
  expect(takeoverBy('a', 'c', alive(['b', 'f'], ['c', 'f']))).toBe('b');
  expect(takeoverBy('b', 'a', alive(['a', 'f'], ['c', 'f']))).toBe('c');
  expect(takeoverBy('c', 'b', alive(['a', 'f'], ['b', 'f']))).toBe('a'); // wraps
  expect(takeoverBy('a', 'c', alive(['b', 'p'], ['c', 'f']))).toBe('c'); // b is active: not a taker
  expect(takeoverBy('a', 'b', [])).toBe('b'); // alone: this node
  expect(takeoverBy('a', 'b', [{ key: 'media-alive:c', value: '12345' }])).toBe('b'); // a value of old: not a taker
});

test('three active-active nodes: a dies, only b takes its calls over; c drops its copies', async () => {
  const [a, b, c] = [await node('a', true), await node('b', true), await node('c', true)];
  a.replica.publish('m1', Buffer.from('m1'));
  a.replica.publish('m2', Buffer.from('m2'));
  await until('b and c follow a', () => b.replica.status().foreign === 2 && c.replica.status().foreign === 2);
  await a.stop();
  await until('b takes a’s calls over', () => b.adopted.length === 2);
  expect(b.adopted.sort()).toEqual(['m1@a', 'm2@a']);
  await until('c drops its copies', () => c.replica.status().foreign === 0);
  await new Promise((r) => setTimeout(r, 1500)); // past c's second look
  expect(c.adopted).toEqual([]);
  expect((await redis.cli('KEYS', 'pp:media:a:*')).trim()).toBe('');
  await b.stop();
  await c.stop();
  await new Promise((r) => setTimeout(r, 600)); // their heartbeats expire
});

test('the chosen survivor dying too: the next one takes over; an active node takes nothing', async () => {
  const n1 = await node('n1', true);
  const n2 = await node('n2', false); // active: publishes only
  const n3 = await node('n3', true);
  const n4 = await node('n4', true);
  n3.replica.publish('m3', Buffer.from('m3'));
  await until('n1 and n4 follow n3', () => n1.replica.status().foreign === 1 && n4.replica.status().foreign === 1);
  // n3 dies, and n4, next after it, with it: n1 (wrapping past n2, which is active) takes over.
  await Promise.all([n3.stop(), n4.stop()]);
  await until('n1 takes n3’s call over', () => n1.adopted.length === 1, 5000);
  expect(n1.adopted).toEqual(['m3@n3']);
  expect(n2.adopted).toEqual([]);
});
