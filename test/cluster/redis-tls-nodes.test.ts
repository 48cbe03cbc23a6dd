/**
 * Two appliance processes on a Redis that takes TLS only and wants a client certificate
 * (redis-server --port 0 --tls-port P --tls-auth-clients yes) and a password (requirepass):
 * the nodes connect with the policy's client certificate, key and CA (appliance-cluster.tls)
 * and the password from appliance-cluster.password-file, and share one trust and one CTL over
 * it. A node without the client certificate is refused, with the cause named; allowed to start
 * alone, it does, loudly. Neither the password nor a private key appears in any log.
 * Certificates are made here with openssl.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCtl } from '../../ctl';
import { callDaemon } from '../../src/control/api';
import { type Started, startCli, stopCli } from '../support/cli-process';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server';
import { freeUdpPort, testPolicy, tftpHpaGet } from '../tftp/peers';

jest.setTimeout(180_000);

const PASSWORD = 'Tls-Auth-pw-4d9c1e';
const UCM = '127.0.67.20';

interface Node {
  name: string;
  outside: string;
  state: string;
  tftpPort: number;
  proc: Started;
}

let work: string;
let redis: RedisServer;
const started: Started[] = [];
const nodes: Node[] = [];

async function until<T>(what: string, f: () => Promise<T | undefined | false> | T | undefined | false, ms = 20_000) {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v as T;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const ossl = (...args: string[]) => execFileSync('openssl', args, { cwd: work, stdio: 'pipe' });

/** A certificate for `cn` signed by the test CA (server: with the loopback address as its name). */
function issue(name: string, cn: string, ext: string): void {
  ossl('req', '-newkey', 'rsa:2048', '-nodes', '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=${cn}`);
  writeFileSync(path.join(work, `${name}.ext`), `${ext}\n`);
  ossl(
    'x509',
    '-req',
    '-in',
    `${name}.csr`,
    '-CA',
    'ca.pem',
    '-CAkey',
    'ca.key',
    '-CAcreateserial',
    '-out',
    `${name}.pem`,
    '-days',
    '1',
    '-extfile',
    `${name}.ext`,
  );
  chmodSync(path.join(work, `${name}.key`), 0o600);
}

async function startNode(
  name: string,
  n: number,
  cluster: Record<string, unknown>,
): Promise<{ proc: Started; outside: string; state: string; tftpPort: number }> {
  const outside = `127.0.67.${n}`;
  const tftpPort = await freeUdpPort(outside);
  const file = path.join(work, `policy-${name}.yaml`);
  const [sipTls, sccpTls] = [await freePort(outside), await freePort(outside)];
  testPolicy((p) => {
    p.interfaces = [
      { name: 'outside', address: `${outside}/24`, role: 'outside' },
      { name: 'inside', address: `127.0.68.${n}/24`, role: 'inside' },
    ];
    p.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: UCM, interface: 'inside' }] };
    p['tftp-server'] = { address: UCM, interface: 'inside' };
    p['media-termination'] = {
      addresses: [
        { interface: 'outside', address: `127.0.67.${n + 10}` },
        { interface: 'inside', address: `127.0.68.${n + 10}` },
      ],
    };
    p['ctl-file'] = { name: 'ctl', records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: outside }] };
    p.listen = { tftp: tftpPort, 'sip-tls': sipTls, 'sccp-tls': sccpTls };
    p.control = {};
    p['appliance-cluster'] = {
      redis: `rediss://127.0.0.1:${redis.port}/0`,
      node: name,
      role: 'active-active',
      'secret-file': 'cluster.key',
      'password-file': 'redis.pass',
      ...cluster,
    };
  }, file);
  const state = path.join(work, `state-${name}`);
  const proc = await startCli(['--policy', file, '--state', state], 60_000);
  started.push(proc);
  return { proc, outside, state, tftpPort };
}

const CLIENT_TLS = { ca: 'ca.pem', certificate: 'client.pem', key: 'client.key' };

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'redis-tls-nodes-'));
  chmodSync(work, 0o755);
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
    '/CN=pp-test-ca',
  );
  issue('srv', 'localhost', 'subjectAltName=IP:127.0.0.1,DNS:localhost');
  issue('client', 'pp-node', 'extendedKeyUsage=clientAuth');
  writeFileSync(path.join(work, 'cluster.key'), `${'3d'.repeat(32)}\n`, { mode: 0o600 });
  writeFileSync(path.join(work, 'redis.pass'), `${PASSWORD}\n`, { mode: 0o600 });
  const f = (x: string) => path.join(work, x);
  redis = await startRedisServer({
    password: PASSWORD,
    tls: { cert: f('srv.pem'), key: f('srv.key'), ca: f('ca.pem') },
    clientCert: { cert: f('client.pem'), key: f('client.key') },
  });
  for (const [name, n] of [
    ['a', 1],
    ['b', 2],
  ] as const) {
    const s = await startNode(name, n, { tls: CLIENT_TLS });
    if (!s.proc.output().includes('ready;')) throw new Error(`node ${name} did not start:\n${s.proc.output()}`);
    nodes.push({ name, ...s });
  }
}, 180_000);

