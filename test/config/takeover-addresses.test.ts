/** `phone-proxy check` on appliance-cluster.takeover-addresses (docs/cluster.md §7, active-active across addresses). */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { runCli } from '../support/cli-process';

jest.setTimeout(60_000);

let work: string;
const base = parse(readFileSync(path.join(__dirname, '../../policies/default.yaml'), 'utf8')) as Record<
  string,
  unknown
>;
const cluster = { redis: 'redis://127.0.0.1:6379/0', node: 'b', 'secret-file': 'good.key' };

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'takeover-check-'));
  writeFileSync(path.join(work, 'good.key'), `${'1f'.repeat(32)}\n`, { mode: 0o600 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function policy(name: string, c: Record<string, unknown>): string {
  const file = path.join(work, `${name}.yaml`);
  writeFileSync(file, stringify({ ...base, 'appliance-cluster': { ...cluster, ...c } }));
  return file;
}

test('takeover addresses of other nodes pass on an active-active and on a standby node', async () => {
  const r = await runCli([
    'check',
    '--policy',
    policy('aa', { role: 'active-active', 'takeover-addresses': ['127.0.1.11', '127.0.2.11'] }),
    '--policy',
    policy('standby', { role: 'standby', 'takeover-addresses': ['127.0.1.11'] }),
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
});

test.each([
  ['not-ipv4', { role: 'active-active', 'takeover-addresses': ['fe80::1'] }, /must be an IPv4 address/],
  [
    'bad-octet',
    { role: 'active-active', 'takeover-addresses': ['127.0.1.300'] },
    /127\.0\.1\.300 is not an IPv4 address/,
  ],
  [
    'own-address',
    { role: 'active-active', 'takeover-addresses': ['127.0.2.10'] },
    /takeover-addresses\[0\]: 127\.0\.2\.10 is a media-termination address of this node/,
  ],
  ['twice', { role: 'standby', 'takeover-addresses': ['127.0.1.11', '127.0.1.11'] }, /127\.0\.1\.11 is listed twice/],
  [
    'active',
    { role: 'active', 'takeover-addresses': ['127.0.1.11'] },
    /an active node never takes sessions over \(role standby or active-active\)/,
  ],
])('check refuses %s', async (name, change, message) => {
  const file = policy(name, change);
  const r = await runCli(['check', '--policy', file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: `));
  expect(r.stderr).toMatch(message);
});
