/** Port exhaustion and quarantine, idle timeout, and a worker that dies mid-call. */

import { randomBytes } from 'node:crypto';
import dgram from 'node:dgram';
import { legBase, RX_PACKETS } from '../../src/media/counters';
import { createMediaService, type MediaService } from '../../src/media/service';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { mediaContext, requireBuiltWorker, rtpPacket, sleep, UdpPeer } from '../support/media-harness';
import { serve } from '../support/serve';

const OUT = '127.0.1.10';
const IN = '127.0.2.10';
const running: MediaService[] = [];
const peers: UdpPeer[] = [];
const open = async (address: string) => {
  const p = await UdpPeer.open(address);
  peers.push(p);
  return p;
};

beforeAll(requireBuiltWorker);
afterAll(async () => {
  for (const p of peers) p.close();
  for (const m of running) await m.stop();
});

async function start(ctx: ReturnType<typeof mediaContext>, opts: Parameters<typeof createMediaService>[1] = {}) {
  const m = createMediaService(ctx, opts);
  running.push(m);
  await serve(m, ctx.control);
  return m;
}

test('busy ports are skipped; issue 12: unused pairs skip quarantine, quarantine alone never refuses a call', async () => {
  const clock = Date.now();
  const ctx = mediaContext({ 'rtp-min-port': 61200, 'rtp-max-port': 61207, workers: 1, 'idle-timeout': 3600 });
  // Another program already holds the first outside RTP port.
  const squatter = dgram.createSocket('udp4');
  await new Promise<void>((r) => squatter.bind(61200, OUT, () => r()));
  try {
    const media = await start(ctx, { quarantineMs: 30_000, now: () => clock });
    const outsidePool = () =>
      media
        .pools()
        .find((p) => p.address === OUT)
        ?.pool.stats();
    const first = await media.allocate({ callId: 'a' });
    expect(first.outside.rtpPort).toBe(61202);
    const b = await media.allocate({ callId: 'b' });
    const c = await media.allocate({ callId: 'c' });
    expect([b.outside.rtpPort, c.outside.rtpPort]).toEqual([61204, 61206]);
    // All pairs in use but the squatted one: the call is refused (its bind keeps failing), not starved.
    await expect(media.allocate({ callId: 'd' })).rejects.toThrow(
      'media: cannot bind 127.0.1.10:61200: EADDRINUSE (call d)',
    );
    expect(media.errors.get('bind-failed')).toBe(1);

    // b never heard a packet (say its INVITE was answered 404): its pairs are free at once.
    await media.release(b.id, 'final response 404');
    expect(outsidePool()).toMatchObject({ inUse: 2, free: 1, quarantined: 1 });
    const e = await media.allocate({ callId: 'e' });
    expect(e.outside.rtpPort).toBe(61204);

    // c heard its phone: its outside pair may still get late packets and is quarantined.
    const phone = await open('127.0.1.55');
    phone.send(rtpPacket(1, 1), c.outside.rtpPort, OUT);
    const deadline = Date.now() + 2000;
    const slot = media.sessions().find((s) => s.id === c.id)?.slot as number;
    const rx = () => media.counters[legBase(slot, 0) + RX_PACKETS];
    while (!rx() && Date.now() < deadline) await sleep(20);
    expect(rx()).toBe(1);
    await media.release(c.id, 'hangup');
    expect(outsidePool()).toMatchObject({ inUse: 2, free: 0, quarantined: 2 });
    // No free pair: the pairs longest in quarantine are taken rather than refusing the call
    // (61200, still squatted, then c's).
    const reusedBefore = outsidePool()?.reusedEarly ?? 0;
    const f = await media.allocate({ callId: 'f' });
    expect(f.outside.rtpPort).toBe(61206);
    expect((outsidePool()?.reusedEarly ?? 0) - reusedBefore).toBe(2);
    expect(media.errors.get('ports-exhausted')).toBeUndefined();
    const show = ctx.control.findShow(['media-termination']);
    const view = (await show?.item.render([])) as { tables: { rows: unknown[][] }[] };
    expect(view.tables[0]?.rows[0]).toEqual([OUT, 'outside', 4, 3, 0, 1, outsidePool()?.reusedEarly]);
    expect(await ctx.metrics.metrics()).toMatch(
      /phone_proxy_media_ports_reused_early_total\{address="127.0.1.10"\} [1-9]/,
    );
    expect(media.sessions()).toHaveLength(3);
  } finally {
    squatter.close();
  }
});

