/**
 * Two appliance processes (node a on 127.0.0.21, node b on 127.0.0.22) sharing one real
 * redis-server (issue 14): one trust and one CTL (fetched with tftp-hpa), one secure-phones
 * database with Redis TTLs, no secret in clear in Redis, and a Redis outage in the middle.
 */
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseCtl } from '../../ctl';
import { callDaemon } from '../../src/control/api';
import { type Started, startCli, stopCli } from '../support/cli-process';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server';
import { freeUdpPort, startTftpd, stopAll, testPolicy, tftpHpaGet } from '../tftp/peers';

jest.setTimeout(180_000);

const UCM = '127.0.58.20';
const MAC = '58971ECC97C1';
const DEVICE = `SEP${MAC}`;
const TIMEOUT_SEC = 12;

interface Node {
  name: string;
  outside: string;
  state: string;
  tftpPort: number;
  policy: string;
  proc?: Started;
}

let work: string;
let redis: RedisServer;
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

const show = (n: Node, ...words: string[]) =>
  callDaemon(n.state, 'GET', ['show', ...words]) as Promise<{ data: unknown; lines?: string[] }>;

async function fetch(n: Node, file: string): Promise<Buffer> {
  const out = path.join(work, `${n.name}-${file}-${Date.now()}`);
  const r = await tftpHpaGet(n.outside, n.tftpPort, file, out);
  if (r.code !== 0) throw new Error(`tftp ${file} from ${n.name}: ${r.stderr}`);
  return readFileSync(out);
}

async function redisValues(): Promise<Map<string, string>> {
  const keys = (await redis.cli('--scan', '--pattern', 'pp:*')).split('\n').filter(Boolean);
  const out = new Map<string, string>();
  for (const k of keys) out.set(k, await redis.cli('GET', k));
  return out;
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'cluster-'));
  chmodSync(work, 0o755);
  const ucm = path.join(work, 'ucm');
  mkdirSync(ucm);
  chmodSync(ucm, 0o755);
  copyFileSync(path.join(__dirname, '../fixtures/tftp', `${DEVICE}.cnf.xml`), path.join(ucm, `${DEVICE}.cnf.xml`));
  const tftpdPort = await freeUdpPort(UCM);
  await startTftpd(ucm, UCM, tftpdPort);
  redis = await startRedisServer();
  const keyFile = path.join(work, 'cluster.key');
  writeFileSync(keyFile, `${'5a'.repeat(32)}\n`, { mode: 0o600 });

  for (const [name, n] of [
    ['a', 21],
    ['b', 22],
  ] as const) {
    const outside = `127.0.0.${n}`;
    const file = path.join(work, `policy-${name}.yaml`);
    const node: Node = {
      name,
      outside,
      state: path.join(work, `state-${name}`),
      tftpPort: await freeUdpPort(outside),
      policy: file,
    };
    const [sipTls, sccpTls] = [await freePort(outside), await freePort(outside)];
    testPolicy((p) => {
      p.interfaces = [
        { name: 'outside', address: `${outside}/24`, role: 'outside' },
        { name: 'inside', address: `127.0.58.${n}/24`, role: 'inside' },
      ];
      p.cluster = { mode: 'nonsecure', members: [{ name: 'cucm1', address: UCM, interface: 'inside' }] };
      p['tftp-server'] = { address: UCM, interface: 'inside', port: tftpdPort };
      p['media-termination'] = {
        addresses: [
          { interface: 'outside', address: `127.0.0.${n + 10}` },
          { interface: 'inside', address: `127.0.58.${n + 10}` },
        ],
      };
      p['ctl-file'] = { name: 'ctl', records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: outside }] };
      p.listen = { tftp: node.tftpPort, 'sip-tls': sipTls, 'sccp-tls': sccpTls };
      p['secure-phones-timeout'] = TIMEOUT_SEC;
      p.control = {};
      p['appliance-cluster'] = { redis: redis.url(0), node: name, role: 'active-active', 'secret-file': keyFile };
    }, file);
    node.proc = await startCli(['--policy', file, '--state', node.state], 60_000);
    if (!node.proc.output().includes('ready;')) throw new Error(`node ${name} did not start:\n${node.proc.output()}`);
    nodes.push(node);
  }
}, 180_000);

