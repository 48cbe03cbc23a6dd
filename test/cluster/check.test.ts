/** `phone-proxy check` on appliance-cluster policies: each broken part named with file:line:col and path. */
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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

beforeAll(() => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cluster-check-'));
  writeFileSync(path.join(work, 'good.key'), `${'1f'.repeat(32)}\n`, { mode: 0o600 });
  writeFileSync(path.join(work, 'open.key'), `${'1f'.repeat(32)}\n`);
  chmodSync(path.join(work, 'open.key'), 0o644);
  writeFileSync(path.join(work, 'short.key'), 'too short\n', { mode: 0o600 });
  writeFileSync(path.join(work, 'redis.pass'), 'pw\n', { mode: 0o600 });
  writeFileSync(path.join(work, 'open.pass'), 'pw\n');
  chmodSync(path.join(work, 'open.pass'), 0o644);
  writeFileSync(path.join(work, 'empty.pass'), '\n', { mode: 0o600 });
});
afterAll(() => rmSync(work, { recursive: true, force: true }));

function policy(name: string, cluster: Record<string, unknown>): string {
  const file = path.join(work, `${name}.yaml`);
  writeFileSync(file, stringify({ ...base, 'appliance-cluster': cluster }));
  return file;
}

const good = { redis: 'redis://:pw@127.0.0.1:6379/0', node: 'a', role: 'active-active', 'secret-file': 'good.key' };

test('a good cluster policy passes, and no appliance-cluster is the single box as before', async () => {
  const r = await runCli([
    'check',
    '--policy',
    policy('good', good),
    '--policy',
    policy('good-pass', { ...good, redis: 'rediss://127.0.0.1:6379/0', 'password-file': 'redis.pass' }),
    '--policy',
    path.join(__dirname, '../../policies/default.yaml'),
  ]);
  expect(r.stderr).toBe('');
  expect(r.code).toBe(0);
  // What the role means, said once per cluster policy (docs/cluster.md §2).
  expect(r.stdout).toMatch(
    /good\.yaml: cluster node a, role active-active: serves its own calls and publishes them; takes over a dead node’s media sessions when it is the live standby or active-active node next after it in name order/,
  );
  expect(r.stdout.match(/role /g)).toHaveLength(2);
});

test.each([
  [
    'bad-url',
    { redis: 'http://127.0.0.1:6379' },
    /appliance-cluster\.redis: appliance-cluster\.redis scheme "http" is not redis or rediss/,
  ],
  ['bad-db', { redis: 'redis://127.0.0.1:6379/16' }, /database "16" is not a number from 0 to 15/],
  ['bad-node', { node: 'no spaces' }, /appliance-cluster\.node: must be 1-64 letters/],
  [
    'bad-role',
    { role: 'primary' },
    /appliance-cluster\.role: appliance-cluster\.role must be active, standby or active-active/,
  ],
  [
    'no-secret',
    { 'secret-file': 'missing.key' },
    /appliance-cluster\.secret-file: .*missing\.key: cannot read \(ENOENT\)/,
  ],
  ['open-secret', { 'secret-file': 'open.key' }, /mode 0644 lets others read the cluster key; chmod 600/],
  ['short-secret', { 'secret-file': 'short.key' }, /short\.key: line 1: a key is 64 hex digits/],
  ['tls-plain', { tls: { ca: 'ca.pem' } }, /appliance-cluster\.tls: appliance-cluster\.tls needs a rediss:\/\/ URL/],
  [
    'pass-twice',
    { 'password-file': 'redis.pass' },
    /appliance-cluster\.password-file: appliance-cluster: the Redis password is given twice/,
  ],
  [
    'no-pass',
    { redis: 'redis://127.0.0.1:6379/0', 'password-file': 'missing.pass' },
    /appliance-cluster\.password-file: .*missing\.pass: cannot read \(ENOENT\)/,
  ],
  [
    'open-pass',
    { redis: 'redis://127.0.0.1:6379/0', 'password-file': 'open.pass' },
    /mode 0644 lets others read the Redis password; chmod 600/,
  ],
  [
    'empty-pass',
    { redis: 'redis://127.0.0.1:6379/0', 'password-file': 'empty.pass' },
    /empty\.pass: the first line is empty: put the Redis password there/,
  ],
  [
    'standby-alone',
    { role: 'standby', 'start-without-redis': true },
    /a standby without Redis has nothing to stand by for/,
  ],
])('check refuses %s', async (name, change, message) => {
  const file = policy(name, { ...good, ...change });
  const r = await runCli(['check', '--policy', file]);
  expect(r.code).toBe(1);
  expect(r.stderr).toMatch(new RegExp(`${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: `));
  expect(r.stderr).toMatch(message);
  // A password in the URL is never printed.
  expect(r.stderr).not.toContain(':pw@');
});
