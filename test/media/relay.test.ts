/**
 * SRTP phone ↔ appliance ↔ RTP (or SRTP) peer over real UDP sockets on loopback: the phone
 * protects and unprotects with the independent node:crypto reference (wasm/srtp-reference.ts),
 * the appliance with libsrtp in WebAssembly inside its worker thread.
 */

import { randomBytes } from 'node:crypto';
import { createMediaService, type MediaService, type MediaSessionInfo } from '../../src/media/service';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import {
  mediaContext,
  type Received,
  requireBuiltWorker,
  rtcpPacket,
  rtpPacket,
  sleep,
  UdpPeer,
} from '../support/media-harness';
import { serve } from '../support/serve';

const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const OUT = '127.0.1.10';
const IN = '127.0.2.10';

let ctx: ReturnType<typeof mediaContext>;
let media: MediaService;
const peers: UdpPeer[] = [];
const open = async (address: string) => {
  const p = await UdpPeer.open(address);
  peers.push(p);
  return p;
};

beforeAll(async () => {
  requireBuiltWorker();
  ctx = mediaContext({ 'rtp-min-port': 61100, 'rtp-max-port': 61199, workers: 1 });
  media = createMediaService(ctx);
  await serve(media, ctx.control);
});

afterAll(async () => {
  for (const p of peers) p.close();
  await media.stop();
});

function legCounters(id: string, leg: 0 | 1) {
  const v = ctx.control.findShow(['phone-proxy', 'media-sessions', id]);
  const data = v?.item.render(v.args) as { data: { legs: { counters: Record<string, number> }[] }[] };
  return data.data[0]?.legs[leg]?.counters as Record<string, number>;
}

/** A call: SRTP phone on the outside, RTP or SRTP peer on the inside. */
async function call(insideSrtp: boolean) {
  const keys = {
    phoneSend: randomBytes(30),
    phoneRecv: randomBytes(30),
    peerSend: randomBytes(30),
    peerRecv: randomBytes(30),
  };
  const info: MediaSessionInfo = await media.allocate({ callId: `call-${insideSrtp ? 'srtp' : 'rtp'}@test` });
  const phone = { rtp: await open('127.0.1.50'), rtcp: await open('127.0.1.50') };
  const peer = { rtp: await open('127.0.2.50'), rtcp: await open('127.0.2.50') };
  await media.updateLeg(info.id, 'outside', {
    peer: { address: '127.0.1.50', rtpPort: phone.rtp.port, rtcpPort: phone.rtcp.port },
    mode: 'srtp',
    srtp: { profile: PROFILE, recvKey: keys.phoneSend, sendKey: keys.phoneRecv },
  });
  await media.updateLeg(info.id, 'inside', {
    peer: { address: '127.0.2.50', rtpPort: peer.rtp.port, rtcpPort: peer.rtcp.port },
    mode: insideSrtp ? 'srtp' : 'rtp',
    srtp: insideSrtp ? { profile: PROFILE, recvKey: keys.peerSend, sendKey: keys.peerRecv } : undefined,
  });
  return {
    info,
    phone,
    peer,
    phoneTx: new SrtpReferenceContext(PROFILE, keys.phoneSend),
    phoneRx: new SrtpReferenceContext(PROFILE, keys.phoneRecv),
    peerTx: insideSrtp ? new SrtpReferenceContext(PROFILE, keys.peerSend) : undefined,
    peerRx: insideSrtp ? new SrtpReferenceContext(PROFILE, keys.peerRecv) : undefined,
  };
}

function unprotect(ctxRx: SrtpReferenceContext, r: Received | undefined, rtcp = false): Buffer {
  expect(r).toBeDefined();
  const u = rtcp ? ctxRx.unprotectRtcp((r as Received).msg) : ctxRx.unprotectRtp((r as Received).msg);
  if (!u.ok) throw new Error(`reference unprotect failed: ${u.error}`);
  return u.packet;
}

test('allocation returns bind addresses on the media-termination address of each side', async () => {
  const info = await media.allocate({ callId: 'addr@test' });
  expect(info.outside.address).toBe(OUT);
  expect(info.inside.address).toBe(IN);
  for (const e of [info.outside, info.inside]) {
    expect(e.rtpPort % 2).toBe(0);
    expect(e.rtcpPort).toBe(e.rtpPort + 1);
    expect(e.rtpPort).toBeGreaterThanOrEqual(61100);
    expect(e.rtcpPort).toBeLessThanOrEqual(61199);
  }
  await media.release(info.id, 'test');
  await expect(media.release(info.id, 'test')).rejects.toThrow(`unknown media session "${info.id}"`);
  await expect(media.updateLeg('nope', 'outside', { mode: 'rtp' })).rejects.toThrow(/unknown media session "nope"/);
  expect(media.errors.get('unknown-session')).toBe(2);
});

