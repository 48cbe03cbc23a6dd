/**
 * The live-reload table (src/config/reload-plan.ts): every policy key has a decision, changed
 * keys are split by it, and the policy in effect takes only the live ones.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { parsePolicy } from '../../src/config/load-policy';
import { checkPolicyRules } from '../../src/config/policy-rules';
import { type Policy, PolicySchema } from '../../src/config/policy-schema';
import { changedPaths, RELOAD_RULES, reloadPlan, ruleFor, touches } from '../../src/config/reload-plan';

const ROOT = path.resolve(__dirname, '../..');
const defaultText = readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8');
const base = () => parsePolicy(defaultText, 'default.yaml').policy;

/** The default policy with `edit` applied to its YAML document. */
function edited(edit: (doc: ReturnType<typeof parseDocument>) => void): Policy {
  const doc = parseDocument(defaultText);
  edit(doc);
  return parsePolicy(doc.toString(), 'edited.yaml').policy;
}

test('every top-level key of the schema has its own rule, and no rule names a key the schema lacks', () => {
  const top = Object.keys(PolicySchema.shape).sort();
  expect(
    RELOAD_RULES.filter((r) => !r.key.includes('.'))
      .map((r) => r.key)
      .sort(),
  ).toEqual(top);
  // Every rule's path exists in a parsed policy (default values included), so none is a typo.
  const examples = readdirSync(path.join(ROOT, 'policies/examples')).filter((f) => f.endsWith('.yaml'));
  const parsed = [
    base(),
    ...examples.map((f) => parsePolicy(readFileSync(path.join(ROOT, 'policies/examples', f), 'utf8'), f).policy),
  ];
  for (const r of RELOAD_RULES) {
    const found = parsed.some((p) => {
      let node: unknown = p;
      for (const k of r.key.split('.')) node = (node as Record<string, unknown> | undefined)?.[k];
      return node !== undefined;
    });
    // Optional sections no shipped policy sets.
    const optional = [
      'media-termination.max-sessions',
      'proxy-server',
      'cipc',
      'appliance-cluster',
      'appliance-cluster.takeover-addresses',
      'logging.syslog',
    ];
    if (!optional.includes(r.key)) expect({ key: r.key, found }).toEqual({ key: r.key, found: true });
  }
});

test('the longest rule decides: media-termination is restart-only, its caps and idle timeout are live', () => {
  expect(ruleFor(['media-termination', 'rtp-min-port'])?.live).toBe(false);
  expect(ruleFor(['media-termination', 'idle-timeout'])?.live).toBe(true);
  expect(ruleFor(['media-termination', 'max-sessions-per-phone'])?.live).toBe(true);
  expect(ruleFor(['tls-proxy', 'max-connections-per-source'])?.live).toBe(true);
  expect(ruleFor(['tls-proxy', 'ldc-issuer'])?.live).toBe(false);
  expect(ruleFor(['trustpoints', 2, 'certificate'])?.live).toBe(true);
  expect(ruleFor(['interfaces', 0, 'address'])?.live).toBe(false);
  expect(ruleFor(['no-such-key'])).toBeUndefined();
});

test('an unchanged policy has nothing to apply and nothing pending', () => {
  const plan = reloadPlan(base(), base());
  expect(plan).toEqual({ live: [], restartOnly: [], effective: base() });
});

test('live and restart-only changes are split by key path; the effective policy takes only the live ones', () => {
  const old = base();
  const next = edited((d) => {
    d.setIn(['tls-proxy', 'max-connections-per-source'], 1);
    d.setIn(['tls-proxy', 'max-pending-handshakes-per-source'], 1);
    d.setIn(['tls-proxy', 'handshake-timeout'], 3);
    d.setIn(['tftp', 'rate-limit', 'per-source'], 2);
    d.setIn(['tftp-server', 'timeout'], 9);
    d.setIn(['media-termination', 'idle-timeout'], 120);
    d.setIn(['media-termination', 'rtp-min-port'], old['media-termination']['rtp-min-port'] + 100);
    d.setIn(['listen', 'sip-tls'], 15071);
    d.setIn(['interfaces', 1, 'address'], '127.0.2.2/24');
    d.setIn(['logging', 'level'], 'warn');
  });
  const plan = reloadPlan(old, next);
  expect(plan.live.sort()).toEqual(
    [
      'logging.level',
      'media-termination.idle-timeout',
      'tftp-server.timeout',
      'tftp.rate-limit.per-source',
      'tls-proxy.handshake-timeout',
      'tls-proxy.max-connections-per-source',
      'tls-proxy.max-pending-handshakes-per-source',
    ].sort(),
  );
  expect(plan.restartOnly.sort()).toEqual([
    'interfaces[1].address',
    'listen.sip-tls',
    'media-termination.rtp-min-port',
  ]);
  const e = plan.effective;
  expect(e['tls-proxy']['max-connections-per-source']).toBe(1);
  expect(e['media-termination']['idle-timeout']).toBe(120);
  expect(e['media-termination']['rtp-min-port']).toBe(old['media-termination']['rtp-min-port']);
  expect(e.listen).toEqual(old.listen);
  expect(e.interfaces).toEqual(old.interfaces);
  // Neither input is touched.
  expect(old['tls-proxy']['max-connections-per-source']).toBe(base()['tls-proxy']['max-connections-per-source']);
  expect(next['media-termination']['rtp-min-port']).toBe(old['media-termination']['rtp-min-port'] + 100);
});

