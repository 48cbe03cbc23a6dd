/**
 * Active-active takeover across addresses (docs/cluster.md §7): two `phone-proxy start`
 * processes, both role active-active, each with media-termination addresses of its own on
 * loopback (all of 127/8 is local, so b can bind a's address once a's sockets are gone, as when
 * keepalived moves it), each listing the other's under appliance-cluster.takeover-addresses.
 * The lab's TLS phone registers through a and calls the inside phone (SDES-SRTP outside, RTP
 * inside) on a's media address; kill -9 of a: b adopts the call on a's addresses and ports,
 * audio is back both ways within 1 s, no SRTP authentication or replay failure at the phone or at
 * b, b's views show the call taken over and its ports on the takeover-only pool; after the BYE
 * they go back to it, and a new call through b uses b's own media address, never a's.
 */
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type tls from 'node:tls';
import { cnfXml } from '../../lab/cnf-template';
import { type LabCredentials, labCredentials } from '../../lab/lab-setup';
import type { MediaEndpoint } from '../../lab/media-endpoint';
import { InsidePhone, RemotePhone } from '../../lab/phones';
import { UcmSimulator } from '../../lab/ucm-sim';
import { callDaemon } from '../../src/control/api';
import { CLI, type Started, startCli, stopCli } from '../support/cli-process';
import { freePort, type RedisServer, startRedisServer } from '../support/redis-server';
import { freeUdpPort, testPolicy } from '../tftp/peers';

jest.setTimeout(240_000);

const MAC = '00DE0A1AB181';
const OUT = { phone: '127.0.181.50' };
const IN = { ucm: '127.0.182.20', phone: '127.0.182.50' };
/** Each node's own media-termination addresses: a's are b's takeover addresses and back. */
const MEDIA = {
  a: { outside: '127.0.181.11', inside: '127.0.182.11' },
  b: { outside: '127.0.181.12', inside: '127.0.182.12' },
};
/** 40 s of audio each way: longer than the test needs. */
const PACKETS = 2000;
/** 1 s of audio at 50 packets/s. */
const ONE_SECOND = 50;

interface Node {
  name: string;
  outside: string;
  inside: string;
  state: string;
  sipTls: number;
  tftp: number;
  proc: Started;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
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
    await sleep(10);
  }
}

const show = (n: Node, ...words: string[]) =>
  callDaemon(n.state, 'GET', ['show', ...words]) as Promise<{ data: unknown; tables?: { rows: unknown[][] }[] }>;

interface Pair {
  work: string;
  redis: RedisServer;
  ucm: UcmSimulator;
  nodes: Node[];
  remote?: RemotePhone;
  inside?: InsidePhone;
}

let creds: LabCredentials;
const pairs: Pair[] = [];

async function startPair(label: string, takeover = true): Promise<Pair> {
  const work = mkdtempSync(path.join(os.tmpdir(), `aa-takeover-${label}-`));
  chmodSync(work, 0o755);
  writeFileSync(path.join(work, 'lab-ca.pem'), creds.manufacturerCa.certPem);
  const keyFile = path.join(work, 'cluster.key');
  writeFileSync(keyFile, `${'7d'.repeat(32)}\n`, { mode: 0o600 });
  const redis = await startRedisServer();
  const [ucmTftp, ucmSip] = [await freeUdpPort(IN.ucm), await freePort(IN.ucm)];
  const cnf = cnfXml({
    mac: MAC,
    ucmAddress: IN.ucm,
    sipPort: ucmSip,
    sipTlsPort: 5061,
    tftpAddress: IN.ucm,
    line: '1000',
    displayName: 'Remote 1000',
  });
  const ucm = new UcmSimulator(IN.ucm, ucmTftp, ucmSip, new Map([[`SEP${MAC}.cnf.xml`, Buffer.from(cnf, 'latin1')]]));
  await ucm.start();
  const pair: Pair = { work, redis, ucm, nodes: [] };
  pairs.push(pair);
  for (const [name, n, peer] of [
    ['a', 1, 'b'],
    ['b', 2, 'a'],
  ] as const) {
    const outside = `127.0.181.${n}`;
    const inside = `127.0.182.${n}`;
    const [sipTls, tftp] = [await freePort(outside), await freeUdpPort(outside)];
    const file = path.join(work, `policy-${name}.yaml`);
    testPolicy((p) => {
      p.interfaces = [
        { name: 'outside', address: `${outside}/24`, role: 'outside' },
        { name: 'inside', address: `${inside}/24`, role: 'inside' },
      ];
      p.cluster = {
        mode: 'nonsecure',
        members: [{ name: 'cucm1', address: IN.ucm, interface: 'inside', 'sip-port': ucmSip }],
      };
      p['tftp-server'] = { address: IN.ucm, interface: 'inside', port: ucmTftp };
      // Addresses of its own; the same port range (the peer's ports are claimed as they were).
      p['media-termination'] = {
        addresses: [
          { interface: 'outside', address: MEDIA[name].outside },
          { interface: 'inside', address: MEDIA[name].inside },
        ],
        'rtp-min-port': 64800,
        'rtp-max-port': 64839,
        workers: 1,
      };
      (p.trustpoints as unknown[]).push({ name: 'lab-ca', certificate: 'lab-ca.pem' });
      (p['tls-proxy'] as Record<string, unknown>)['client-trustpoints'] = ['lab-ca'];
      p['ctl-file'] = { name: 'ctl', records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: outside }] };
      p.listen = { tftp, 'sip-tls': sipTls, 'sccp-tls': false };
      p.control = {};
      p['appliance-cluster'] = {
        redis: redis.url(0),
        node: name,
        role: 'active-active',
        'secret-file': keyFile,
        ...(takeover ? { 'takeover-addresses': [MEDIA[peer].outside, MEDIA[peer].inside] } : {}),
      };
    }, file);
    const state = path.join(work, `state-${name}`);
    const proc = await startCli(['--policy', file, '--state', state], 60_000);
    if (!proc.output().includes('ready;')) throw new Error(`node ${name} did not start:\n${proc.output()}`);
    pair.nodes.push({ name, outside, inside, state, sipTls, tftp, proc });
  }
  return pair;
}