test('idle timeout releases a session whose media stopped, with a debug line saying why', async () => {
  const lines: string[] = [];
  const ctx = mediaContext({ 'rtp-min-port': 61300, 'rtp-max-port': 61319, workers: 1, 'idle-timeout': 1 }, lines);
  ctx.logs.setDebug('media', true);
  const media = await start(ctx);
  const info = await media.allocate({ callId: 'idle@test' });
  const phone = await open('127.0.1.52');
  const peer = await open('127.0.2.52');
  await media.updateLeg(info.id, 'outside', { mode: 'rtp', peer: { address: phone.address, rtpPort: phone.port } });
  await media.updateLeg(info.id, 'inside', { mode: 'rtp', peer: { address: peer.address, rtpPort: peer.port } });
  // 2 s of media (twice the timeout): the session stays.
  for (let seq = 0; seq < 20; seq++) {
    phone.send(rtpPacket(1, seq), info.outside.rtpPort, OUT);
    await sleep(100);
  }
  expect(peer.drain().length).toBeGreaterThanOrEqual(18);
  expect(media.sessions().map((s) => s.id)).toContain(info.id);
  // Media stops: gone within the timeout plus a check period or two.
  // release() takes a session off the table before it counts the release: wait for the count.
  const deadline = Date.now() + 4000;
  while (media.releases.get('idle-timeout') === undefined && Date.now() < deadline) await sleep(100);
  expect(media.sessions()).toHaveLength(0);
  expect(media.releases.get('idle-timeout')).toBe(1);
  const why = lines
    .map((l) => JSON.parse(l) as { msg: string; category: string })
    .find((l) => l.msg.includes(' idle: '));
  expect(why).toMatchObject({ category: 'media' });
  expect(why?.msg).toMatch(new RegExp(`^media session ${info.id} idle: no media for [12] s \\(idle-timeout 1 s\\)$`));
  // Its ports no longer answer.
  phone.send(rtpPacket(1, 99), info.outside.rtpPort, OUT);
  expect(await peer.next(200)).toBeUndefined();
});

test('a worker that dies is restarted; other sessions keep flowing, its own come back', async () => {
  const ctx = mediaContext({ 'rtp-min-port': 61400, 'rtp-max-port': 61419, workers: 2, 'idle-timeout': 60 });
  const media = await start(ctx);
  const profile = 'AES_CM_128_HMAC_SHA1_80' as const;
  const keyIn = randomBytes(30);
  const keyOut = randomBytes(30);
  const a = await media.allocate({ callId: 'a@test' });
  const b = await media.allocate({ callId: 'b@test' });
  expect(media.workerOf(a.id)).not.toBe(media.workerOf(b.id));
  const phoneA = await open('127.0.1.53');
  const peerA = await open('127.0.2.53');
  const phoneB = await open('127.0.1.54');
  const peerB = await open('127.0.2.54');
  await media.updateLeg(a.id, 'outside', {
    mode: 'srtp',
    peer: { address: phoneA.address, rtpPort: phoneA.port },
    srtp: { profile, recvKey: keyIn, sendKey: keyOut },
  });
  await media.updateLeg(a.id, 'inside', { mode: 'rtp', peer: { address: peerA.address, rtpPort: peerA.port } });
  await media.updateLeg(b.id, 'outside', { mode: 'rtp', peer: { address: phoneB.address, rtpPort: phoneB.port } });
  await media.updateLeg(b.id, 'inside', { mode: 'rtp', peer: { address: peerB.address, rtpPort: peerB.port } });
  const phoneTx = new SrtpReferenceContext(profile, keyIn);
  const phoneRx = new SrtpReferenceContext(profile, keyOut);

  // Call A is a long one: both directions have wrapped their sequence numbers (ROC 1), which
  // a re-created SRTP context would not know.
  let seqA = 65530;
  let seqC = 65530;
  for (; seqA < 65536 + 4; seqA++, seqC++) {
    phoneA.send(phoneTx.protectRtp(rtpPacket(0xa, seqA)), a.outside.rtpPort, OUT);
    expect((await peerA.next())?.msg.readUInt16BE(2)).toBe(seqA & 0xffff);
    peerA.send(rtpPacket(0xc, seqC), a.inside.rtpPort, IN);
    const r = await phoneA.next();
    const u = phoneRx.unprotectRtp((r as { msg: Buffer }).msg);
    expect(u.ok).toBe(true);
  }
  // The worker reports its streams' positions about once a second.
  const until = Date.now() + 3000;
  const streams = () => media.sessions().find((s) => s.id === a.id)?.legs[0].streams;
  while (!(streams()?.in?.roc === 1 && streams()?.out?.roc === 1) && Date.now() < until) await sleep(100);
  expect(streams()).toEqual({ in: { ssrc: 0xa, roc: 1, seq: 3 }, out: { ssrc: 0xc, roc: 1, seq: 3 } });

  // Call B streams at 100 packets/s while A's worker is killed.
  const sent = 150;
  const killed = media.killWorker(media.workerOf(a.id) as number);
  for (let seq = 0; seq < sent; seq++) {
    phoneB.send(rtpPacket(0xb, seq), b.outside.rtpPort, OUT);
    await sleep(10);
  }
  await killed;
  await sleep(200);
  const gotB = peerB.drain();
  expect(gotB.length).toBe(sent);
  expect(gotB.map((r) => r.msg.readUInt16BE(2))).toEqual([...Array(sent).keys()]);

  // A comes back on the new worker with its keys: media flows again both ways.
  const deadline = Date.now() + 5000;
  let back: Buffer | undefined;
  while (!back && Date.now() < deadline) {
    phoneA.send(phoneTx.protectRtp(rtpPacket(0xa, ++seqA)), a.outside.rtpPort, OUT);
    back = (await peerA.next(100))?.msg;
  }
  expect(back?.readUInt32BE(8)).toBe(0xa);
  expect(media.workerRestarts()).toBe(1);
  peerA.send(rtpPacket(0xc, ++seqC), a.inside.rtpPort, IN);
  const r = await phoneA.next();
  const u = phoneRx.unprotectRtp((r as { msg: Buffer }).msg);
  expect(u.ok && u.packet.equals(rtpPacket(0xc, seqC))).toBe(true);
  expect(media.sessions()).toHaveLength(2);
});

