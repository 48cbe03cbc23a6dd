/**
 * The relay process of the pps benchmark, forked by bench/pps.ts and driven over IPC:
 *  - `plain`: a bare node:dgram relay, two sockets per call, forwarding without crypto (the I/O
 *    floor of any Node design);
 *  - `appliance`: the media service (worker threads, libsrtp WebAssembly), K calls SRTP→RTP and
 *    K calls RTP→SRTP;
 *  - `rss`: allocates sessions in steps and reports the process's resident memory.
 * Its CPU time (process.cpuUsage: all threads) is what the benchmark charges per packet.
 */
import dgram from 'node:dgram';
import { parseSecretKeys, SecretBox } from '../../src/cluster/secret-box';
import type { ServiceContext } from '../../src/contracts/service';
import {
  AUTH_FAILURES,
  LEG_FIELDS,
  OTHER_DROPS,
  REPLAY_DROPS,
  SESSION_FIELDS,
  TX_PACKETS,
  UNEXPECTED_SOURCE_DROPS,
} from '../../src/media/counters';
import { createMediaService, type MediaService } from '../../src/media/service';
import { mediaContext } from '../../test/support/media-harness';

// Not the default policy's .10 addresses: other jobs on this machine run the media tests (and
// other branches' benchmarks) there at the same time.
export const OUTSIDE = '127.0.1.17';
export const INSIDE = '127.0.2.17';
export const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;

export interface Endpoint {
  address: string;
  port: number;
}

export type RelayCommand =
  | {
      cmd: 'setup';
      calls: number;
      s2rSink: Endpoint;
      r2sSink: Endpoint;
      phone: Endpoint;
      peer: Endpoint;
      keys: number[][];
      workers: number;
      /** First media port of this appliance (two appliances run side by side); default 63000. */
      minPort?: number;
      /** Last media port; default minPort + 999. */
      maxPort?: number;
      /** The appliance's socket path (media-termination.socket-io); default auto. */
      socketIo?: 'auto' | 'batched' | 'dgram';
    }
  | { cmd: 'cpu' }
  | { cmd: 'rss'; steps: number[]; workers: number }
  | { cmd: 'exit' };

export type RelayReply =
  | { ok: 'setup'; s2r: number[]; r2s: number[]; io?: string }
  | { ok: 'cpu'; micros: number; forwarded: number; drops: number }
  | { ok: 'rss'; points: { sessions: number; rssKb: number }[]; baseKb: number }
  | { error: string };

const mode = process.argv[2];

/** The default policy (outside 127.0.1.x, inside 127.0.2.x), as the media tests run it, at OUTSIDE and INSIDE. */
function context(minPort: number, maxPort: number, workers: number): ServiceContext {
  return mediaContext({
    addresses: [
      { interface: 'outside', address: OUTSIDE },
      { interface: 'inside', address: INSIDE },
    ],
    'rtp-min-port': minPort,
    'rtp-max-port': maxPort,
    workers,
    'idle-timeout': 3600,
  });
}

let forwarded = 0;
let media: MediaService | undefined;
const sockets: dgram.Socket[] = [];

async function bound(address: string): Promise<dgram.Socket> {
  const s = dgram.createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, address, () => r()));
  sockets.push(s);
  return s;
}

async function setupPlain(c: Extract<RelayCommand, { cmd: 'setup' }>): Promise<RelayReply> {
  const s2r: number[] = [];
  const r2s: number[] = [];
  for (let i = 0; i < c.calls; i++) {
    // s2r: phone → outside socket → inside socket → sink; r2s: peer → inside → outside → sink.
    for (const [list, from, to, dst] of [
      [s2r, OUTSIDE, INSIDE, c.s2rSink],
      [r2s, INSIDE, OUTSIDE, c.r2sSink],
    ] as const) {
      const rx = await bound(from);
      const tx = await bound(to);
      rx.on('message', (msg) => {
        forwarded++;
        tx.send(msg, 0, msg.length, dst.port, dst.address);
      });
      list.push(rx.address().port);
    }
  }
  return { ok: 'setup', s2r, r2s };
}