afterAll(async () => {
  for (const n of nodes) if (n.proc) await stopCli(n.proc);
  await redis?.stop();
  stopAll();
  rmSync(work, { recursive: true, force: true });
});

test('both nodes serve the same CTL, byte for byte, listing both nodes; one trust', async () => {
  const [a, b] = nodes as [Node, Node];
  const [fromA, fromB] = await until('identical CTLs', async () => {
    const x = await fetch(a, 'CTLFile.tlv');
    const y = await fetch(b, 'CTLFile.tlv');
    return x.equals(y) ? [x, y] : undefined;
  });
  expect(fromA.equals(fromB)).toBe(true);
  const ctl = parseCtl(fromA);
  expect(ctl.records.filter((r) => r.function === 'cucm-tftp').map((r) => r.ip)).toEqual([a.outside, b.outside]);
  expect(ctl.records.filter((r) => r.function === 'sast')).toHaveLength(2);
  const view = (await show(b, 'cluster')).data as { up: boolean; nodes: { node: string; role: string }[] };
  expect(view.up).toBe(true);
  expect(view.nodes.map((n) => `${n.node}/${n.role}`)).toEqual(['a/active-active', 'b/active-active']);
  // One trust: node b installed node a's SASTs and server certificate (the one phones get from either).
  for (const f of ['certs/pp-server.crt.pem', 'sast/_internal_ctl_SAST_0.crt.pem'])
    expect(readFileSync(path.join(b.state, f), 'utf8')).toBe(readFileSync(path.join(a.state, f), 'utf8'));
});

test('a phone configured through node a is known on node b; its record expires by Redis TTL', async () => {
  const [a, b] = nodes as [Node, Node];
  await fetch(a, `${DEVICE}.cnf.xml.sgn`);
  const onB = await until('the record on b', async () => {
    const rows = (await show(b, 'phone-proxy', 'secure-phones')).data as { device: string; originalMode: string }[];
    return rows.find((r) => r.device === DEVICE);
  });
  expect(onB).toMatchObject({ device: DEVICE, originalMode: 'nonsecure', forcedMode: 'encrypted' });
  const cluster = (await show(b, 'phone-proxy', 'secure-phones', '--cluster')).data as {
    node: string;
    device: string;
  }[];
  expect(cluster).toEqual([expect.objectContaining({ node: 'a', device: DEVICE })]);
  const ttl = Number(await redis.cli('PTTL', `pp:phone:${DEVICE}`));
  expect(ttl).toBeGreaterThan(0);
  expect(ttl).toBeLessThanOrEqual(TIMEOUT_SEC * 1000);
  await until('expiry in Redis', async () => (await redis.cli('EXISTS', `pp:phone:${DEVICE}`)).trim() === '0', 30_000);
  expect((await show(b, 'phone-proxy', 'secure-phones', '--cluster')).data).toEqual([]);
});

test('no secret is in clear in Redis: private keys and SAST keys are sealed', async () => {
  const [a] = nodes as [Node];
  const values = await redisValues();
  expect([...values.keys()]).toEqual(expect.arrayContaining(['pp:trust', 'pp:ctl-records:a', 'pp:ctl-records:b']));
  const keyPem = readFileSync(path.join(a.state, 'sast/_internal_ctl_SAST_0.key.pem'), 'utf8');
  const keyBody = keyPem.split('\n')[1] as string;
  const serverKey = readFileSync(path.join(a.state, 'keys/pp-server.key.pem'), 'utf8').split('\n')[1] as string;
  for (const [k, v] of values) {
    expect(`${k}: ${v.includes('PRIVATE KEY')}`).toBe(`${k}: false`);
    expect(v.includes(keyBody) || v.includes(serverKey)).toBe(false);
  }
  expect(values.get('pp:trust')?.startsWith('sealed:')).toBe(true);
});

