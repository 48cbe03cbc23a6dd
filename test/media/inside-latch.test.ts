/**
 * `media-termination.inside-latch` (issue 13) over real UDP sockets on loopback: a multihomed
 * inside peer (a gateway or phone sending from another address or port than its SDP names).
 * RTP↔RTP calls: the remote phone on 127.0.1.50, the inside peer signaled at 127.0.2.50.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePolicy } from '../../src/config/load-policy';
import { createMediaService, type MediaService, type MediaSessionInfo } from '../../src/media/service';
import { mediaContext, requireBuiltWorker, rtcpPacket, rtpPacket, sleep, UdpPeer } from '../support/media-harness';
import { serve } from '../support/serve';

const OUT = '127.0.1.10';
const IN = '127.0.2.10';
const SIGNALED = '127.0.2.50';

const peers: UdpPeer[] = [];
const open = async (address: string) => {
  const p = await UdpPeer.open(address);
  peers.push(p);
  return p;
};

beforeAll(() => requireBuiltWorker());
afterAll(() => {
  for (const p of peers) p.close();
});

/** One media service with the given inside-latch (unset = the default) on its own port range. */
function withService(latch: 'off' | 'host' | 'any' | undefined, minPort: number) {
  const h = {} as { ctx: ReturnType<typeof mediaContext>; media: MediaService };
  beforeAll(async () => {
    const mt = { 'rtp-min-port': minPort, 'rtp-max-port': minPort + 19, workers: 1 };
    h.ctx = mediaContext(latch === undefined ? mt : { ...mt, 'inside-latch': latch });
    h.media = createMediaService(h.ctx);
    await serve(h.media, h.ctx.control);
  });
  afterAll(async () => {
    await h.media.stop();
  });
  return h;
}

/** A call whose inside peer is signaled at SIGNALED:<sig.rtp.port>. */
async function call(media: MediaService) {
  const info: MediaSessionInfo = await media.allocate({ callId: `latch-${Math.random()}@test` });
  const phone = { rtp: await open('127.0.1.50'), rtcp: await open('127.0.1.50') };
  const sig = { rtp: await open(SIGNALED), rtcp: await open(SIGNALED) };
  await media.updateLeg(info.id, 'outside', {
    mode: 'rtp',
    peer: { address: '127.0.1.50', rtpPort: phone.rtp.port, rtcpPort: phone.rtcp.port },
  });
  await media.updateLeg(info.id, 'inside', {
    mode: 'rtp',
    peer: { address: SIGNALED, rtpPort: sig.rtp.port, rtcpPort: sig.rtcp.port },
  });
  // The phone speaks first (its outside leg latches where it is, as always).
  phone.rtp.send(rtpPacket(0x1111, 1), info.outside.rtpPort, OUT);
  expect((await sig.rtp.next())?.msg.equals(rtpPacket(0x1111, 1))).toBe(true);
  return { info, phone, sig };
}

function legCounters(h: { ctx: ReturnType<typeof mediaContext> }, id: string, leg: 0 | 1) {
  const v = h.ctx.control.findShow(['phone-proxy', 'media-sessions', id]);
  const data = v?.item.render(v.args) as { data: { legs: { counters: Record<string, number> }[] }[] };
  return data.data[0]?.legs[leg]?.counters as Record<string, number>;
}

async function insidePeerShown(h: { ctx: ReturnType<typeof mediaContext> }, id: string): Promise<unknown> {
  await sleep(50); // the worker's 'latched' message reaches the main thread
  const v = h.ctx.control.findShow(['phone-proxy', 'media-sessions']);
  const out = (await v?.item.render([id])) as { tables: { rows: unknown[][] }[] };
  return out.tables[0]?.rows[1]?.[5];
}

test('the policy key takes off, host or any (default off) and nothing else', () => {
  const yaml = readFileSync(path.join(__dirname, '../../policies/default.yaml'), 'utf8');
  expect(parsePolicy(yaml, 'default.yaml').policy['media-termination']['inside-latch']).toBe('off');
  const set = (v: string) => yaml.replace('  rtp-max-port: 29999\n', `  rtp-max-port: 29999\n  inside-latch: ${v}\n`);
  expect(parsePolicy(set('host'), 'host.yaml').policy['media-termination']['inside-latch']).toBe('host');
  expect(parsePolicy(set('any'), 'any.yaml').policy['media-termination']['inside-latch']).toBe('any');
  expect(() => parsePolicy(set('sideways'), 'bad.yaml')).toThrow(/inside-latch/);
});

describe('inside-latch off (default): only the signaled address is heard', () => {
  const h = withService(undefined, 61700);

  test('another address is dropped and counted; another port of the signaled address is heard but never answered', async () => {
    const c = await call(h.media);
    const elsewhere = await open('127.0.2.51');
    elsewhere.send(rtpPacket(0x2222, 1), c.info.inside.rtpPort, IN);
    elsewhere.send(rtcpPacket(0x2222, 1), c.info.inside.rtcpPort, IN);
    expect(await c.phone.rtp.next(300)).toBeUndefined();
    expect(await c.phone.rtcp.next(50)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ rxPackets: 2, unexpectedSourceDrops: 2, txPackets: 1 });

    // Today's behaviour kept: the signaled address is checked, not its port; replies still go
    // to the signaled port, so this peer has one-way audio.
    const otherPort = await open(SIGNALED);
    otherPort.send(rtpPacket(0x2222, 2), c.info.inside.rtpPort, IN);
    expect((await c.phone.rtp.next())?.msg.equals(rtpPacket(0x2222, 2))).toBe(true);
    c.phone.rtp.send(rtpPacket(0x1111, 2), c.info.outside.rtpPort, OUT);
    expect((await c.sig.rtp.next())?.msg.equals(rtpPacket(0x1111, 2))).toBe(true);
    expect(await otherPort.next(100)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ latchMoves: 0, unexpectedSourceDrops: 2 });
    expect(await insidePeerShown(h, c.info.id)).toBe(`${SIGNALED}:${c.sig.rtp.port}`);
    await h.media.release(c.info.id, 'test');
  });
});

