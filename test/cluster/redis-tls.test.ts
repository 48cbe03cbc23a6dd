/**
 * The cluster link over TLS with AUTH, against a real redis-server (TLS port only, requirepass),
 * certificates made by openssl: the policy's rediss:// URL and appliance-cluster.tls.ca connect;
 * without the CA, or with a wrong password, the link does not come up.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink, redisConnectOptions } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import type { ApplianceCluster } from '../../src/config/policy-schema';
import { type RedisServer, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

let work: string;
let redis: RedisServer;
const links: RedisLink[] = [];

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'redis-tls-'));
  const f = (n: string) => path.join(work, n);
  const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });
  ossl(
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-keyout',
    'ca.key',
    '-out',
    'ca.pem',
    '-days',
    '1',
    '-subj',
    '/CN=redis-test-ca',
  );
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', 'srv.key', '-out', 'srv.csr', '-subj', '/CN=localhost');
  writeFileSync(f('ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
  ossl(
    'x509',
    '-req',
    '-in',
    'srv.csr',
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    'srv.pem',
    '-days',
    '1',
    '-extfile',
    'ext',
  );
  redis = await startRedisServer({
    password: 's3cret',
    tls: { cert: f('srv.pem'), key: f('srv.key'), ca: f('ca.pem') },
  });
});
afterAll(async () => {
  for (const l of links) await l.stop();
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

function link(c: Partial<ApplianceCluster>): RedisLink {
  const cluster = {
    node: 't',
    role: 'active',
    'secret-file': 'x',
    'start-without-redis': false,
    redis: redis.url(0),
    ...c,
  };
  const l = new RedisLink({
    node: 't',
    role: 'active',
    connect: redisConnectOptions(cluster as ApplianceCluster, work),
    secrets: new SecretBox(parseSecretKeys('d'.repeat(64))),
    log: pino({ level: 'silent' }),
    metrics: new Registry(),
  });
  links.push(l);
  return l;
}

test('rediss:// with the CA and the password: up, and the write lands', async () => {
  const l = link({ tls: { ca: 'ca.pem' } });
  expect(redis.url(0)).toMatch(/^rediss:\/\/:s3cret@127\.0\.0\.1:\d+\/0$/);
  expect(await l.start(5000)).toBe(true);
  expect(await l.setIfAbsent('tls-check', 'yes')).toBe(true);
  expect((await redis.cli('GET', 'pp:tls-check')).trim()).toBe('yes');
});

test('a server certificate the CA does not vouch for, or a wrong password: not up', async () => {
  expect(await link({}).start(1500)).toBe(false);
  expect(await link({ tls: { ca: 'ca.pem' }, redis: redis.url(0).replace('s3cret', 'wrong') }).start(1500)).toBe(false);
});
