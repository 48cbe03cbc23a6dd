/**
 * The batched socket path (src/media/native/udp-batch.c, src/media/batch-io.ts) between real
 * loopback sockets: it is the path the workers take by default, it relays SRTP↔RTP (checked
 * with the independent node:crypto reference), a burst longer than a batch all arrives,
 * truncated and oversize datagrams are dropped and counted, and node:dgram takes over when the
 * addon is switched off or missing. Ports 65100-65199.
 */
import { randomBytes } from 'node:crypto';
import { BATCH } from '../../src/media/batch-io';
import { readLeg } from '../../src/media/counters';
import type { WorkerIo } from '../../src/media/messages';
import { createMediaService, type MediaService, type MediaSessionInfo } from '../../src/media/service';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { mediaContext, requireBuiltWorker, rtpPacket, sleep, UdpPeer } from '../support/media-harness';

const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const OUT = '127.0.1.10';
const IN = '127.0.2.10';

let media: MediaService;
const peers: UdpPeer[] = [];
const open = async (address: string, port = 0) => {
  const p = await UdpPeer.open(address, port);
  peers.push(p);
  return p;
};

beforeAll(async () => {
  requireBuiltWorker();
  media = createMediaService(mediaContext({ 'rtp-min-port': 65100, 'rtp-max-port': 65159, workers: 1 }), {
    quarantineMs: 0,
  });
  await media.start();
});

afterAll(async () => {
  for (const p of peers) p.close();
  await media.stop();
});

function counters(m: MediaService, id: string, leg: 0 | 1) {
  const s = m.sessions().find((x) => x.id === id);
  if (!s) throw new Error(`no session ${id}`);
  return readLeg(m.counters, s.slot, leg);
}

/** The worker bumps a counter right after its send: the peer can see the packet first. */
async function settled(m: MediaService, id: string, leg: 0 | 1, want: Record<string, number>) {
  for (let i = 0; i < 50; i++) {
    const c = counters(m, id, leg);
    if (Object.entries(want).every(([k, v]) => c[k as keyof typeof c] === v)) break;
    await sleep(10);
  }
  expect(counters(m, id, leg)).toMatchObject(want);
}

async function stats(m: MediaService = media): Promise<Record<string, number>> {
  const io = await m.socketIo(0);
  return io.stats ?? {};
}

/** SRTP phone outside, RTP peer inside. */
async function call(m: MediaService, name: string) {
  const phoneSend = randomBytes(30);
  const phoneRecv = randomBytes(30);
  const info: MediaSessionInfo = await m.allocate({ callId: `${name}@batched` });
  const phone = await open('127.0.1.50');
  const peer = await open('127.0.2.50');
  await m.updateLeg(info.id, 'outside', {
    peer: { address: '127.0.1.50', rtpPort: phone.port },
    mode: 'srtp',
    srtp: { profile: PROFILE, recvKey: phoneSend, sendKey: phoneRecv },
  });
  await m.updateLeg(info.id, 'inside', { peer: { address: '127.0.2.50', rtpPort: peer.port }, mode: 'rtp' });
  return {
    info,
    phone,
    peer,
    tx: new SrtpReferenceContext(PROFILE, phoneSend),
    rx: new SrtpReferenceContext(PROFILE, phoneRecv),
  };
}

test('the workers take the batched path by default (socket-io: auto)', async () => {
  const io: WorkerIo = await media.socketIo(0);
  expect(io.io).toBe('batched');
  expect(io.ioReason).toBeUndefined();
});

test('SRTP phone ↔ RTP peer through the batched path: every packet intact, both ways', async () => {
  const before = await stats();
  const c = await call(media, 'both-ways');
  for (let seq = 1; seq <= 20; seq++) {
    const plain = rtpPacket(0x1234, seq);
    c.phone.send(c.tx.protectRtp(plain), c.info.outside.rtpPort, OUT);
    const got = await c.peer.next();
    expect(got?.msg.equals(plain)).toBe(true);
    expect(got?.address).toBe(IN);
    expect(got?.port).toBe(c.info.inside.rtpPort);
    const back = rtpPacket(0x5678, 500 + seq, 0x5a);
    c.peer.send(back, c.info.inside.rtpPort, IN);
    const r = await c.phone.next();
    expect(r?.port).toBe(c.info.outside.rtpPort);
    const u = c.rx.unprotectRtp((r as { msg: Buffer }).msg);
    expect(u.ok && u.packet.equals(back)).toBe(true);
  }
  const after = await stats();
  // The addon itself received and sent them (not node:dgram).
  expect((after.received ?? 0) - (before.received ?? 0)).toBe(40);
  expect((after.sent ?? 0) - (before.sent ?? 0)).toBe(40);
  await settled(media, c.info.id, 0, { rxPackets: 20, txPackets: 20, authFailures: 0, otherDrops: 0 });
  await settled(media, c.info.id, 1, { rxPackets: 20, txPackets: 20, otherDrops: 0 });
  await media.release(c.info.id, 'test');
});