/**
 * Each test ends its pair: the phones' audio ports close with it. A phone of an earlier test still
 * sending to the shared media-termination address would hit the next pair's session on the same
 * port (another process: no quarantine) and count as authentication failures there.
 */
async function stopPair(p: Pair): Promise<void> {
  const at = pairs.indexOf(p);
  if (at < 0) return;
  pairs.splice(at, 1);
  await p.remote?.close().catch(() => undefined);
  await p.inside?.close().catch(() => undefined);
  for (const n of p.nodes) await stopCli(n.proc);
  await p.ucm.stop().catch(() => undefined);
  await p.redis.stop();
  rmSync(p.work, { recursive: true, force: true });
}

/** Boots the phone through node a (once both nodes are in a's CTL), registers there, calls the inside phone. */
async function placeCall(p: Pair) {
  const [a, b] = p.nodes as [Node, Node];
  p.inside = new InsidePhone(IN.phone, '1001', { address: IN.ucm, port: p.ucm.sipPort }, 0x1d51de71, 660);
  await p.inside.register();
  const remote = new RemotePhone({
    mac: MAC,
    address: OUT.phone,
    line: '1000',
    mic: creds.mic,
    tftp: { address: a.outside, port: a.tftp },
    ssrc: 0x5eca1e71,
    toneHz: 440,
  });
  p.remote = remote;
  const boot = await until('a CTL listing both nodes', async () => {
    const r = await remote.boot();
    const servers = r.records.filter((x) => x.function === 'cucm-tftp').map((x) => x.ip);
    return servers.includes(b.outside) ? r : undefined;
  });
  expect(boot.config.processNodeName).toBe(a.outside);
  await remote.register();
  expect(p.ucm.stats.registrations.get('1000')).toContain(a.inside);
  const calleeSide = await p.inside.expectCall(PACKETS);
  const placed = await remote.call(p.inside.line);
  placed.media.start({ address: placed.answer.address, port: placed.answer.port }, PACKETS);
  expect(placed.answer.address).toBe(MEDIA.a.outside);
  expect(placed.answer.crypto).toBeDefined();
  const toInside = { sent: placed.media, got: calleeSide.media };
  const toPhone = { sent: calleeSide.media, got: placed.media };
  await until('audio both ways', () => toInside.got.received.size > 50 && toPhone.got.received.size > 50);
  // Loss is counted from here on: before it, the callee's first packets precede the caller's key.
  const flowing = { toInside: sentSoFar(toInside), toPhone: sentSoFar(toPhone) };
  return { remote, calleeSide, toInside, toPhone, flowing, answer: placed.answer };
}

interface Way {
  sent: MediaEndpoint;
  got: MediaEndpoint;
}

/** Sequence numbers sent so far: a packet whose number is not here was sent after this moment. */
const sentSoFar = (w: Way) => new Set(w.sent.sent.keys());
const arrivedSince = (w: Way, before: Set<number>) => [...w.got.received.keys()].some((seq) => !before.has(seq));
/** Packets sent after `from` and up to `to` that did not arrive, or arrived altered. */
function lost(w: Way, from: Set<number>, to: Set<number>): number {
  let n = 0;
  for (const seq of to)
    if (!from.has(seq) && !w.got.received.get(seq)?.payload.equals(w.sent.sent.get(seq) as Buffer)) n++;
  return n;
}