test('SRTP phone ↔ RTP peer: RTP and RTCP arrive intact both ways', async () => {
  const c = await call(false);
  const ssrcPhone = 0x11112222;
  const ssrcPeer = 0x33334444;
  for (let seq = 1; seq <= 20; seq++) {
    const plain = rtpPacket(ssrcPhone, seq);
    c.phone.rtp.send(c.phoneTx.protectRtp(plain), c.info.outside.rtpPort, OUT);
    const got = await c.peer.rtp.next();
    expect(got?.msg.equals(plain)).toBe(true);
    expect(got?.address).toBe(IN);
    expect(got?.port).toBe(c.info.inside.rtpPort);

    const back = rtpPacket(ssrcPeer, 1000 + seq, 0xa5);
    c.peer.rtp.send(back, c.info.inside.rtpPort, IN);
    const r = await c.phone.rtp.next();
    expect(r?.msg.length).toBe(182); // 10-byte HMAC-SHA1-80 tag
    expect(unprotect(c.phoneRx, r).equals(back)).toBe(true);
  }
  // RTCP: SRTCP on the phone's side, RTCP on the peer's.
  const rr = rtcpPacket(ssrcPhone, 0xabc);
  c.phone.rtcp.send(c.phoneTx.protectRtcp(rr), c.info.outside.rtcpPort, OUT);
  const gotRr = await c.peer.rtcp.next();
  expect(gotRr?.msg.equals(rr)).toBe(true);
  expect(gotRr?.port).toBe(c.info.inside.rtcpPort);
  const sr = rtcpPacket(ssrcPeer, 0xdef);
  c.peer.rtcp.send(sr, c.info.inside.rtcpPort, IN);
  expect(unprotect(c.phoneRx, await c.phone.rtcp.next(), true).equals(sr)).toBe(true);

  const o = legCounters(c.info.id, 0);
  const i = legCounters(c.info.id, 1);
  expect(o).toMatchObject({ rxPackets: 21, txPackets: 21, authFailures: 0 });
  expect(i).toMatchObject({ rxPackets: 21, txPackets: 21 });
  await media.release(c.info.id, 'test');
});

test('SRTP ↔ SRTP: each leg has its own keys', async () => {
  const c = await call(true);
  const plain = rtpPacket(0x5555, 7);
  const sent = c.phoneTx.protectRtp(plain);
  c.phone.rtp.send(sent, c.info.outside.rtpPort, OUT);
  const atPeer = await c.peer.rtp.next();
  // Re-encrypted with the inside leg's key: same length, different bytes.
  expect(atPeer?.msg.length).toBe(sent.length);
  expect(atPeer?.msg.equals(sent)).toBe(false);
  expect(unprotect(c.peerRx as SrtpReferenceContext, atPeer).equals(plain)).toBe(true);
  const back = rtpPacket(0x6666, 9);
  c.peer.rtp.send((c.peerTx as SrtpReferenceContext).protectRtp(back), c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await c.phone.rtp.next()).equals(back)).toBe(true);
  await media.release(c.info.id, 'test');
});

test('re-INVITE: same keys keep the SRTP state, new keys re-key in place, a new peer takes the media', async () => {
  const c = await call(false);
  const ssrc = 0x4242;
  // Cross a sequence-number wrap: the appliance's receive state now has ROC 1.
  for (let seq = 65530; seq < 65536 + 4; seq++) {
    c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(ssrc, seq)), c.info.outside.rtpPort, OUT);
    expect((await c.peer.rtp.next())?.msg.readUInt16BE(2)).toBe(seq & 0xffff);
  }
  // Hold/resume with the same keys and a new inside peer port.
  const newPeer = await open('127.0.2.50');
  const session = media.sessions().find((s) => s.id === c.info.id);
  const outsideCfg = session?.legs[0].cfg?.srtp;
  await media.updateLeg(c.info.id, 'outside', {
    mode: 'srtp',
    srtp: {
      profile: PROFILE,
      recvKey: Buffer.from(outsideCfg?.recvKey ?? []),
      sendKey: Buffer.from(outsideCfg?.sendKey ?? []),
    },
  });
  await media.updateLeg(c.info.id, 'inside', { mode: 'rtp', peer: { address: '127.0.2.50', rtpPort: newPeer.port } });
  c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(ssrc, 65540)), c.info.outside.rtpPort, OUT);
  expect((await newPeer.next())?.msg.readUInt16BE(2)).toBe(65540 & 0xffff);
  expect(await c.peer.rtp.next(100)).toBeUndefined();
  // The phone re-keys (new master key, same SSRC and ROC).
  const fresh = randomBytes(30);
  await media.updateLeg(c.info.id, 'outside', {
    mode: 'srtp',
    srtp: { profile: PROFILE, recvKey: fresh, sendKey: Buffer.from(outsideCfg?.sendKey ?? []) },
  });
  c.phoneTx.updateKey(fresh);
  c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(ssrc, 65541)), c.info.outside.rtpPort, OUT);
  expect((await newPeer.next())?.msg.equals(rtpPacket(ssrc, 65541))).toBe(true);
  expect(legCounters(c.info.id, 0)).toMatchObject({ authFailures: 0, replayDrops: 0 });
  await media.release(c.info.id, 'test');
});