afterAll(async () => {
  for (const s of started) await stopCli(s).catch(() => undefined);
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

async function fetch(n: Node, file: string): Promise<Buffer> {
  const out = path.join(work, `${n.name}-${file}-${Date.now()}`);
  const r = await tftpHpaGet(n.outside, n.tftpPort, file, out);
  if (r.code !== 0) throw new Error(`tftp ${file} from ${n.name}: ${r.stderr}`);
  return readFileSync(out);
}

test('redis-server wants a client certificate and AUTH: a TLS client without the certificate is turned away', async () => {
  // The server really refuses: redis-cli with the CA and password but no certificate gets nothing.
  const bare = execFileSync(
    'sh',
    [
      '-c',
      `redis-cli -h 127.0.0.1 -p ${redis.port} --tls --cacert ca.pem --no-auth-warning -a "$PW" PING 2>&1 || true`,
    ],
    { cwd: work, env: { ...process.env, PW: PASSWORD } },
  ).toString();
  expect(bare).not.toContain('PONG');
  expect((await redis.cli('PING')).trim()).toBe('PONG');
});

test('two nodes with the client certificate and the password file: one trust, the same CTL listing both', async () => {
  const [a, b] = nodes as [Node, Node];
  for (const n of [a, b]) {
    const view = (await callDaemon(n.state, 'GET', ['show', 'cluster'])) as { data: { up: boolean; redis: string } };
    expect(view.data.up).toBe(true);
    expect(view.data.redis).toBe(`rediss://127.0.0.1:${redis.port}/0`);
  }
  const [fromA, fromB] = await until('identical CTLs', async () => {
    const x = await fetch(a, 'CTLFile.tlv');
    const y = await fetch(b, 'CTLFile.tlv');
    return x.equals(y) && parseCtl(x).records.filter((r) => r.function === 'cucm-tftp').length === 2
      ? [x, y]
      : undefined;
  });
  expect(fromA.equals(fromB)).toBe(true);
  expect(
    parseCtl(fromA)
      .records.filter((r) => r.function === 'cucm-tftp')
      .map((r) => r.ip),
  ).toEqual([a.outside, b.outside]);
  for (const f of ['certs/pp-server.crt.pem', 'sast/_internal_ctl_SAST_0.crt.pem'])
    expect(readFileSync(path.join(b.state, f), 'utf8')).toBe(readFileSync(path.join(a.state, f), 'utf8'));
  expect((await redis.cli('GET', 'pp:trust')).startsWith('sealed:')).toBe(true);
});

test('a node without the client certificate is refused with the cause named; allowed to, it starts alone, loudly', async () => {
  const refused = await startNode('c', 3, { tls: { ca: 'ca.pem' } });
  expect(await refused.proc.exited).not.toBe(0);
  const out = refused.proc.output();
  expect(out).toContain('EPX_CLUSTER_UNREACHABLE');
  expect(out).toContain('the server may require a client certificate (appliance-cluster.tls.certificate and key)');
  expect(out).not.toContain('ready;');

  const alone = await startNode('d', 4, { tls: { ca: 'ca.pem' }, 'start-without-redis': true });
  expect(alone.proc.output()).toContain('ready;');
  expect(alone.proc.output()).toMatch(
    /STARTING ALONE: Redis rediss:\/\/127\.0\.0\.1:\d+\/0 unreachable \([^)]*client certificate/,
  );
  const view = (await callDaemon(alone.state, 'GET', ['show', 'cluster'])) as { data: { up: boolean } };
  expect(view.data.up).toBe(false);
  // Alone, it still serves its own CTL.
  const ctl = await fetch({ name: 'd', ...alone }, 'CTLFile.tlv');
  expect(parseCtl(ctl).records.length).toBeGreaterThan(1);
  expect(await stopCli(alone.proc)).toBe(0);
});

test('no log line of any node carries the Redis password or a private key', () => {
  const clientKey = readFileSync(path.join(work, 'client.key'), 'utf8').split('\n')[1] as string;
  const clusterKey = '3d'.repeat(32);
  for (const s of started) {
    const out = s.output();
    expect(out.length).toBeGreaterThan(0);
    expect({
      password: out.includes(PASSWORD),
      clientKey: out.includes(clientKey),
      clusterKey: out.includes(clusterKey),
    }).toEqual({
      password: false,
      clientKey: false,
      clusterKey: false,
    });
    expect(out).not.toContain('PRIVATE KEY');
  }
});