beforeAll(async () => {
  if (!existsSync(CLI)) throw new Error(`${CLI} missing: run npm run build first`);
  creds = await labCredentials(`SEP${MAC}`);
});

afterAll(async () => {
  for (const p of [...pairs]) await stopPair(p);
});

type Leg = { leg: string; local: { address: string; rtpPort: number }; counters: Record<string, number> };
type ViewSession = { id: string; takenOver?: { from: string }; legs: Leg[] };
type Ports = {
  addresses: { address: string; inUse: number }[];
  takeoverAddresses: { address: string; inUse: number }[];
};
const sessionsOn = async (n: Node) => (await show(n, 'phone-proxy', 'media-sessions')).data as ViewSession[];
const portsOn = async (n: Node) => (await show(n, 'media-termination')).data as Ports;

test("active-active on addresses of their own: kill -9 of a, b adopts the call on a's address and ports; a new call on b uses b's own address", async () => {
  const pair = await startPair('kill');
  const [a, b] = pair.nodes as [Node, Node];
  const { remote, calleeSide, toInside, toPhone, flowing, answer } = await placeCall(pair);
  const offered = await calleeSide.answered; // what the inside phone was offered through a
  expect(offered.address).toBe(MEDIA.a.inside);
  const oldSock = remote.channel?.sock as tls.TLSSocket;
  const [session] = await sessionsOn(a);
  expect(session?.legs.map((l) => l.local.address)).toEqual([MEDIA.a.outside, MEDIA.a.inside]);
  // Before the kill, b holds nothing on a's addresses: they are a's, for b's adopted sessions only.
  expect((await portsOn(b)).takeoverAddresses).toEqual([
    { address: MEDIA.a.outside, inUse: 0 },
    { address: MEDIA.a.inside, inUse: 0 },
  ]);
  await until('b holds a copy of the call', async () =>
    (await pair.redis.cli('GET', `pp:media:a:${session?.id}`)).startsWith('sealed:'),
  );
  await sleep(300); // b's copy follows the "put" message

  const before = { toInside: sentSoFar(toInside), toPhone: sentSoFar(toPhone) };
  a.proc.child.kill('SIGKILL');
  const died = Date.now();
  const back = { toInside: 0, toPhone: 0 };
  await until(
    'audio sent after the kill, both ways',
    () => {
      if (!back.toInside && arrivedSince(toInside, before.toInside)) back.toInside = Date.now() - died;
      if (!back.toPhone && arrivedSince(toPhone, before.toPhone)) back.toPhone = Date.now() - died;
      return back.toInside > 0 && back.toPhone > 0;
    },
    5000,
  );
  console.log(
    `active-active takeover: audio sent after kill -9 arrives ${back.toInside} ms (to inside), ${back.toPhone} ms (to phone) later`,
  );
  expect(Math.max(back.toInside, back.toPhone)).toBeLessThan(1000);

  // b relays the call on a's addresses and ports, from its takeover-only pools.
  const adopted = `${session?.id}@a`;
  const onB = await sessionsOn(b);
  const taken = onB.find((s) => s.id === adopted);
  expect(taken?.takenOver?.from).toBe('a');
  expect(taken?.legs.map((l) => `${l.local.address}:${l.local.rtpPort}`)).toEqual([
    `${MEDIA.a.outside}:${answer.port}`,
    `${MEDIA.a.inside}:${offered.port}`,
  ]);
  expect(b.proc.output()).toContain('taken over from a');
  const during = await portsOn(b);
  expect(during.takeoverAddresses).toEqual([
    { address: MEDIA.a.outside, inUse: 1 },
    { address: MEDIA.a.inside, inUse: 1 },
  ]);
  expect(during.addresses.map((p) => [p.address, p.inUse])).toEqual([
    [MEDIA.b.outside, 0],
    [MEDIA.b.inside, 0],
  ]);

  // Media carries on through b: a second and a half of audio later, compare everything sent.
  const mark = { toInside: sentSoFar(toInside), toPhone: sentSoFar(toPhone) };
  await sleep(1500);
  const now = { toInside: sentSoFar(toInside), toPhone: sentSoFar(toPhone) };
  await sleep(300); // the last packets in flight
  toInside.sent.stop();
  toPhone.sent.stop();
  for (const [way, w] of Object.entries({ toInside, toPhone })) {
    const k = way as keyof typeof mark;
    const sinceMark = [...now[k]].filter((s) => !mark[k].has(s)).length;
    expect({ way, after: sinceMark > ONE_SECOND, missing: lost(w, mark[k], now[k]) }).toEqual({
      way,
      after: true,
      missing: 0,
    });
    const cost = lost(w, flowing[k], now[k]);
    console.log(`active-active takeover: ${way}: ${cost} packets lost over the takeover`);
    expect({ way, lostAtMostOneSecond: cost <= ONE_SECOND }).toEqual({ way, lostAtMostOneSecond: true });
  }
  // No SRTP authentication or replay failure at b (the phone's packets) nor at the phone.
  const fromPhone = (await sessionsOn(b))
    .find((s) => s.id === adopted)
    ?.legs.find((l) => l.leg === 'outside')?.counters;
  expect(fromPhone?.rxPackets).toBeGreaterThan(ONE_SECOND);
  expect({ auth: fromPhone?.authFailures, replay: fromPhone?.replayDrops }).toEqual({ auth: 0, replay: 0 });
  expect(toPhone.got.wire.rejected).toBe(0);
  expect(toPhone.got.wire.clearText).toBe(0);
  expect(toInside.got.wire.rejected).toBe(0);
  expect(remote.errors).toEqual([]);

  // The phone reconnects to b and ends the call there: the adopted ports go back to the takeover pool.
  await until('the phone sees its TLS connection close', () => oldSock.destroyed, 10_000);
  await remote.register({ host: b.outside, port: b.sipTls });
  expect(pair.ucm.stats.registrations.get('1000')).toContain(b.inside);
  expect(await remote.hangUp()).toBe(200);
  await calleeSide.ended;
  await until('b releases the adopted session at the BYE', async () => (await sessionsOn(b)).length === 0, 10_000);
  await until(
    'b gives the adopted ports back to the takeover pool',
    async () => (await portsOn(b)).takeoverAddresses.every((p) => p.inUse === 0),
    5_000,
  );

  // A new call through b: on b's own media addresses, never on a's (takeover-only) ones.
  const inside = pair.inside as InsidePhone;
  const second = await inside.expectCall(PACKETS);
  const placed = await remote.call(inside.line);
  placed.media.start({ address: placed.answer.address, port: placed.answer.port }, PACKETS);
  expect(placed.answer.address).toBe(MEDIA.b.outside);
  expect((await second.answered).address).toBe(MEDIA.b.inside);
  await until(
    'audio both ways on the new call',
    () => second.media.received.size > 20 && placed.media.received.size > 20,
  );
  const fresh = await sessionsOn(b);
  expect(fresh.map((s) => [s.takenOver, s.legs.map((l) => l.local.address)])).toEqual([
    [undefined, [MEDIA.b.outside, MEDIA.b.inside]],
  ]);
  expect((await portsOn(b)).takeoverAddresses.map((p) => p.inUse)).toEqual([0, 0]);
  expect(placed.media.wire.rejected).toBe(0);
  expect(remote.errors).toEqual([]);
  expect(pair.ucm.stats.errors).toEqual([]);
  placed.media.stop();
  second.media.stop();
  expect(await remote.hangUp()).toBe(200);
  await second.ended;
  expect(b.proc.child.exitCode).toBeNull();
  await stopPair(pair);
});