describe('inside-latch host: the signaled address, any port', () => {
  const h = withService('host', 61720);

  test('latches on another port of the signaled address, answers there, then hears only it', async () => {
    const c = await call(h.media);
    // Another address is still no one, before and after a latch.
    const elsewhere = await open('127.0.2.51');
    elsewhere.send(rtpPacket(0x2222, 1), c.info.inside.rtpPort, IN);
    expect(await c.phone.rtp.next(300)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ unexpectedSourceDrops: 1, latchMoves: 0 });

    const moved = await open(SIGNALED);
    moved.send(rtpPacket(0x3333, 1), c.info.inside.rtpPort, IN);
    expect((await c.phone.rtp.next())?.msg.equals(rtpPacket(0x3333, 1))).toBe(true);
    c.phone.rtp.send(rtpPacket(0x1111, 2), c.info.outside.rtpPort, OUT);
    expect((await moved.next())?.msg.equals(rtpPacket(0x1111, 2))).toBe(true);
    expect(await c.sig.rtp.next(100)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ latchMoves: 1 });
    expect(await insidePeerShown(h, c.info.id)).toBe(`${SIGNALED}:${moved.port} (latched)`);

    // A third source after the latch, even the signaled port itself: dropped and counted.
    c.sig.rtp.send(rtpPacket(0x4444, 1), c.info.inside.rtpPort, IN);
    elsewhere.send(rtpPacket(0x2222, 2), c.info.inside.rtpPort, IN);
    expect(await c.phone.rtp.next(300)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ unexpectedSourceDrops: 3, latchMoves: 1 });
    c.phone.rtp.send(rtpPacket(0x1111, 3), c.info.outside.rtpPort, OUT);
    expect((await moved.next())?.msg.equals(rtpPacket(0x1111, 3))).toBe(true);

    // RTCP latches on its own, from the latched host.
    const rtcpFrom = await open(SIGNALED);
    rtcpFrom.send(rtcpPacket(0x3333, 7), c.info.inside.rtcpPort, IN);
    expect((await c.phone.rtcp.next())?.msg.equals(rtcpPacket(0x3333, 7))).toBe(true);
    c.phone.rtcp.send(rtcpPacket(0x1111, 8), c.info.outside.rtcpPort, OUT);
    expect((await rtcpFrom.next())?.msg.equals(rtcpPacket(0x1111, 8))).toBe(true);
    expect(await c.sig.rtcp.next(100)).toBeUndefined();
    await h.media.release(c.info.id, 'test');
  });
});

describe('inside-latch any: the first source wherever it is', () => {
  const h = withService('any', 61740);

  test('latches on a peer at another loopback address; a later third source is dropped and counted', async () => {
    const c = await call(h.media);
    const multihomed = await open('127.0.2.60');
    multihomed.send(rtpPacket(0x5555, 1), c.info.inside.rtpPort, IN);
    expect((await c.phone.rtp.next())?.msg.equals(rtpPacket(0x5555, 1))).toBe(true);
    c.phone.rtp.send(rtpPacket(0x1111, 2), c.info.outside.rtpPort, OUT);
    expect((await multihomed.next())?.msg.equals(rtpPacket(0x1111, 2))).toBe(true);
    expect(await c.sig.rtp.next(100)).toBeUndefined();
    expect(await insidePeerShown(h, c.info.id)).toBe(`127.0.2.60:${multihomed.port} (latched)`);

    const third = await open('127.0.2.61');
    third.send(rtpPacket(0x6666, 1), c.info.inside.rtpPort, IN);
    c.sig.rtp.send(rtpPacket(0x4444, 1), c.info.inside.rtpPort, IN);
    expect(await c.phone.rtp.next(300)).toBeUndefined();
    expect(legCounters(h, c.info.id, 1)).toMatchObject({ unexpectedSourceDrops: 2, latchMoves: 1 });
    multihomed.send(rtpPacket(0x5555, 2), c.info.inside.rtpPort, IN);
    expect((await c.phone.rtp.next())?.msg.equals(rtpPacket(0x5555, 2))).toBe(true);

    // A re-INVITE naming a peer starts over: the next first packet latches again.
    await h.media.updateLeg(c.info.id, 'inside', { mode: 'rtp', peer: { address: SIGNALED, rtpPort: c.sig.rtp.port } });
    third.send(rtpPacket(0x6666, 2), c.info.inside.rtpPort, IN);
    expect((await c.phone.rtp.next())?.msg.equals(rtpPacket(0x6666, 2))).toBe(true);
    c.phone.rtp.send(rtpPacket(0x1111, 3), c.info.outside.rtpPort, OUT);
    expect((await third.next())?.msg.equals(rtpPacket(0x1111, 3))).toBe(true);
    expect(await insidePeerShown(h, c.info.id)).toBe(`127.0.2.61:${third.port} (latched)`);

    const mt = h.ctx.control.findShow(['media-termination']);
    const r = (await mt?.item.render([])) as { lines: string[]; data: { insideLatch: string } };
    expect(r.lines[1]).toContain('inside-latch any');
    expect(r.data.insideLatch).toBe('any');
    await h.media.release(c.info.id, 'test');
  });
});