test('Redis gone: no crash, counted once, TFTP served; back: each node re-publishes its state', async () => {
  const [a, b] = nodes as [Node, Node];
  await redis.kill();
  await until('a sees the outage', async () => !((await show(a, 'cluster')).data as { up: boolean }).up);
  // Alone, each node still serves its CTL and configuration files; b's phone record waits in its outbox.
  expect(parseCtl(await fetch(a, 'CTLFile.tlv')).records.length).toBeGreaterThan(2);
  await fetch(b, `${DEVICE}.cnf.xml.sgn`);
  const status = (await show(a, 'cluster')).data as { up: boolean; outages: number };
  expect(status).toMatchObject({ up: false, outages: 1 });
  expect(a.proc?.output().match(/serving alone until it returns/g)).toHaveLength(1);

  await redis.start(); // empty: no persistence
  await until(
    're-published',
    async () => {
      const keys = [...(await redisValues()).keys()];
      return ['pp:trust', 'pp:ctl-records:a', 'pp:ctl-records:b', `pp:phone:${DEVICE}`].every((k) => keys.includes(k));
    },
    30_000,
  );
  expect(a.proc?.child.exitCode).toBeNull();
  expect(b.proc?.child.exitCode).toBeNull();
  expect(((await show(a, 'cluster')).data as { up: boolean }).up).toBe(true);
  expect(a.proc?.output()).toContain('re-publishing local state');
  // clear --cluster: gone from Redis and from both nodes' copies.
  await until('a has b\u2019s phone', async () =>
    ((await show(a, 'phone-proxy', 'secure-phones')).data as { device: string }[]).some((r) => r.device === DEVICE),
  );
  const cleared = (await callDaemon(a.state, 'POST', ['clear', 'phone-proxy', 'secure-phones', '--cluster'])) as {
    message: string;
  };
  expect(cleared.message).toMatch(/cluster-wide/);
  await until(
    'cleared on b',
    async () => ((await show(b, 'phone-proxy', 'secure-phones')).data as unknown[]).length === 0,
  );
  expect((await redis.cli('EXISTS', `pp:phone:${DEVICE}`)).trim()).toBe('0');
});

test('a live reload of secure-phones-timeout sets the TTL of the records that node writes to Redis from then on', async () => {
  const [a, b] = nodes as [Node, Node];
  const pttl = async () => Number(await redis.cli('PTTL', `pp:phone:${DEVICE}`));
  await fetch(b, `${DEVICE}.cnf.xml.sgn`);
  await until('the record from b', async () => (await pttl()) > 0);
  expect(await pttl()).toBeLessThanOrEqual(TIMEOUT_SEC * 1000);

  const longer = 45;
  const text = readFileSync(a.policy, 'utf8');
  expect(text).toMatch(new RegExp(`secure-phones-timeout: ${TIMEOUT_SEC}\\b`));
  writeFileSync(a.policy, text.replace(`secure-phones-timeout: ${TIMEOUT_SEC}`, `secure-phones-timeout: ${longer}`));
  const reloaded = (await callDaemon(a.state, 'POST', ['reload'])) as { message?: string };
  expect(JSON.stringify(reloaded)).toContain('secure-phones-timeout');
  await fetch(a, `${DEVICE}.cnf.xml.sgn`);
  // The record a wrote lives by a's new timeout (it was at most 12 s left by b's).
  await until('the record from a, with the new TTL', async () => (await pttl()) > TIMEOUT_SEC * 1000);
  expect(await pttl()).toBeLessThanOrEqual(longer * 1000);
  // b was not reloaded: what it writes still lives 12 s.
  await fetch(b, `${DEVICE}.cnf.xml.sgn`);
  await until('the record from b again', async () => (await pttl()) <= TIMEOUT_SEC * 1000);
  expect(await pttl()).toBeGreaterThan(0);
});
