/** The cluster link against a real redis-server: queued writes, outage, return and resync. */
import { Writable } from 'node:stream';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink, reconnectDelay } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import { LdcCache } from '../../src/tls/ldc-cache';
import { type RedisServer, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

let redis: RedisServer;
const links: RedisLink[] = [];

beforeAll(async () => {
  redis = await startRedisServer();
});
afterAll(async () => {
  for (const l of links) await l.stop();
  await redis.stop();
});

function logSink() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      lines.push(...chunk.toString().trim().split('\n'));
      cb();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

function link(node: string, outboxMax?: number) {
  const { log, lines } = logSink();
  const metrics = new Registry();
  const l = new RedisLink({
    node,
    role: 'active-active',
    connect: { url: redis.url(0), options: {}, describe: `127.0.0.1:${redis.port}` },
    secrets: new SecretBox(parseSecretKeys('b'.repeat(64))),
    log,
    metrics,
    outboxMax,
  });
  links.push(l);
  return { l, lines, metrics };
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const metric = async (m: Registry, name: string) => (await m.getSingleMetric(name)?.get())?.values[0]?.value ?? 0;

test('backoff is bounded: 100 ms doubling to 5 s', () => {
  expect([1, 2, 3, 7, 50].map(reconnectDelay)).toEqual([100, 200, 400, 5000, 5000]);
});

test('writes return at once and land in Redis; secrets are sealed; TTLs and messages go with them', async () => {
  const { l } = link('a');
  const { l: other } = link('b');
  expect(await l.start(5000)).toBe(true);
  expect(await other.start(5000)).toBe(true);
  const heard: string[] = [];
  other.subscribe('events', (m) => heard.push(m));
  await until('subscribed', async () => (await redis.cli('PUBSUB', 'NUMSUB', 'pp:events')).includes('1'));

  l.set('plain:1', 'hello', { ttlMs: 60_000, notify: { channel: 'events', message: 'plain:1 from a' } });
  l.setSecret('secret:1', '-----BEGIN PRIVATE KEY-----xyz');
  await until('both keys', async () => (await redis.cli('EXISTS', 'pp:plain:1', 'pp:secret:1')).trim() === '2');
  expect(Number(await redis.cli('PTTL', 'pp:plain:1'))).toBeGreaterThan(50_000);
  expect(await redis.cli('GET', 'pp:secret:1')).not.toContain('PRIVATE KEY');
  expect((await other.getSecret('secret:1'))?.toString()).toBe('-----BEGIN PRIVATE KEY-----xyz');
  await until('message', () => heard.includes('plain:1 from a'));

  l.expire('plain:1', 500_000);
  await until('ttl refreshed', async () => Number(await redis.cli('PTTL', 'pp:plain:1')) > 400_000);
  expect((await l.scan('plain:', 10)).map((e) => [e.key, e.value])).toEqual([['plain:1', 'hello']]);
  expect(await l.setIfAbsent('once', 'a')).toBe(true);
  expect(await other.setIfAbsent('once', 'b')).toBe(false);
  expect(await other.get('once')).toBe('a');
  l.del('plain:1');
  await until('deleted', async () => (await redis.cli('EXISTS', 'pp:plain:1')).trim() === '0');
});

test('Redis gone: writes still return, one counted outage and one log line; back: state re-published', async () => {
  const { l, lines, metrics } = link('c', 5);
  expect(await l.start(5000)).toBe(true);
  let local = 'v1';
  let resyncs = 0;
  l.onResync('test', () => {
    resyncs++;
    l.set('state:c', local);
  });
  l.set('state:c', local);
  await until('first write', async () => (await redis.cli('GET', 'pp:state:c')).trim() === 'v1');

  await redis.kill();
  await until('link down', () => !l.isUp());
  // The data plane keeps writing: nothing waits, the outbox holds at most 5, the rest is counted.
  local = 'v2';
  for (let n = 0; n < 20; n++) l.set(`burst:${n}`, 'x');
  l.set('state:c', local);
  expect(l.status().outbox).toBe(5);
  expect(l.status().dropped).toBe(16);
  await expect(l.get('state:c')).rejects.toThrow(/unreachable/);
  expect(await metric(metrics, 'phone_proxy_cluster_redis_outages_total')).toBe(1);
  expect(lines.filter((s) => s.includes('serving alone'))).toHaveLength(1);

  await redis.start(); // empty: no persistence
  await until('re-published', async () => (await redis.cli('GET', 'pp:state:c')).trim() === 'v2');
  expect(resyncs).toBe(1);
  expect(l.isUp()).toBe(true);
  expect(lines.some((s) => s.includes('re-publishing local state'))).toBe(true);
  expect(await metric(metrics, 'phone_proxy_cluster_outbox_dropped_total')).toBe(16);
  expect(await metric(metrics, 'phone_proxy_cluster_resyncs_total')).toBe(1);
});

test('unreachable at start: start() says so within its bound', async () => {
  const { log } = logSink();
  const l = new RedisLink({
    node: 'd',
    role: 'active',
    connect: { url: 'redis://127.0.0.1:1/0', options: {}, describe: '127.0.0.1:1' },
    secrets: new SecretBox(parseSecretKeys('c'.repeat(64))),
    log,
    metrics: new Registry(),
  });
  links.push(l);
  expect(await l.start(300)).toBe(false);
  expect(l.isUp()).toBe(false);
});

test('an LDC minted on one node is on the other at once, its key sealed in Redis', async () => {
  const { l: a, lines } = link('ldc-a');
  const { l: b } = link('ldc-b');
  expect(await a.start(5000)).toBe(true);
  expect(await b.start(5000)).toBe(true);
  const { log } = logSink();
  const onA = new LdcCache(a, log);
  const onB = new LdcCache(b, log);
  await onA.start();
  await onB.start();
  await until('subscribed', async () => Number((await redis.cli('PUBSUB', 'NUMSUB', 'pp:ldc')).split('\n')[1]) >= 2);
  const pair = { certPem: '-----BEGIN CERTIFICATE-----\nc\n', keyPem: '-----BEGIN PRIVATE KEY-----\nk\n' };
  onA.put('SEP001122334455', pair);
  expect(await until('heard on b', () => onB.get('SEP001122334455'))).toEqual(pair);
  const stored = await redis.cli('GET', 'pp:ldc:SEP001122334455');
  expect(stored).toMatch(/^sealed:/);
  expect(stored).not.toContain('PRIVATE KEY');
  // A node starting later loads it from Redis.
  const late = new LdcCache(b, log);
  await late.start();
  expect(late.get('SEP001122334455')).toEqual(pair);
  expect(lines.filter((s) => s.includes('does not open'))).toEqual([]);
});
