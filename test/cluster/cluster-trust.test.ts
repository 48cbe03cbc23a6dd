/** The trust bundle: what a node publishes, the checks on one read back, and its install into a state directory. */
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { Registry } from 'prom-client';
import { RedisLink } from '../../src/cluster/redis-link';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import { ClusterTrustError } from '../../src/errors';
import { installTrustBundle, openClusterState, parseTrustBundle, trustBundle } from '../../src/pki/cluster-trust';
import { openState } from '../../src/pki/state';
import { writePolicy } from '../pki/helpers';
import { type RedisServer, startRedisServer } from '../support/redis-server';

jest.setTimeout(60_000);

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'cluster-trust-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('a bundle carries SASTs, generated trustpoints and the LDC key; installed, the other node opens the same trust', async () => {
  const loaded = writePolicy(dir);
  const first = await openState(path.join(dir, 'a'), loaded);
  const bundle = trustBundle(first, loaded, 'a');
  expect(bundle.sast.map((s) => s.name)).toEqual(first.sast.map((s) => s.name));
  expect(bundle.trustpoints.map((t) => t.name).sort()).toEqual(['ldc-issuer', 'pp-server']);
  expect(bundle.ldcKeyPem).toBe(first.ldcKeyPem);

  const text = JSON.stringify(bundle);
  const b = path.join(dir, 'b');
  const changed = installTrustBundle(b, loaded, parseTrustBundle(text, loaded));
  expect(changed.length).toBeGreaterThanOrEqual(7);
  for (const f of changed.filter((f) => f.endsWith('.key.pem'))) expect(statSync(f).mode & 0o777).toBe(0o600);
  const second = await openState(b, loaded);
  expect(second.sast.map((s) => s.certPem)).toEqual(first.sast.map((s) => s.certPem));
  expect(second.trustpoints.get('pp-server')?.certPem).toBe(first.trustpoints.get('pp-server')?.certPem);
  expect(readFileSync(path.join(b, 'ldc/ldc.key.pem'), 'utf8')).toBe(first.ldcKeyPem);
  // Installed twice: nothing to change.
  expect(installTrustBundle(b, loaded, parseTrustBundle(text, loaded))).toEqual([]);
});

test('a bundle that does not fit this policy, or is not one, is refused with EPX_CLUSTER_TRUST', async () => {
  const loaded = writePolicy(dir, () => {}, 'p2.yaml');
  const state = await openState(path.join(dir, 'a'), loaded);
  const other = writePolicy(
    dir,
    (p) => {
      p['ctl-file']['sast-count'] = 3;
    },
    'p3.yaml',
  );
  const text = JSON.stringify(trustBundle(state, loaded, 'a'));
  expect(() => parseTrustBundle(text, other)).toThrow(ClusterTrustError);
  expect(() => parseTrustBundle(text, other)).toThrow(/same ctl-file name and sast-count/);
  expect(() => parseTrustBundle('{"version":2}', loaded)).toThrow(/unknown layout/);
  expect(() => parseTrustBundle('nope', loaded)).toThrow(/not JSON/);
});

test('key rotation: a node with the new key on top opens the trust sealed under the old one and re-seals it', async () => {
  const redis: RedisServer = await startRedisServer();
  const links: RedisLink[] = [];
  const link = (keys: string) => {
    const l = new RedisLink({
      node: `n${links.length}`,
      role: 'active-active',
      connect: { url: redis.url(0), options: {}, describe: 'test' },
      secrets: new SecretBox(parseSecretKeys(keys)),
      log: pino({ level: 'silent' }),
      metrics: new Registry(),
    });
    links.push(l);
    return l;
  };
  const OLD = '0a'.repeat(32);
  const NEW = '0b'.repeat(32);
  try {
    const loaded = writePolicy(dir, () => {}, 'rotate.yaml');
    const first = link(OLD);
    await first.start(5000);
    const a = await openClusterState(path.join(dir, 'rot-a'), loaded, first, pino({ level: 'silent' }));
    const rotated = link(`${NEW}\n${OLD}\n`);
    await rotated.start(5000);
    const b = await openClusterState(path.join(dir, 'rot-b'), loaded, rotated, pino({ level: 'silent' }));
    expect(b.sast[0]?.certPem).toBe(a.sast[0]?.certPem);
    const onlyNew = link(NEW);
    await onlyNew.start(5000);
    const resealed = async () =>
      onlyNew.getSecret('trust').then(
        (v) => v !== undefined,
        () => false,
      );
    for (let n = 0; n < 100 && !(await resealed()); n++) await new Promise((r) => setTimeout(r, 50));
    expect(await resealed()).toBe(true);
  } finally {
    for (const l of links) await l.stop();
    await redis.stop();
  }
});