async function setupAppliance(c: Extract<RelayCommand, { cmd: 'setup' }>): Promise<RelayReply> {
  // Above Linux's ephemeral range (32768-60999), where the plain relay's sockets land;
  // apart from the media tests' ports (61100-61419). bench:cluster runs two of these at once
  // (PPS_PORT_BASE), one with replication on (PPS_REPLICA: snapshots sealed as the cluster does).
  const min = c.minPort ?? Number(process.env.PPS_PORT_BASE ?? 63000);
  media = createMediaService(context(min, c.maxPort ?? min + 999, c.workers), {
    replica: process.env.PPS_REPLICA ? sealingSink() : undefined,
    socketIo: c.socketIo,
  });
  await media.start();
  const io = (await media.socketIo(0)).io;
  if (c.socketIo === 'batched' && io !== 'batched') throw new Error('the batched socket path did not start');
  const s2r: number[] = [];
  const r2s: number[] = [];
  for (let i = 0; i < c.calls; i++) {
    const key = Buffer.from(c.keys[i] as number[]);
    const other = Buffer.alloc(30, i);
    const a = await media.allocate({ callId: `s2r-${i}` });
    await media.updateLeg(a.id, 'outside', {
      mode: 'srtp',
      peer: { address: c.phone.address, rtpPort: c.phone.port },
      srtp: { profile: PROFILE, recvKey: key, sendKey: other },
    });
    await media.updateLeg(a.id, 'inside', {
      mode: 'rtp',
      peer: { address: c.s2rSink.address, rtpPort: c.s2rSink.port },
    });
    s2r.push(a.outside.rtpPort);
    const b = await media.allocate({ callId: `r2s-${i}` });
    await media.updateLeg(b.id, 'outside', {
      mode: 'srtp',
      peer: { address: c.r2sSink.address, rtpPort: c.r2sSink.port },
      srtp: { profile: PROFILE, recvKey: other, sendKey: key },
    });
    await media.updateLeg(b.id, 'inside', { mode: 'rtp', peer: { address: c.peer.address, rtpPort: c.peer.port } });
    r2s.push(b.inside.rtpPort);
  }
  return { ok: 'setup', s2r, r2s, io };
}

/** What the cluster replica does with a snapshot before it goes to Redis: seal it (issue 14). */
function sealingSink() {
  const box = new SecretBox(parseSecretKeys('e'.repeat(64)));
  return {
    publish: (id: string, snapshot: Uint8Array) => void box.seal(Buffer.from(snapshot), `media:bench:${id}`),
    forget: () => undefined,
  };
}

/** Packets the appliance dropped itself (auth, replay, bad source, other), all sessions. */
function applianceDrops(): number {
  let n = 0;
  for (const s of media?.sessions() ?? []) {
    for (const leg of [0, 1]) {
      const base = s.slot * SESSION_FIELDS + leg * LEG_FIELDS;
      for (const f of [AUTH_FAILURES, REPLAY_DROPS, UNEXPECTED_SOURCE_DROPS, OTHER_DROPS])
        n += media?.counters[base + f] ?? 0;
    }
  }
  return n;
}

function applianceForwarded(): number {
  if (!media) return forwarded;
  let n = 0;
  for (const s of media.sessions()) {
    const base = s.slot * SESSION_FIELDS + TX_PACKETS;
    n += (media.counters[base] ?? 0) + (media.counters[base + LEG_FIELDS] ?? 0);
  }
  return n;
}

async function rss(c: Extract<RelayCommand, { cmd: 'rss' }>): Promise<RelayReply> {
  media = createMediaService(context(20000, 29999, c.workers));
  await media.start();
  const gc = (globalThis as { gc?: () => void }).gc;
  const measure = async () => {
    gc?.();
    await new Promise((r) => setTimeout(r, 200));
    return Math.round(process.memoryUsage().rss / 1024);
  };
  const baseKb = await measure();
  const points: { sessions: number; rssKb: number }[] = [];
  let n = 0;
  for (const target of c.steps) {
    for (; n < target; n++) {
      // A typical call: SRTP towards the remote phone, RTP towards UCM's side.
      const s = await media.allocate({ callId: `rss-${n}` });
      await media.updateLeg(s.id, 'outside', {
        mode: 'srtp',
        peer: { address: '127.0.1.50', rtpPort: 30000 + (n % 1000) * 2 },
        srtp: { profile: PROFILE, recvKey: Buffer.alloc(30, n), sendKey: Buffer.alloc(30, n + 1) },
      });
      await media.updateLeg(s.id, 'inside', {
        mode: 'rtp',
        peer: { address: '127.0.2.50', rtpPort: 30000 + (n % 1000) * 2 },
      });
    }
    points.push({ sessions: n, rssKb: await measure() });
  }
  return { ok: 'rss', points, baseKb };
}

async function handle(c: RelayCommand): Promise<RelayReply> {
  switch (c.cmd) {
    case 'setup':
      return mode === 'plain' ? setupPlain(c) : setupAppliance(c);
    case 'cpu': {
      const u = process.cpuUsage();
      return {
        ok: 'cpu',
        micros: u.user + u.system,
        forwarded: mode === 'plain' ? forwarded : applianceForwarded(),
        drops: applianceDrops(),
      };
    }
    case 'rss':
      return rss(c);
    case 'exit':
      await media?.stop();
      for (const s of sockets) s.close();
      process.exit(0);
  }
}

process.on('message', (c: RelayCommand) => {
  handle(c).then(
    (r) => process.send?.(r),
    (err: Error) => process.send?.({ error: err.message }),
  );
});
// Orphaned (the benchmark died): do not linger holding sockets.
process.on('disconnect', () => process.exit(0));
process.send?.({ ok: 'started' });
