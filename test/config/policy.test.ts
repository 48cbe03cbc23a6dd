import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseDocument } from 'yaml';
import { main } from '../../src/cli';
import { formatPath, loadPolicy, parsePolicy } from '../../src/config/load-policy';
import { PolicyError } from '../../src/errors';

const ROOT = path.resolve(__dirname, '../..');
const DEFAULT = path.join(ROOT, 'policies/default.yaml');
const defaultText = readFileSync(DEFAULT, 'utf8');

/** The default policy with one edit applied through the YAML document model. */
function broken(edit: (doc: ReturnType<typeof parseDocument>) => void): string {
  const doc = parseDocument(defaultText);
  edit(doc);
  return doc.toString();
}

function problemsOf(text: string): string[] {
  try {
    parsePolicy(text, 'broken.yaml');
  } catch (err) {
    if (err instanceof PolicyError) return err.problems;
    throw err;
  }
  throw new Error('policy was accepted');
}

// One case per rule: [rule, edit, expected path, expected message fragment].
const CASES: [string, (d: ReturnType<typeof parseDocument>) => void, string, RegExp][] = [
  [
    'unknown key (typo)',
    (d) => d.setIn(['media-termination', 'rtp-max-prot'], 30000),
    'media-termination',
    /unknown key "rtp-max-prot"/,
  ],
  ['unknown top-level key', (d) => d.set('tftp-servr', {}), '(top level)', /unknown key "tftp-servr"/],
  ['missing required section', (d) => d.delete('cluster'), 'cluster', /is required/],
  ['bad cluster mode', (d) => d.setIn(['cluster', 'mode'], 'secure'), 'cluster.mode', /nonsecure|mixed/],
  [
    'global and per-interface MTA both',
    (d) => d.setIn(['media-termination', 'address'], '127.0.1.11'),
    'media-termination',
    /never both/,
  ],
  [
    'no MTA at all',
    (d) => d.deleteIn(['media-termination', 'addresses']),
    'media-termination',
    /needs a global address or per-interface/,
  ],
  [
    'per-interface MTA on one interface only',
    (d) => d.deleteIn(['media-termination', 'addresses', 1]),
    'media-termination.addresses',
    /at least two interfaces/,
  ],
  [
    'two MTAs on one interface',
    (d) => {
      d.setIn(['media-termination', 'addresses', 1, 'interface'], 'outside');
      d.setIn(['media-termination', 'addresses', 1, 'address'], '127.0.1.11');
    },
    'media-termination.addresses[1].interface',
    /only one media-termination address per interface/,
  ],
  [
    'MTA outside its interface subnet',
    (d) => d.setIn(['media-termination', 'addresses', 1, 'address'], '127.0.3.10'),
    'media-termination.addresses[1].address',
    /not inside interface "inside"'s subnet 127\.0\.2\.0\/24/,
  ],
  [
    'MTA is the interface address',
    (d) => d.setIn(['media-termination', 'addresses', 0, 'address'], '127.0.1.1'),
    'media-termination.addresses[0].address',
    /own address/,
  ],
  [
    'MTA is the UCM address',
    (d) => d.setIn(['media-termination', 'addresses', 1, 'address'], '127.0.2.20'),
    'media-termination.addresses[1].address',
    /must not be the address of cluster member "cucm1"/,
  ],
  [
    'MTA is the TFTP address',
    (d) => {
      d.setIn(['tftp-server', 'address'], '127.0.2.30');
      d.setIn(['media-termination', 'addresses', 1, 'address'], '127.0.2.30');
    },
    'media-termination.addresses[1].address',
    /TFTP server address/,
  ],
  [
    'RTP range below 1024',
    (d) => d.setIn(['media-termination', 'rtp-min-port'], 1000),
    'media-termination.rtp-min-port',
    /1024-65535/,
  ],
  [
    'RTP range above 65535',
    (d) => d.setIn(['media-termination', 'rtp-max-port'], 70000),
    'media-termination.rtp-max-port',
    /65535/,
  ],
  [
    'RTP min >= max',
    (d) => d.setIn(['media-termination', 'rtp-min-port'], 30000),
    'media-termination.rtp-max-port',
    /greater than rtp-min-port/,
  ],
  [
    'RTP range without an even/odd pair',
    (d) => {
      d.setIn(['media-termination', 'rtp-min-port'], 20001);
      d.setIn(['media-termination', 'rtp-max-port'], 20002);
    },
    'media-termination.rtp-max-port',
    /no room for one RTP\/RTCP pair/,
  ],
  [
    'undefined trustpoint',
    (d) => d.setIn(['tls-proxy', 'server-trustpoint'], 'nope'),
    'tls-proxy.server-trustpoint',
    /trustpoint "nope" is not defined/,
  ],
  [
    'undefined interface',
    (d) => d.setIn(['tftp-server', 'interface'], 'dmz'),
    'tftp-server.interface',
    /interface "dmz" is not defined/,
  ],
  [
    'bad IPv4 octet',
    (d) => d.setIn(['cluster', 'members', 0, 'address'], '127.0.2.300'),
    'cluster.members[0].address',
    /invalid address "127\.0\.2\.300"/,
  ],
  ['SAST count over 5', (d) => d.setIn(['ctl-file', 'sast-count'], 6), 'ctl-file.sast-count', /5/],
  [
    'CTL without a TFTP record',
    (d) => d.setIn(['ctl-file', 'records', 0, 'function'], 'cucm'),
    'ctl-file.records',
    /tftp or cucm-tftp record/,
  ],
  [
    'mixed mode without LDC issuer',
    (d) => {
      d.setIn(['cluster', 'mode'], 'mixed');
      d.deleteIn(['tls-proxy', 'ldc-issuer']);
    },
    'tls-proxy.ldc-issuer',
    /mixed-mode cluster needs an LDC issuer/,
  ],
  [
    'trustpoint both generated and imported',
    (d) => d.setIn(['trustpoints', 0, 'certificate'], 'x.pem'),
    'trustpoints[0]',
    /either generated .* or imported/,
  ],
  [
    'duplicate interface',
    (d) => d.setIn(['interfaces', 1, 'name'], 'outside'),
    'interfaces[1].name',
    /duplicate interface name "outside"/,
  ],
  [
    'listen ports collide',
    (d) => d.setIn(['listen', 'sccp-tls'], 15061),
    'listen.sccp-tls',
    /already used by listen\.sip-tls/,
  ],
  [
    'per-subnet entry with a bad subnet',
    (d) => d.setIn(['tls-proxy', 'remote-addr'], [{ subnet: '203.0.113.0/33', trustpoint: 'pp-server' }]),
    'tls-proxy.remote-addr[0].subnet',
    /invalid address\/prefix/,
  ],
  [
    'TFTP signer with an RSA size the signed header cannot describe',
    (d) => d.setIn(['trustpoints', 0, 'key-size'], 3072),
    'trustpoints[0].key-size',
    /trustpoint "pp-server" signs configuration files \(ctl-file\.records\[0\], cucm-tftp\) but key-size 3072 cannot: RSA 3072-bit; .*only describes 512, 1024, 2048 and 4096-bit keys/,
  ],
  [
    'CTL digest a Cisco signed file cannot carry',
    (d) => d.setIn(['ctl-file', 'digest'], 'sha256'),
    'ctl-file.digest',
    /must be sha1 or sha512: Cisco CTL and \.sgn files carry no other digest/,
  ],
  [
    'CTL record at an address the phones are not pointed at',
    (d) => d.setIn(['ctl-file', 'records', 0, 'address'], '127.0.1.5'),
    'ctl-file.records[0].address',
    /127\.0\.1\.5 is not an outside interface address; phones' configuration points at 127\.0\.1\.1 \(interface "outside"\)/,
  ],
  [
    '... which leaves the outside interface without a CCM record',
    (d) => d.setIn(['ctl-file', 'records', 0, 'address'], '127.0.1.5'),
    'interfaces[0].address',
    /phones on interface "outside" are pointed at 127\.0\.1\.1 for call control, but no ctl-file cucm or cucm-tftp record/,
  ],
  [
    'one address of a list is wrong',
    (d) => d.setIn(['ctl-file', 'records', 0, 'address'], ['127.0.1.1', '127.0.9.9']),
    'ctl-file.records[0].address[1]',
    /127\.0\.9\.9 is not an outside interface address/,
  ],
  [
    'CTL record without an address',
    (d) => d.deleteIn(['ctl-file', 'records', 0, 'address']),
    'ctl-file.records[0].address',
    /a cucm-tftp record needs the address phones' configuration points at: 127\.0\.1\.1 \(interface "outside"\)/,
  ],
  [
    'second outside interface without CTL records',
    (d) => d.addIn(['interfaces'], { name: 'branch', address: '127.0.3.1/24', role: 'outside' }),
    'interfaces[2].address',
    /phones on interface "branch" are pointed at 127\.0\.3\.1 for call control/,
  ],
  [
    '... nor a TFTP record',
    (d) => d.addIn(['interfaces'], { name: 'branch', address: '127.0.3.1/24', role: 'outside' }),
    'interfaces[2].address',
    /pointed at 127\.0\.3\.1 for TFTP, but no ctl-file tftp or cucm-tftp record/,
  ],
  [
    'CCM record with a certificate the TLS proxy does not present',
    (d) => {
      d.addIn(['trustpoints'], { name: 'other', enroll: 'self' });
      d.setIn(['ctl-file', 'records', 0, 'trustpoint'], 'other');
    },
    'ctl-file.records[0].trustpoint',
    /must hold the certificate the TLS proxy presents to phones \(tls-proxy\.server-trustpoint "pp-server"\), not "other"/,
  ],
  // Issue 13: public (NAT-mapped) addresses.
  [
    'CTL record names the bound address of an interface behind a NAT',
    (d) => d.setIn(['interfaces', 0, 'public-address'], '203.0.113.5'),
    'ctl-file.records[0].address',
    /127\.0\.1\.1 is interface "outside"'s bound address, but phones there are pointed at its public-address 203\.0\.113\.5: the record must name 203\.0\.113\.5/,
  ],
  [
    '... which leaves the public address without a CCM record',
    (d) => d.setIn(['interfaces', 0, 'public-address'], '203.0.113.5'),
    'interfaces[0].public-address',
    /phones on interface "outside" are pointed at 203\.0\.113\.5 for call control, but no ctl-file cucm or cucm-tftp record/,
  ],
  [
    'public address on an inside interface',
    (d) => d.setIn(['interfaces', 1, 'public-address'], '203.0.113.6'),
    'interfaces[1].public-address',
    /interface "inside" is inside: phones never reach it/,
  ],
  [
    'two interfaces share a public address',
    (d) => {
      d.setIn(['interfaces', 0, 'public-address'], '203.0.113.5');
      d.addIn(['interfaces'], { name: 'b', address: '127.0.3.1/24', role: 'outside', 'public-address': '203.0.113.5' });
    },
    'interfaces[2].public-address',
    /203\.0\.113\.5 is already interface "outside"'s public address/,
  ],
  [
    'bad public address',
    (d) => d.setIn(['interfaces', 0, 'public-address'], '203.0.113.300'),
    'interfaces[0].public-address',
    /invalid address "203\.0\.113\.300"/,
  ],
  [
    'media-termination public address on the inside leg',
    (d) => d.setIn(['media-termination', 'addresses', 1, 'public-address'], '203.0.113.7'),
    'media-termination.addresses[1].public-address',
    /interface "inside" is not outside/,
  ],
  [
    'member mapped to an unknown interface',
    (d) => d.setIn(['cluster', 'members', 0, 'phone-interface'], 'nowhere'),
    'cluster.members[0].phone-interface',
    /interface "nowhere" is not defined/,
  ],
  [
    'member mapped to an inside interface',
    (d) => d.setIn(['cluster', 'members', 0, 'phone-interface'], 'inside'),
    'cluster.members[0].phone-interface',
    /has role inside: phones reach members through an outside interface/,
  ],
  [
    'SRST address inside',
    (d) => d.setIn(['remote-phones', 'srst'], { address: '127.0.2.99' }),
    'remote-phones.srst.address',
    /127\.0\.2\.99 is inside interface "inside"'s subnet: remote phones cannot reach it/,
  ],
  ['unknown SRST mode', (d) => d.setIn(['remote-phones', 'srst'], 'on'), 'remote-phones.srst', /./],
  [
    'upstream cipher set not strong or legacy',
    (d) => d.setIn(['tls-proxy', 'upstream'], { ciphers: 'strict' }),
    'tls-proxy.upstream.ciphers',
    /must be strong \(the default: ECDHE with AEAD only\) or legacy/,
  ],
  [
    'upstream min-version misspelt',
    (d) => d.setIn(['tls-proxy', 'upstream'], { 'min-version': '1.2' }),
    'tls-proxy.upstream.min-version',
    /must be TLSv1, TLSv1\.1, TLSv1\.2 \(the default\) or TLSv1\.3/,
  ],
  [
    'upstream unknown key',
    (d) => d.setIn(['tls-proxy', 'upstream'], { cipher: 'legacy' }),
    'tls-proxy.upstream',
    /unknown key "cipher"/,
  ],
  [
    'upstream TLS 1.1 floor without the legacy cipher set',
    (d) => d.setIn(['tls-proxy', 'upstream'], { 'min-version': 'TLSv1.1' }),
    'tls-proxy.upstream.min-version',
    /TLSv1\.1 needs ciphers: legacy/,
  ],
  [
    'upstream legacy ciphers with a TLS 1.3 floor',
    (d) => d.setIn(['tls-proxy', 'upstream'], { 'min-version': 'TLSv1.3', ciphers: 'legacy' }),
    'tls-proxy.upstream.ciphers',
    /TLS 1\.3 \(min-version TLSv1\.3\) cannot use/,
  ],
  ['unknown log format', (d) => d.setIn(['logging', 'format'], 'xml'), 'logging.format', /auto|json|pretty/],
  [
    'syslog without an address',
    (d) => d.setIn(['logging', 'syslog'], { port: 514 }),
    'logging.syslog.address',
    /is required/,
  ],
  [
    'syslog address with a bad octet',
    (d) => d.setIn(['logging', 'syslog'], { address: '192.0.2.300' }),
    'logging.syslog.address',
    /invalid address "192\.0\.2\.300"/,
  ],
  [
    'syslog to a multicast group',
    (d) => d.setIn(['logging', 'syslog'], { address: '239.1.2.3' }),
    'logging.syslog.address',
    /must be one host's address/,
  ],
  [
    'unknown syslog facility',
    (d) => d.setIn(['logging', 'syslog'], { address: '192.0.2.10', facility: 'local9' }),
    'logging.syslog.facility',
    /local0/,
  ],
];