test('issue 12: sessions are capped per phone, per connection and in all; every refusal is counted and shown', async () => {
  const ctx = mediaContext({ 'rtp-min-port': 61500, 'rtp-max-port': 61599, workers: 1, 'idle-timeout': 3600 });
  const media = await start(ctx, { maxSessionsPerPhone: 2, maxSessionsPerConnection: 3, maxSessions: 5 });
  expect(media.caps).toEqual({ perPhone: 2, perConnection: 3, global: 5 });
  const a1 = await media.allocate({ callId: 'a1', phone: 'SEPA', connection: 'sip-1' });
  await media.allocate({ callId: 'a2', phone: 'SEPA', connection: 'sip-1' });
  await expect(media.allocate({ callId: 'a3', phone: 'SEPA', connection: 'sip-2' })).rejects.toThrow(
    'media: phone SEPA has 2 sessions, the most allowed (call a3)',
  );
  // Another phone on the same connection (no device name counts only per connection).
  await media.allocate({ callId: 'x1', connection: 'sip-1' });
  await expect(media.allocate({ callId: 'x2', connection: 'sip-1' })).rejects.toThrow(
    'media: connection sip-1 has 3 sessions, the most allowed (call x2)',
  );
  await media.allocate({ callId: 'b1', phone: 'SEPB', connection: 'sip-3' });
  await media.allocate({ callId: 'b2', phone: 'SEPB', connection: 'sip-3' });
  await expect(media.allocate({ callId: 'c1', phone: 'SEPC', connection: 'sip-4' })).rejects.toThrow(
    'media: 5 sessions, the most allowed (call c1)',
  );
  // A release gives the phone its room back.
  await media.release(a1.id, 'BYE');
  await media.allocate({ callId: 'a4', phone: 'SEPA', connection: 'sip-2' });
  expect(media.sessions()).toHaveLength(5);
  expect(Object.fromEntries(media.errors)).toMatchObject({ 'phone-cap': 1, 'connection-cap': 1, 'global-cap': 1 });
  const show = ctx.control.findShow(['media-termination']);
  const view = (await show?.item.render([])) as { data: { admission: unknown }; lines: string[] };
  expect(view.data.admission).toEqual({
    caps: { perPhone: 2, perConnection: 3, global: 5 },
    refused: { 'phone-cap': 1, 'connection-cap': 1, 'global-cap': 1, 'sessions-full': 0, 'ports-exhausted': 0 },
  });
  expect(view.lines).toContain('Admission: at most 2 sessions per phone, 3 per signaling connection, 5 in all');
  expect(view.lines.join('\n')).toMatch(/Errors: .*phone-cap 1/);
  expect(await ctx.metrics.metrics()).toMatch(/phone_proxy_media_errors_total\{cause="connection-cap"\} 1/);
  for (const s of media.sessions()) await media.release(s.id, 'test');
});