test('a tampered or replayed packet is dropped, counted, and never moves the latch', async () => {
  const c = await call(false);
  const ssrc = 0x7777;
  c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(ssrc, 1)), c.info.outside.rtpPort, OUT);
  expect(await c.peer.rtp.next()).toBeDefined();

  // An attacker elsewhere sends a validly shaped packet with one bit flipped.
  const attacker = await open('127.0.1.66');
  const forged = c.phoneTx.protectRtp(rtpPacket(ssrc, 2));
  forged[40] = (forged[40] as number) ^ 1;
  attacker.send(forged, c.info.outside.rtpPort, OUT);
  // And replays a genuine one (already delivered) from there.
  const genuine = c.phoneTx.protectRtp(rtpPacket(ssrc, 3));
  c.phone.rtp.send(genuine, c.info.outside.rtpPort, OUT);
  expect((await c.peer.rtp.next())?.msg.equals(rtpPacket(ssrc, 3))).toBe(true);
  attacker.send(genuine, c.info.outside.rtpPort, OUT);
  // Garbage on the RTCP port counts as an authentication failure too.
  attacker.send(Buffer.from('not srtcp at all'), c.info.outside.rtcpPort, OUT);
  expect(await c.peer.rtp.next(300)).toBeUndefined();
  expect(await c.peer.rtcp.next(50)).toBeUndefined();

  // The peer's media still goes to the phone, not to the attacker.
  const back = rtpPacket(0x8888, 5);
  c.peer.rtp.send(back, c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await c.phone.rtp.next()).equals(back)).toBe(true);
  expect(await attacker.next(100)).toBeUndefined();
  expect(legCounters(c.info.id, 0)).toMatchObject({ authFailures: 2, replayDrops: 1, latchMoves: 0, txPackets: 1 });
  await media.release(c.info.id, 'test');
});

test('NAT re-latch: the phone moves to a new address and port, authenticated packets only', async () => {
  const c = await call(false);
  const ssrc = 0x9999;
  // The SDP said 127.0.1.50:<port>, but the phone's NAT maps it elsewhere.
  const natted = await open('127.0.1.51');
  natted.send(c.phoneTx.protectRtp(rtpPacket(ssrc, 1)), c.info.outside.rtpPort, OUT);
  expect(await c.peer.rtp.next()).toBeDefined();
  c.peer.rtp.send(rtpPacket(0xaaaa, 1), c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await natted.next()).equals(rtpPacket(0xaaaa, 1))).toBe(true);
  expect(await c.phone.rtp.next(100)).toBeUndefined();

  // The NAT mapping changes (new port): the next authenticated packet moves the latch.
  const remapped = await open('127.0.1.51');
  remapped.send(c.phoneTx.protectRtp(rtpPacket(ssrc, 2)), c.info.outside.rtpPort, OUT);
  expect(await c.peer.rtp.next()).toBeDefined();
  c.peer.rtp.send(rtpPacket(0xaaaa, 2), c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await remapped.next()).equals(rtpPacket(0xaaaa, 2))).toBe(true);
  expect(await natted.next(100)).toBeUndefined();

  // A forged packet from a third port does not.
  const forged = c.phoneTx.protectRtp(rtpPacket(ssrc, 3));
  forged[20] = (forged[20] as number) ^ 0x80;
  natted.send(forged, c.info.outside.rtpPort, OUT);
  await c.peer.rtp.next(200);
  c.peer.rtp.send(rtpPacket(0xaaaa, 3), c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await remapped.next()).equals(rtpPacket(0xaaaa, 3))).toBe(true);
  expect(legCounters(c.info.id, 0)).toMatchObject({ latchMoves: 2, authFailures: 1 });

  // A re-INVITE that only repeats the keys (no peer) keeps the learnt address.
  const cfg = media.sessions().find((x) => x.id === c.info.id)?.legs[0].cfg?.srtp;
  await media.updateLeg(c.info.id, 'outside', {
    mode: 'srtp',
    srtp: { profile: PROFILE, recvKey: Buffer.from(cfg?.recvKey ?? []), sendKey: Buffer.from(cfg?.sendKey ?? []) },
  });
  c.peer.rtp.send(rtpPacket(0xaaaa, 4), c.info.inside.rtpPort, IN);
  expect(unprotect(c.phoneRx, await remapped.next()).equals(rtpPacket(0xaaaa, 4))).toBe(true);
  expect(await c.phone.rtp.next(100)).toBeUndefined();

  // The view shows where the phone really is.
  const v = ctx.control.findShow(['phone-proxy', 'media-sessions']);
  const out = (await v?.item.render([c.info.id])) as { tables: { rows: unknown[][] }[] };
  expect(out.tables[0]?.rows[0]).toContain(`127.0.1.51:${remapped.port} (latched)`);
  await media.release(c.info.id, 'test');
});