describe('policy validation', () => {
  test.each(CASES)('rejects: %s', (_rule, edit, where, why) => {
    const problems = problemsOf(broken(edit));
    const hit = problems.find((p) => p.includes(`: ${where}: `) && why.test(p));
    if (!hit) throw new Error(`expected a problem at ${where} matching ${why}, got:\n${problems.join('\n')}`);
    // Every message names the file and a line:column inside it.
    expect(hit).toMatch(/^broken\.yaml:\d+:\d+: /);
  });

  test('accepts every policy shipped in policies/', () => {
    const files = [
      DEFAULT,
      ...readdirSync(path.join(ROOT, 'policies/examples')).map((f) => path.join(ROOT, 'policies/examples', f)),
    ];
    expect(files.length).toBeGreaterThanOrEqual(7);
    for (const f of files) expect(() => loadPolicy(f)).not.toThrow();
  });

  test('a NAT-mapped interface is accepted when the CTL names its public address; defaults for remote phones', () => {
    const loaded = parsePolicy(
      broken((d) => {
        d.setIn(['interfaces', 0, 'public-address'], '203.0.113.5');
        d.setIn(['ctl-file', 'records', 0, 'address'], '203.0.113.5');
        d.setIn(['media-termination', 'addresses', 0, 'public-address'], '203.0.113.10');
        d.setIn(['cluster', 'members', 0, 'phone-interface'], 'outside');
      }),
      'nat.yaml',
    );
    expect(loaded.policy.interfaces[0]?.['public-address']).toBe('203.0.113.5');
    expect(loaded.policy['remote-phones']).toEqual({ srst: 'disable', tvs: 'remove', 'service-urls': [] });
  });

  test('tls-proxy.upstream: strong from TLS 1.2 by default; legacy down to TLS 1.0 when asked', () => {
    expect(parsePolicy(defaultText, 'default.yaml').policy['tls-proxy'].upstream).toEqual({
      'min-version': 'TLSv1.2',
      ciphers: 'strong',
    });
    const legacy = parsePolicy(
      broken((d) => d.setIn(['tls-proxy', 'upstream'], { 'min-version': 'TLSv1', ciphers: 'legacy' })),
      'legacy.yaml',
    );
    expect(legacy.policy['tls-proxy'].upstream).toEqual({ 'min-version': 'TLSv1', ciphers: 'legacy' });
  });

  test('RSA 3072 is fine for a trustpoint that signs no configuration file, 4096 for the signer', () => {
    const text = broken((d) => {
      d.setIn(['trustpoints', 0, 'key-size'], 4096);
      d.setIn(['trustpoints', 1, 'key-size'], 3072);
    });
    expect(() => parsePolicy(text, 'ok.yaml')).not.toThrow();
  });

  test('reports all problems at once, each with its line', () => {
    const text = broken((d) => {
      d.setIn(['cluster', 'mode'], 'secure');
      d.setIn(['listen', 'tftp'], 0);
    });
    const problems = problemsOf(text);
    expect(problems).toHaveLength(2);
    const modeLine = text.split('\n').findIndex((l) => l.includes('mode: secure')) + 1;
    expect(problems.some((p) => p.startsWith(`broken.yaml:${modeLine}:`))).toBe(true);
  });

  test('YAML syntax errors name the line', () => {
    const problems = problemsOf('name: x\ninterfaces: [\n');
    expect(problems[0]).toMatch(/^broken\.yaml:\d+:\d+: YAML: /);
  });

  test('formatPath writes array indexes in brackets', () => {
    expect(formatPath(['media-termination', 'addresses', 1, 'address'])).toBe('media-termination.addresses[1].address');
  });
});

