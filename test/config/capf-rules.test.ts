/**
 * The CAPF relay's policy (src/config/capf-rules.ts): listen.capf off by default, capf-server
 * defaulting to the first member, and what `check` enforces between the relay, the CTL's capf
 * records and the interfaces' (public) addresses, each problem naming its key.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { type Document, parseDocument } from 'yaml';
import { run as check } from '../../src/commands/check';
import { capfEndpointFor, capfUpstream, capfWarnings } from '../../src/config/capf-rules';
import { parsePolicy } from '../../src/config/load-policy';
import { listenerEndpoint, type Policy } from '../../src/config/policy-schema';
import { reloadPlan } from '../../src/config/reload-plan';
import { PolicyError } from '../../src/errors';
import { fdBudget } from '../../src/fd-budget';

const ROOT = path.resolve(__dirname, '../..');
const EXAMPLE5 = readFileSync(path.join(ROOT, 'policies/examples/5-lsc-provisioning.yaml'), 'utf8');
const DEFAULT = readFileSync(path.join(ROOT, 'policies/default.yaml'), 'utf8');

function edited(edit: (doc: Document) => void, text = EXAMPLE5): string {
  const doc = parseDocument(text);
  edit(doc);
  return doc.toString();
}
const policy = (text: string): Policy => parsePolicy(text, 'capf.yaml').policy;
function problems(text: string): string[] {
  try {
    policy(text);
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  return [];
}
const records = (doc: Document) => doc.getIn(['ctl-file', 'records']) as { items: unknown[] };
const capfIndex = (doc: Document) =>
  (doc.toJS()['ctl-file'].records as { function: string }[]).findIndex((r) => r.function === 'capf');

test('example 5 relays CAPF to the publisher; the relay is off unless listen.capf is set', () => {
  const p = policy(EXAMPLE5);
  expect(listenerEndpoint(p.listen, 'capf')).toEqual({ port: 3804 });
  expect(capfUpstream(p)).toMatchObject({
    address: '10.10.0.20',
    interfaceName: 'inside',
    port: 3804,
    from: 'capf-server',
  });
  expect(capfEndpointFor(p, 'outside')).toEqual({ address: '198.51.100.1', port: 3804 });
  expect(capfWarnings(p)).toEqual([]);
  expect(p['capf-relay']).toEqual({
    'max-connections': 100,
    'max-connections-per-source': 10,
    'first-byte-timeout': 10,
    'idle-timeout': 180,
    'max-duration': 900,
    'max-bytes': 1048576,
  });
  const d = policy(DEFAULT);
  expect(listenerEndpoint(d.listen, 'capf')).toBeUndefined();
  expect(capfEndpointFor(d, 'outside')).toBeUndefined();
  // true is the CAPF port; without capf-server, the first member.
  const t = policy(
    edited((doc) => {
      doc.setIn(['listen', 'capf'], true);
      doc.deleteIn(['capf-server']);
    }),
  );
  expect(listenerEndpoint(t.listen, 'capf')).toEqual({ port: 3804 });
  expect(capfUpstream(t)).toMatchObject({ address: '10.10.0.20', port: 3804, from: 'cluster.members[0]' });
});

test('the relay without a capf record in the CTL is refused, naming listen.capf', () => {
  const text = edited((doc) => records(doc).items.splice(capfIndex(doc), 1));
  expect(problems(text).join('\n')).toMatch(
    /listen\.capf: listen\.capf relays phones to CAPF, but ctl-file has no capf record/,
  );
});

test('a capf record must name an address where phones reach the relay', () => {
  const inside = edited((doc) => doc.setIn(['ctl-file', 'records', capfIndex(doc), 'address'], '10.10.0.1'));
  expect(problems(inside).join('\n')).toMatch(
    /ctl-file\.records\[1\]\.address: 10\.10\.0\.1 is not an address where the CAPF relay \(listen\.capf\) is reachable by phones: 198\.51\.100\.1 \(interface "outside"\)/,
  );
  // And the interface the relay is on needs its record: a missing one is named at listen.capf.
  expect(problems(inside).join('\n')).toMatch(
    /listen\.capf: phones on interface "outside" are pointed at 198\.51\.100\.1:3804 for CAPF \(the relay\), but no ctl-file capf record has that address/,
  );
  const none = edited((doc) => doc.deleteIn(['ctl-file', 'records', capfIndex(doc), 'address']));
  expect(problems(none).join('\n')).toMatch(
    /ctl-file\.records\[1\]\.address: a capf record needs the address phones reach the CAPF relay at/,
  );
});

test('behind a NAT the capf record names the public address, as the CCM and TFTP records do', () => {
  const natted = (capfAddress: string) =>
    edited((doc) => {
      doc.setIn(['interfaces', 0, 'public-address'], '203.0.113.10');
      doc.setIn(['ctl-file', 'records', 0, 'address'], '203.0.113.10');
      doc.setIn(['ctl-file', 'records', capfIndex(doc), 'address'], capfAddress);
    });
  expect(problems(natted('198.51.100.1')).join('\n')).toMatch(
    /ctl-file\.records\[1\]\.address: 198\.51\.100\.1 is interface "outside"'s bound address, but phones there reach the CAPF relay at its public-address 203\.0\.113\.10: the capf record must name 203\.0\.113\.10/,
  );
  const ok = policy(natted('203.0.113.10'));
  expect(capfEndpointFor(ok, 'outside')).toEqual({ address: '203.0.113.10', port: 3804 });
});

test('a relay bound to one outside interface: a capf record for another says the relay is not there', () => {
  const text = edited((doc) => {
    (doc.get('interfaces') as { items: unknown[] }).items.push(
      doc.createNode({ name: 'outside2', address: '192.0.2.1/24', role: 'outside' }),
    );
    records(doc).items.push(doc.createNode({ function: 'cucm-tftp', trustpoint: 'pp-server', address: '192.0.2.1' }));
    doc.setIn(['ctl-file', 'records', capfIndex(doc), 'address'], '192.0.2.1');
    doc.setIn(['listen', 'capf'], doc.createNode({ port: 3804, address: '198.51.100.1' }));
  });
  expect(problems(text).join('\n')).toMatch(
    /192\.0\.2\.1 is interface "outside2"'s address, where listen\.capf \(address 198\.51\.100\.1\) does not listen/,
  );
});

test('capf-server and capf-relay are checked, naming their keys', () => {
  const own = edited((doc) => doc.setIn(['capf-server', 'address'], '10.10.0.1'));
  expect(problems(own).join('\n')).toMatch(
    /capf-server\.address: capf-server\.address 10\.10\.0\.1 is interface "inside"'s own address/,
  );
  const iface = edited((doc) => doc.setIn(['capf-server', 'interface'], 'dmz'));
  expect(problems(iface).join('\n')).toMatch(/capf-server\.interface: interface "dmz" is not defined under interfaces/);
  const caps = edited((doc) =>
    doc.setIn(['capf-relay'], doc.createNode({ 'max-connections': 5, 'max-connections-per-source': 6 })),
  );
  expect(problems(caps).join('\n')).toMatch(
    /capf-relay\.max-connections-per-source: capf-relay\.max-connections-per-source \(6\) must not exceed capf-relay\.max-connections \(5\)/,
  );
  const zero = edited((doc) => doc.setIn(['capf-relay'], doc.createNode({ 'first-byte-timeout': 0 })));
  expect(problems(zero).join('\n')).toMatch(/capf-relay\.first-byte-timeout must be a whole number from 1 to 300/);
  const clash = edited((doc) => doc.setIn(['listen', 'capf'], 5060));
  expect(problems(clash).join('\n')).toMatch(/listen\.capf: port 5060 is already used by listen\.sip/);
  const typo = edited((doc) => doc.setIn(['capf-server', 'prot'], 1));
  expect(problems(typo).join('\n')).toMatch(/capf-server: unknown key "prot"/);
});

test('a capf record with an address but no relay is valid and reported as a warning by check', async () => {
  const text = edited((doc) => {
    doc.deleteIn(['listen', 'capf']);
    doc.deleteIn(['capf-server']);
  });
  const w = capfWarnings(policy(text));
  expect(w).toEqual([
    {
      path: ['ctl-file', 'records', 1, 'address'],
      message: expect.stringMatching(/a capf record names 198\.51\.100\.1, but listen\.capf is off/),
    },
  ]);
  const file = path.join(os.tmpdir(), `pp-capf-warn-${process.pid}.yaml`);
  writeFileSync(file, text);
  const out: string[] = [];
  const io = { stdout: { write: (s: string) => out.push(s) }, stderr: { write: (s: string) => out.push(s) } };
  expect(await check(['--policy', file], io as never)).toBe(0);
  expect(out.join('')).toMatch(
    /: OK\n[\s\S]*warning: ctl-file\.records\[1\]\.address: a capf record names 198\.51\.100\.1, but listen\.capf is off/,
  );
});

test('reload: capf-server and capf-relay are live, listen.capf waits for a restart', () => {
  const old = policy(EXAMPLE5);
  const next = policy(
    edited((doc) => {
      doc.setIn(['capf-server', 'address'], '10.10.0.21');
      doc.setIn(['capf-relay'], doc.createNode({ 'idle-timeout': 60 }));
      doc.setIn(['listen', 'capf'], 13804);
    }),
  );
  const plan = reloadPlan(old, next);
  expect(plan.live).toEqual(expect.arrayContaining(['capf-server.address', 'capf-relay.idle-timeout']));
  expect(plan.restartOnly).toEqual(['listen.capf']);
  expect(plan.effective['capf-server']?.address).toBe('10.10.0.21');
  expect(listenerEndpoint(plan.effective.listen, 'capf')).toEqual({ port: 3804 });
});

test('the fd budget counts the relay when it is on', () => {
  expect(fdBudget(policy(EXAMPLE5), 1).terms.find((t) => t.name === 'capf')?.fds).toBe(2 * 100 + 1);
  expect(fdBudget(policy(DEFAULT), 1).terms.find((t) => t.name === 'capf')).toBeUndefined();
});