test('packets from unexpected sources on the inside leg are dropped and counted', async () => {
  const c = await call(false);
  const stranger = await open('127.0.2.99');
  stranger.send(rtpPacket(0xbbbb, 1), c.info.inside.rtpPort, IN);
  stranger.send(rtcpPacket(0xbbbb, 1), c.info.inside.rtcpPort, IN);
  expect(await c.phone.rtp.next(300)).toBeUndefined();
  expect(await c.phone.rtcp.next(50)).toBeUndefined();
  expect(legCounters(c.info.id, 1)).toMatchObject({ rxPackets: 2, unexpectedSourceDrops: 2, txPackets: 0 });
  await media.release(c.info.id, 'test');
});

test('bad leg settings are refused with the reason, keys never echoed', async () => {
  const info = await media.allocate({ callId: 'bad@test' });
  const key = randomBytes(29);
  const err = await media
    .updateLeg(info.id, 'outside', { mode: 'srtp', srtp: { profile: PROFILE, recvKey: key, sendKey: randomBytes(30) } })
    .catch((e: Error) => e);
  expect((err as Error).message).toMatch(/srtp\.recvKey must be 30 bytes .* got 29/);
  expect((err as Error).message).not.toContain(key.toString('hex'));
  await expect(
    media.updateLeg(info.id, 'inside', { mode: 'rtp', peer: { address: 'ucm.example', rtpPort: 5 } }),
  ).rejects.toThrow(/peer address "ucm.example" is not an IPv4 address/);
  await expect(media.updateLeg(info.id, 'outside', { mode: 'srtp' })).rejects.toThrow(/srtp mode needs/);
  await expect(media.allocate({ callId: 'x', outsideInterface: 'inside' })).rejects.toThrow(/role inside, not outside/);
  expect(media.errors.get('bad-request')).toBeGreaterThanOrEqual(4);
  await media.release(info.id, 'test');
});

test('views, clear and metrics', async () => {
  const c = await call(false);
  c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(1, 1)), c.info.outside.rtpPort, OUT);
  expect(await c.peer.rtp.next()).toBeDefined();
  const mt = ctx.control.findShow(['media-termination']);
  const r = (await mt?.item.render([])) as { lines: string[]; tables: { rows: unknown[][] }[] };
  expect(r.lines[0]).toBe('Media termination media-term: per-interface addresses');
  expect(r.lines[1]).toContain('RTP port range 61100-61199');
  expect(r.tables[0]?.rows).toContainEqual([
    OUT,
    'outside',
    50,
    1,
    expect.any(Number),
    expect.any(Number),
    expect.any(Number),
  ]);

  const sessions = ctx.control.findShow(['phone-proxy', 'media-sessions']);
  const s = (await sessions?.item.render([])) as { tables: { rows: unknown[][] }[] };
  const row = s.tables[0]?.rows.find((x) => x[0] === c.info.id) as unknown[];
  expect(row).toEqual(
    expect.arrayContaining([
      'outside',
      `${OUT}:${c.info.outside.rtpPort}/${c.info.outside.rtcpPort}`,
      `srtp ${PROFILE}`,
    ]),
  );

  // The view's data (also served as JSON) never carries key material.
  const json = JSON.stringify(s);
  const srtp = media.sessions().find((x) => x.id === c.info.id)?.legs[0].cfg?.srtp;
  expect(srtp).toBeDefined();
  expect(json).not.toContain(Buffer.from(srtp?.recvKey ?? []).toString('hex'));
  expect(json).not.toContain(Buffer.from(srtp?.recvKey ?? []).toString('base64'));
  expect(json).not.toContain('recvKey');

  const text = await ctx.metrics.metrics();
  expect(text).toMatch(/phone_proxy_media_sessions 1\b/);
  expect(text).toMatch(/phone_proxy_media_packets_total\{leg="outside",direction="rx"\} \d+/);
  expect(text).toMatch(/phone_proxy_media_errors_total\{cause="unknown-session"\} 2/);

  const clear = ctx.control.findClear(['phone-proxy', 'media-sessions', c.info.id]);
  expect(await clear?.item.run(clear.args)).toBe('cleared 1 media session');
  expect(media.sessions()).toHaveLength(0);
  c.phone.rtp.send(c.phoneTx.protectRtp(rtpPacket(1, 2)), c.info.outside.rtpPort, OUT);
  expect(await c.peer.rtp.next(200)).toBeUndefined();
  // Released sessions' packets stay in the totals.
  expect(await ctx.metrics.metrics()).toMatch(/phone_proxy_media_sessions_released_total\{reason="cleared"\} 1/);
});