test(`a burst of ${4 * BATCH} packets sent back to back all arrives, in order and intact`, async () => {
  const c = await call(media, 'burst');
  const n = 4 * BATCH;
  const before = await stats();
  const sent: Buffer[] = [];
  for (let seq = 1; seq <= n; seq++) {
    const plain = rtpPacket(0xabcd, seq);
    sent.push(plain);
    c.phone.send(c.tx.protectRtp(plain), c.info.outside.rtpPort, OUT);
  }
  for (let i = 0; i < n; i++) {
    const got = await c.peer.next(2000);
    expect(got?.msg.equals(sent[i] as Buffer)).toBe(true);
  }
  const after = await stats();
  expect((after.received ?? 0) - (before.received ?? 0)).toBe(n);
  expect((after.batches ?? 0) - (before.batches ?? 0)).toBeLessThanOrEqual(n);
  expect(counters(media, c.info.id, 0)).toMatchObject({ rxPackets: n, otherDrops: 0 });
  await settled(media, c.info.id, 1, { txPackets: n });
  await media.release(c.info.id, 'test');
});

test('a truncated (longer than a slot) or oversize datagram is dropped and counted, never relayed', async () => {
  const c = await call(media, 'big');
  const before = await stats();
  // 3000 bytes: longer than the 2048-byte slot, cut by the kernel (MSG_TRUNC).
  const huge = Buffer.alloc(3000, 0x80);
  c.phone.send(huge, c.info.outside.rtpPort, OUT);
  // 2040 bytes: fits the slot, but leaves no room for an SRTP tag: the path's oversize drop.
  const big = Buffer.alloc(2040, 0x80);
  c.phone.send(big, c.info.outside.rtpPort, OUT);
  // Then a good one, which must still go through.
  const plain = rtpPacket(0x99, 1);
  c.phone.send(c.tx.protectRtp(plain), c.info.outside.rtpPort, OUT);
  const got = await c.peer.next();
  expect(got?.msg.equals(plain)).toBe(true);
  expect(await c.peer.next(200)).toBeUndefined();
  const after = await stats();
  expect((after.truncated ?? 0) - (before.truncated ?? 0)).toBe(1);
  expect(counters(media, c.info.id, 0)).toMatchObject({ rxPackets: 3, otherDrops: 2 });
  await settled(media, c.info.id, 1, { txPackets: 1 });
  expect(counters(media, c.info.id, 0).rxBytes).toBe(3000 + 2040 + 182);
  await media.release(c.info.id, 'test');
});

test('a released session frees its ports at once (a survivor of a takeover can bind them)', async () => {
  const c = await call(media, 'free');
  const port = c.info.outside.rtpPort;
  await media.release(c.info.id, 'test');
  const again = await open(OUT, port);
  expect(again.port).toBe(port);
  const rtcp = await open(OUT, port + 1);
  expect(rtcp.port).toBe(port + 1);
});

describe('node:dgram fallback', () => {
  /** Where no addon is: as on a machine that built without a C compiler. */
  const MISSING = '/nonexistent/udp-batch.node';

  async function relaysWith(m: MediaService): Promise<void> {
    const c = await call(m, 'fallback');
    for (let seq = 1; seq <= 5; seq++) {
      const plain = rtpPacket(0x4242, seq);
      c.phone.send(c.tx.protectRtp(plain), c.info.outside.rtpPort, OUT);
      expect((await c.peer.next())?.msg.equals(plain)).toBe(true);
    }
    expect(counters(m, c.info.id, 0)).toMatchObject({ rxPackets: 5 });
    await settled(m, c.info.id, 1, { txPackets: 5 });
    await m.release(c.info.id, 'test');
  }

  test('socket-io: dgram relays through node:dgram', async () => {
    const m = createMediaService(mediaContext({ 'rtp-min-port': 65160, 'rtp-max-port': 65179, workers: 1 }), {
      socketIo: 'dgram',
    });
    await m.start();
    try {
      expect(await m.socketIo(0)).toEqual({ io: 'dgram', ioReason: 'media-termination.socket-io is dgram' });
      await relaysWith(m);
    } finally {
      await m.stop();
    }
  });

  test('auto without the addon: node:dgram, with one %PPX-4-160020 line saying why', async () => {
    const lines: string[] = [];
    const m = createMediaService(
      mediaContext({ 'rtp-min-port': 65180, 'rtp-max-port': 65199, workers: 1, 'socket-io': 'auto' }, lines),
      { socketIoAddon: MISSING },
    );
    try {
      await m.start();
      const io = await m.socketIo(0);
      expect(io.io).toBe('dgram');
      expect(io.ioReason).toMatch(/\/nonexistent\/udp-batch\.node is not built/);
      await relaysWith(m);
      await sleep(50);
      expect(lines.filter((l) => l.includes('160020'))).toHaveLength(1);
    } finally {
      await m.stop();
    }
  });

  test('socket-io: batched without the addon: the workers refuse to start, saying why', async () => {
    const lines: string[] = [];
    const m = createMediaService(mediaContext({ 'rtp-min-port': 65180, 'rtp-max-port': 65199, workers: 1 }, lines), {
      socketIo: 'batched',
      socketIoAddon: MISSING,
    });
    try {
      await expect(m.start()).rejects.toThrow(/media worker 0 exited/);
      expect(lines.join('\n')).toMatch(/socket-io is batched, but \/nonexistent\/udp-batch\.node is not built/);
    } finally {
      await m.stop();
    }
  });
});