test("without takeover-addresses, b refuses the session on a's address: counted, logged, kept in Redis, nothing bound", async () => {
  const pair = await startPair('refuse', false);
  const [a, b] = pair.nodes as [Node, Node];
  const { toInside, toPhone } = await placeCall(pair);
  const [session] = await sessionsOn(a);
  await until('b holds a copy of the call', async () =>
    (await pair.redis.cli('GET', `pp:media:a:${session?.id}`)).startsWith('sealed:'),
  );
  await sleep(300);
  a.proc.child.kill('SIGKILL');
  await until('b refuses the takeover', () => b.proc.output().includes('not taken over'), 5000);
  expect(b.proc.output()).toMatch(
    /"msgId":"PPX-3-160010".*127\.0\.181\.11 is neither a media-termination address nor a takeover address/,
  );
  const ports = await portsOn(b);
  expect((ports as unknown as { errors: Record<string, number> }).errors['foreign-address']).toBe(1);
  expect(ports.takeoverAddresses).toEqual([]);
  expect(await sessionsOn(b)).toEqual([]);
  // Kept in Redis (an operator can still see it), not adopted.
  expect(await pair.redis.cli('GET', `pp:media:a:${session?.id}`)).toMatch(/^sealed:/);
  toInside.sent.stop();
  toPhone.sent.stop();
  expect(b.proc.child.exitCode).toBeNull();
  await stopPair(pair);
});
