/**
 * The proof of media takeover (issue 14, docs/cluster.md §7), across processes: redis-server on
 * an ephemeral port and two cluster nodes, each a real process started by the daemon's own
 * start-up with the media service (test/support/media-node.ts; the rest of the appliance is not
 * built, so a test stands in for signaling over IPC). Both use the same media-termination
 * addresses, as keepalived would make them. A secure call (SRTP on both legs, different keys,
 * across a ROC wrap) goes through node a; a is killed with SIGKILL mid-call; b sees its
 * heartbeat expire, binds the same ports and relays on: audio both ways within 1 s, not one
 * SRTP authentication or replay failure at the remote phone or the inside peer, and b's
 * `show phone-proxy media-sessions` lists the call as taken over.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { MediaAllocator, MediaSessionInfo, UpdateLegConfig } from '../../src/contracts/media';
import { callDaemon } from '../../src/control/api';
import { sleep } from '../support/media-harness';
import type { WireLegConfig } from '../support/media-node';
import { type RedisServer, startRedisServer } from '../support/redis-server';
import { SrtpCall } from '../support/srtp-call';
import { testPolicy } from '../tftp/peers';

jest.setTimeout(120_000);

const NODE_JS = path.resolve(__dirname, '../../dist-dev/test/support/media-node.js');
const MT_OUT = '127.0.63.10';
const MT_IN = '127.0.64.10';

interface Node {
  name: string;
  state: string;
  child: ChildProcess;
  output: () => string;
}

let work: string;
let redis: RedisServer;
const nodes: Node[] = [];

/** The media service of a node process, over IPC (what signaling would ask of it). */
function remote(n: Node): MediaAllocator {
  let seq = 0;
  const ask = <T>(msg: Record<string, unknown>): Promise<T> =>
    new Promise((resolve, reject) => {
      const req = ++seq;
      const on = (m: { req?: number; info?: T; error?: string }) => {
        if (m.req !== req) return;
        n.child.off('message', on);
        if (m.error) reject(new Error(m.error));
        else resolve(m.info as T);
      };
      n.child.on('message', on);
      n.child.send({ ...msg, req });
    });
  return {
    allocate: (r) => ask<MediaSessionInfo>({ op: 'allocate', callId: r.callId }),
    updateLeg: (id: string, leg: 'outside' | 'inside', cfg: UpdateLegConfig) => {
      const wire: WireLegConfig = {
        ...cfg,
        srtp: cfg.srtp && { profile: cfg.srtp.profile, recvKey: [...cfg.srtp.recvKey], sendKey: [...cfg.srtp.sendKey] },
      };
      return ask<void>({ op: 'update', id, leg, cfg: wire });
    },
    release: () => Promise.reject(new Error('not used')),
  };
}

async function startNode(name: string, role: 'active' | 'standby', n: number, keyFile: string): Promise<Node> {
  const file = path.join(work, `policy-${name}.yaml`);
  testPolicy((p) => {
    p.interfaces = [
      { name: 'outside', address: `127.0.63.${n}/24`, role: 'outside' },
      { name: 'inside', address: `127.0.64.${n}/24`, role: 'inside' },
    ];
    p['media-termination'] = {
      addresses: [
        { interface: 'outside', address: MT_OUT },
        { interface: 'inside', address: MT_IN },
      ],
      'rtp-min-port': 61800,
      'rtp-max-port': 61839,
      workers: 1,
    };
    p['ctl-file'] = {
      name: 'ctl',
      records: [{ function: 'cucm-tftp', trustpoint: 'pp-server', address: `127.0.63.${n}` }],
    };
    p.control = {};
    p['appliance-cluster'] = { redis: redis.url(0), node: name, role, 'secret-file': keyFile };
  }, file);
  const state = path.join(work, `state-${name}`);
  const child = fork(NODE_JS, [file, state], { stdio: ['ignore', 'pipe', 'pipe', 'ipc'] });
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  child.stderr?.on('data', (d: Buffer) => {
    out += d.toString();
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`node ${name} not ready:\n${out}`)), 30_000);
    child.on('message', (m: { ready?: boolean }) => {
      if (m.ready) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`node ${name} exited (${code}):\n${out}`));
    });
  });
  const node = { name, state, child, output: () => out };
  nodes.push(node);
  return node;
}

beforeAll(async () => {
  if (!existsSync(NODE_JS)) throw new Error(`${NODE_JS} missing: run npm run build && npm run build:dev`);
  work = mkdtempSync(path.join(os.tmpdir(), 'media-kill-'));
  chmodSync(work, 0o755);
  redis = await startRedisServer();
});

afterAll(async () => {
  for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM');
  await sleep(500);
  for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGKILL');
  await redis?.stop();
  rmSync(work, { recursive: true, force: true });
});

test('kill -9 of node a mid-call: b takes the call over, no SRTP failure at the phone or the inside peer', async () => {
  const keyFile = path.join(work, 'cluster.key');
  writeFileSync(keyFile, `${'6b'.repeat(32)}\n`, { mode: 0o600 });
  const a = await startNode('a', 'active', 1, keyFile);
  const b = await startNode('b', 'standby', 2, keyFile);
  const call = await SrtpCall.place(remote(a), '127.0.63.100', '127.0.64.100');
  try {
    expect(call.info.outside.address).toBe(MT_OUT);
    await call.until(65_536 + 40); // past the ROC wrap both ways
    expect(call.atPeer).toBeGreaterThan(50);
    expect(call.atPhone).toBeGreaterThan(50);
    expect((await redis.cli('GET', `pp:media:a:${call.info.id}`)).startsWith('sealed:')).toBe(true);
    await sleep(300); // b's copy follows the "put" message

    a.child.kill('SIGKILL');
    const died = Date.now();
    const mark = { peer: call.atPeer, phone: call.atPhone };
    expect(await call.flowsAgain(mark, 5000)).toBe(true);
    const gap = call.resumedAfter(died);
    console.log(`media-kill: audio back both ways ${gap} ms after kill -9`);
    expect(gap).toBeLessThan(1000);
    await sleep(500);
    expect(call.atPeer - mark.peer).toBeGreaterThan(10);
    expect(call.atPhone - mark.phone).toBeGreaterThan(10);

    const view = (await callDaemon(b.state, 'GET', ['show', 'phone-proxy', 'media-sessions'])) as {
      data: { id: string; takenOver?: { from: string }; legs: { local: { rtpPort: number } }[] }[];
      tables: { rows: unknown[][] }[];
    };
    const s = view.data.find((x) => x.takenOver?.from === 'a');
    expect(s?.legs.map((l) => l.local.rtpPort)).toEqual([call.info.outside.rtpPort, call.info.inside.rtpPort]);
    expect(view.tables[0]?.rows.some((r) => r[1] === 'taken over from a')).toBe(true);
    expect(b.output()).toContain('taken over from a');
  } finally {
    call.stop();
  }
  expect(call.failures).toEqual([]);
});