describe('early packets: a callee sends as it answers, before signaling has its key or address', () => {
  test('SRTP from a remote callee, sent before its answer, reaches the inside peer once the key is known', async () => {
    const phoneSend = randomBytes(30);
    const info = await media.allocate({ callId: 'early-outside@test' });
    const phone = await open('127.0.1.50');
    const peer = await open('127.0.2.50');
    // The inside caller is known (its offer); the remote phone has not answered yet.
    await media.updateLeg(info.id, 'inside', { peer: { address: '127.0.2.50', rtpPort: peer.port }, mode: 'rtp' });
    const tx = new SrtpReferenceContext(PROFILE, phoneSend);
    const sent = [1, 2, 3].map((seq) => rtpPacket(0x5151, seq));
    for (const p of sent) phone.send(tx.protectRtp(p), info.outside.rtpPort, OUT);
    // Nothing may cross yet: the appliance cannot authenticate these packets.
    expect(await peer.next(300)).toBeUndefined();
    expect(legCounters(info.id, 0).heldPackets).toBe(3);

    await media.updateLeg(info.id, 'outside', {
      peer: { address: '127.0.1.50', rtpPort: phone.port },
      mode: 'srtp',
      srtp: { profile: PROFILE, recvKey: phoneSend, sendKey: randomBytes(30) },
    });
    for (const p of sent) expect((await peer.next())?.msg.equals(p)).toBe(true);
    expect(legCounters(info.id, 0).authFailures).toBe(0);
    await media.release(info.id, 'test');
  });

  test('RTP from an inside callee, sent before its answer names it, reaches the phone as SRTP', async () => {
    const phoneRecv = randomBytes(30);
    const info = await media.allocate({ callId: 'early-inside@test' });
    const phone = await open('127.0.1.50');
    const peer = await open('127.0.2.50');
    await media.updateLeg(info.id, 'outside', {
      peer: { address: '127.0.1.50', rtpPort: phone.port },
      mode: 'srtp',
      srtp: { profile: PROFILE, recvKey: randomBytes(30), sendKey: phoneRecv },
    });
    const sent = [7, 8].map((seq) => rtpPacket(0x6161, seq));
    for (const p of sent) peer.send(p, info.inside.rtpPort, IN);
    expect(await phone.next(300)).toBeUndefined();

    await media.updateLeg(info.id, 'inside', { peer: { address: '127.0.2.50', rtpPort: peer.port }, mode: 'rtp' });
    const rx = new SrtpReferenceContext(PROFILE, phoneRecv);
    for (const p of sent) expect(unprotect(rx, await phone.next()).equals(p)).toBe(true);
    expect(legCounters(info.id, 1).unexpectedSourceDrops).toBe(0);
    await media.release(info.id, 'test');
  });

  test('a stranger held while the inside peer was unknown is dropped once the answer names someone else', async () => {
    const info = await media.allocate({ callId: 'early-stranger@test' });
    const phone = await open('127.0.1.50');
    const stranger = await open('127.0.2.51');
    await media.updateLeg(info.id, 'outside', { peer: { address: '127.0.1.50', rtpPort: phone.port }, mode: 'rtp' });
    stranger.send(rtpPacket(0x7171, 1), info.inside.rtpPort, IN);
    await sleep(100);
    await media.updateLeg(info.id, 'inside', { peer: { address: '127.0.2.50', rtpPort: 9 }, mode: 'rtp' });
    expect(await phone.next(300)).toBeUndefined();
    expect(legCounters(info.id, 1).unexpectedSourceDrops).toBe(1);
    await media.release(info.id, 'test');
  });
});