test('listeners are compared as written: switching one off is listen.<name>, not the parsed off/addresses', () => {
  const plan = reloadPlan(
    base(),
    edited((d) => d.setIn(['listen', 'sccp-tls'], false)),
  );
  expect(plan.restartOnly).toEqual(['listen.sccp-tls']);
  expect(plan.live).toEqual([]);
});

test('arrays: same length compared element by element, a new length as a whole', () => {
  expect(changedPaths([1, { a: 1 }], [1, { a: 2 }])).toEqual([[1, 'a']]);
  expect(changedPaths([1], [1, 2], ['x'])).toEqual([['x']]);
  const added = edited((d) => d.addIn(['trustpoints'], d.createNode({ name: 'extra-ca', enroll: 'self' })));
  const plan = reloadPlan(base(), added);
  expect(plan.live).toEqual(['trustpoints']);
  expect(plan.effective.trustpoints.map((t) => t.name)).toContain('extra-ca');
});

test('an optional key added or removed is a change of that key', () => {
  const withCiphers = edited((d) => d.setIn(['tls-proxy', 'ciphers'], 'ECDHE-RSA-AES256-GCM-SHA384'));
  const added = reloadPlan(base(), withCiphers);
  expect(added.live).toEqual(['tls-proxy.ciphers']);
  expect(added.effective['tls-proxy'].ciphers).toBe('ECDHE-RSA-AES256-GCM-SHA384');
  const removed = reloadPlan(withCiphers, base());
  expect(removed.live).toEqual(['tls-proxy.ciphers']);
  expect('ciphers' in removed.effective['tls-proxy']).toBe(false);
});

test('a live change that needs a restart-only one breaks the rules in the effective policy (the reloader refuses it)', () => {
  // The ldc-issuer trustpoint removed (live) together with tls-proxy.ldc-issuer (restart-only):
  // the running ldc-issuer would name a trustpoint that is gone.
  const next = edited((d) => {
    d.deleteIn(['trustpoints', 1]);
    d.deleteIn(['tls-proxy', 'ldc-issuer']);
  });
  const plan = reloadPlan(base(), next);
  expect(plan.live).toEqual(['trustpoints']);
  expect(plan.restartOnly).toEqual(['tls-proxy.ldc-issuer']);
  expect(checkPolicyRules(plan.effective).map((p) => p.message)).toEqual([expect.stringMatching(/ldc-issuer/)]);
});

test('touches: a prefix covers its keys and elements, not a longer name', () => {
  expect(touches(['tftp.rate-limit.burst'], 'tftp')).toBe(true);
  expect(touches(['tftp-server.address'], 'tftp')).toBe(false);
  expect(touches(['trustpoints[1].certificate'], 'trustpoints')).toBe(true);
  expect(touches(['trustpoints'], 'trustpoints')).toBe(true);
});

test('docs/cli.md (Live reload) names every key of the table, as live or restart as the table says', () => {
  const doc = readFileSync(path.join(ROOT, 'docs/cli.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Live reload'), doc.indexOf('## Exit codes'));
  const rows = section.split('\n').filter((l) => l.startsWith('| `'));
  for (const r of RELOAD_RULES) {
    const last = r.key.split('.').at(-1) as string;
    const row =
      rows.find((l) => (l.split('|')[1] ?? '').includes(`\`${r.key}\``)) ??
      rows.find((l) => (l.split('|')[1] ?? '').includes(`\`${last}\``) && l.includes(`\`${r.key.split('.')[0]}`));
    expect({ key: r.key, row: row !== undefined }).toEqual({ key: r.key, row: true });
    expect({ key: r.key, live: row?.split('|')[2]?.trim() }).toEqual({ key: r.key, live: r.live ? 'live' : 'restart' });
  }
});
