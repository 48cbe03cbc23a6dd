/** Redis unreachable at start: a cluster node refuses to start, unless start-without-redis, which starts it alone, loudly. */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startCli, stopCli } from '../support/cli-process';
import { freePort } from '../support/redis-server';
import { freeUdpPort, testPolicy } from '../tftp/peers';

jest.setTimeout(90_000);

const OUTSIDE = '127.0.0.25';
let work: string;

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cluster-alone-'));
  writeFileSync(path.join(work, 'cluster.key'), `${'7e'.repeat(32)}\n`, { mode: 0o600 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

async function policy(alone: boolean): Promise<string> {
  const file = path.join(work, `policy-${alone}.yaml`);
  const dead = await freePort(); // nothing listens there
  const ports = {
    tftp: await freeUdpPort(OUTSIDE),
    'sip-tls': await freePort(OUTSIDE),
    'sccp-tls': await freePort(OUTSIDE),
  };
  testPolicy((p) => {
    p.interfaces = [
      { name: 'outside', address: `${OUTSIDE}/24`, role: 'outside' },
      { name: 'inside', address: '127.0.59.25/24', role: 'inside' },
    ];
    p.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: '127.0.59.20', interface: 'inside' }] };
    p['tftp-server'] = { address: '127.0.59.20', interface: 'inside' };
    p['media-termination'] = {
      addresses: [
        { interface: 'outside', address: '127.0.0.35' },
        { interface: 'inside', address: '127.0.59.35' },
      ],
    };
    p['ctl-file'] = { name: 'ctl', records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: OUTSIDE }] };
    p.listen = ports;
    p.control = {};
    p['appliance-cluster'] = {
      redis: `redis://127.0.0.1:${dead}/0`,
      node: 'lonely',
      role: 'active',
      'secret-file': 'cluster.key',
      'start-without-redis': alone,
    };
  }, file);
  return file;
}

test('unreachable Redis: start refuses with EPX_CLUSTER_UNREACHABLE', async () => {
  const s = await startCli(['--policy', await policy(false), '--state', path.join(work, 'state-refuse')], 60_000);
  const code = await s.exited;
  expect(code).not.toBe(0);
  expect(s.output()).toContain('EPX_CLUSTER_UNREACHABLE');
  expect(s.output()).not.toContain('ready;');
});

test('start-without-redis: starts alone and says so', async () => {
  const s = await startCli(['--policy', await policy(true), '--state', path.join(work, 'state-alone')], 60_000);
  try {
    expect(s.output()).toContain('ready;');
    expect(s.output()).toContain('STARTING ALONE');
  } finally {
    expect(await stopCli(s)).toBe(0);
  }
});