describe('phone-proxy check', () => {
  function io() {
    const out: string[] = [];
    const err: string[] = [];
    const sink = (to: string[]) => ({ write: (s: string) => to.push(s) }) as unknown as NodeJS.WritableStream;
    return { out, err, io: { stdout: sink(out), stderr: sink(err), stdin: process.stdin, env: {} } };
  }

  test('exits 0 on the default policy and 1 with the rule on a broken one', async () => {
    const ok = io();
    expect(await main(['check', '--policy', DEFAULT], ok.io)).toBe(0);
    expect(ok.out.join('')).toContain('OK');

    const bad = io();
    expect(await main(['check', '--policy', path.join(ROOT, 'does-not-exist.yaml')], bad.io)).toBe(1);
    expect(bad.err.join('')).toMatch(/does-not-exist\.yaml.*cannot read policy: ENOENT/s);
  });

  test('a CTL record that names another address than the phones are given fails check', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'check-ctl-'));
    try {
      const file = path.join(dir, 'p.yaml');
      writeFileSync(
        file,
        broken((d) => d.setIn(['ctl-file', 'records', 0, 'address'], '198.51.100.7')),
      );
      const bad = io();
      expect(await main(['check', '--policy', file], bad.io)).toBe(1);
      expect(bad.err.join('')).toMatch(
        /ctl-file\.records\[0\]\.address: 198\.51\.100\.7 is not an outside interface address/,
      );
      expect(bad.out.join('')).toBe('');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
