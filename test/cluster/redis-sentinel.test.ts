/** appliance-cluster.redis as Sentinels: the link asks a real Sentinel for the master and writes there. */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink, redisConnectOptions } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import type { ApplianceCluster } from '../../src/config/policy-schema';
import { type RedisServer, startRedisSentinel, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

let work: string;
let master: RedisServer;
let sentinel: { port: number; stop(): Promise<void> };
let link: RedisLink | undefined;

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'redis-sentinel-'));
  master = await startRedisServer();
  sentinel = await startRedisSentinel(master, work);
});
afterAll(async () => {
  await link?.stop();
  await sentinel?.stop();
  await master?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('the link finds the master through the Sentinel and writes there', async () => {
  const cluster = {
    redis: { sentinels: [{ host: '127.0.0.1', port: sentinel.port }], name: 'mymaster', db: 2 },
    node: 's',
    role: 'active',
    'secret-file': 'x',
    'start-without-redis': false,
  } as ApplianceCluster;
  const connect = redisConnectOptions(cluster, work);
  expect(connect.describe).toBe(`sentinel mymaster via 127.0.0.1:${sentinel.port}`);
  link = new RedisLink({
    node: 's',
    role: 'active',
    connect,
    secrets: new SecretBox(parseSecretKeys('e'.repeat(64))),
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
  });
  expect(await link.start(5000)).toBe(true);
  expect(await link.setIfAbsent('via-sentinel', 'yes')).toBe(true);
  expect((await master.cli('-n', '2', 'GET', 'pp:via-sentinel')).trim()).toBe('yes');
});