test('issue 15: a live reload raises and lowers the caps and the idle timeout; sessions up stay up', async () => {
  const ctx = mediaContext({ 'rtp-min-port': 61700, 'rtp-max-port': 61739, workers: 1, 'idle-timeout': 3600 });
  const mt = ctx.loaded.policy['media-termination'];
  const media = await start(ctx, { maxSessionsPerPhone: 1 });
  const a1 = await media.allocate({ callId: 'a1', phone: 'SEPA' });
  await expect(media.allocate({ callId: 'a2', phone: 'SEPA' })).rejects.toThrow('phone SEPA has 1 sessions');
  // The daemon puts the new policy in ctx, then asks: only media-termination keys are taken.
  ctx.loaded = {
    ...ctx.loaded,
    policy: { ...ctx.loaded.policy, 'media-termination': { ...mt, 'max-sessions-per-phone': 3, 'idle-timeout': 1 } },
  };
  expect(media.reconfigure({ changed: ['tls-proxy.max-connections'] })).toEqual([]);
  expect(media.caps.perPhone).toBe(1);
  expect(
    media.reconfigure({ changed: ['media-termination.max-sessions-per-phone', 'media-termination.idle-timeout'] }),
  ).toEqual(['media-termination.max-sessions-per-phone', 'media-termination.idle-timeout']);
  expect(media.caps.perPhone).toBe(3);
  const a2 = await media.allocate({ callId: 'a2', phone: 'SEPA' });
  expect(media.has(a1.id)).toBe(true);
  // Lowered below what the phone holds: its sessions stay, a new one is refused.
  ctx.loaded = {
    ...ctx.loaded,
    policy: { ...ctx.loaded.policy, 'media-termination': { ...mt, 'max-sessions-per-phone': 1, 'idle-timeout': 1 } },
  };
  media.reconfigure({ changed: ['media-termination.max-sessions-per-phone'] });
  await expect(media.allocate({ callId: 'a3', phone: 'SEPA' })).rejects.toThrow(
    'phone SEPA has 1 sessions, the most allowed (call a3)',
  );
  expect([media.has(a1.id), media.has(a2.id)]).toEqual([true, true]);
  // The idle timeout went from an hour to 1 s: the sweep, restarted with it, reaps both (bounded
  // generously: a loaded machine delays the sweep, it does not change what it does).
  // release() takes a session off the table before it counts the release: wait for the count.
  const deadline = Date.now() + 15_000;
  while ((media.releases.get('idle-timeout') ?? 0) < 2 && Date.now() < deadline) await sleep(100);
  expect(media.sessions()).toHaveLength(0);
  expect(Object.fromEntries(media.releases)).toEqual({ 'idle-timeout': 2 });
});

test('issue 12: a held session or one whose dialog lives outlasts 3× the idle timeout; the others are reaped', async () => {
  const ctx = mediaContext({ 'rtp-min-port': 61600, 'rtp-max-port': 61619, workers: 1, 'idle-timeout': 1 });
  const media = await start(ctx);
  let dialog = true;
  const plain = await media.allocate({ callId: 'plain' });
  const held = await media.allocate({ callId: 'held' });
  const owned = await media.allocate({ callId: 'owned', dialogAlive: () => dialog });
  media.setDirection(held.id, 'sendonly');
  const ids = () => media.sessions().map((s) => s.id);
  const deadline = Date.now() + 3500;
  while (ids().includes(plain.id) && Date.now() < deadline) await sleep(100);
  expect(ids()).not.toContain(plain.id); // reaped after about a second
  while (Date.now() < deadline) await sleep(100);
  expect(ids()).toEqual([held.id, owned.id]);
  expect(media.releases.get('idle-timeout')).toBe(1);
  // Resumed and its dialog gone: both idle now, both reaped within a check period or two.
  media.setDirection(held.id, 'sendrecv');
  dialog = false;
  const gone = Date.now() + 2000;
  while (media.sessions().length > 0 && Date.now() < gone) await sleep(100);
  expect(media.sessions()).toHaveLength(0);
  expect(media.releases.get('idle-timeout')).toBe(3);
  expect(() => media.setDirection(held.id, 'sendonly')).toThrow(/unknown media session/);
});
