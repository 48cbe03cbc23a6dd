/**
 * The engine path without sockets: the relay's PacketPath fed 1,000,000 packets per direction
 * in-process, counting garbage-collection events (PerformanceObserver 'gc') and heap growth.
 * The "phone" protecting SRTP→RTP input is an outbound session on the same engine, copying into
 * a preallocated input Buffer, so the loop itself allocates nothing either.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createCounterArray, legBase, readLeg } from '../../src/media/counters';
import { loadEngine } from '../../src/media/engine';
import { FORWARDED, MODE_RTP, MODE_SRTP, PacketPath, Relay, type Sender } from '../../src/media/relay';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';

export interface EnginePathResult {
  packets: number;
  gcEvents: number;
  heapGrowthBytes: number;
  /** Relay only: the test phone's protect is measured apart and subtracted. */
  nsPerPacketSrtpToRtp: number;
  nsPerPacketRtpToSrtp: number;
}

const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const KEY_IN = Buffer.alloc(30, 0x11);
const KEY_OUT = Buffer.alloc(30, 0x22);

/** Counts what is sent; keeps one copy (made outside the measured loops) for a sanity check. */
class Sink implements Sender {
  packets = 0;
  bytes = 0;
  send(_buf: Uint8Array, _offset: number, length: number): void {
    this.packets++;
    this.bytes += length;
  }
}

function rtpTemplate(ssrc: number): Buffer {
  const b = Buffer.alloc(172, 0xd5);
  b[0] = 0x80;
  b.writeUInt32BE(ssrc, 8);
  return b;
}

export async function measureEnginePath(packetsPerDirection = 1_000_000): Promise<EnginePathResult> {
  const { engine, codes } = loadEngine();
  const counters = createCounterArray(1);
  const sinks = [new Sink(), new Sink(), new Sink(), new Sink()];
  const relay = new Relay(
    { inside: false, base: legBase(0, 0), rtpSender: sinks[0] as Sink, rtcpSender: sinks[1] as Sink },
    { inside: true, base: legBase(0, 1), rtpSender: sinks[2] as Sink, rtcpSender: sinks[3] as Sink },
  );
  relay.setPeer(0, '127.0.1.50', 30000, 30001);
  relay.setPeer(1, '127.0.2.50', 40000, 40001);
  relay.configure(
    0,
    MODE_SRTP,
    engine.createSession(PROFILE, KEY_IN, 'inbound'),
    engine.createSession(PROFILE, KEY_OUT, 'outbound'),
  );
  relay.configure(1, MODE_RTP, -1, -1);
  const path = new PacketPath(counters, engine, codes, null);

  // The phone: protects with KEY_IN into the last slot, copied out to a fixed input buffer.
  const phone = engine.createSession(PROFILE, KEY_IN, 'outbound');
  const genSlot = engine.slotCount - 1;
  const genBuf = engine.slot(genSlot);
  const srtpIn = Buffer.alloc(182);
  const genView = genBuf.subarray(0, 182);
  const rtpIn = rtpTemplate(0x2222);
  const plain = rtpTemplate(0x1111);
  let seqOut = 0;
  let seqIn = 0;

  /** The phone alone, to subtract its share from the SRTP→RTP loop. */
  const phoneOnly = (n: number): void => {
    for (let i = 0; i < n; i++) {
      seqOut = (seqOut + 1) & 0xffff;
      plain.writeUInt16BE(seqOut, 2);
      genBuf.set(plain, 0);
      engine.protectRtp(phone, genSlot, 172);
      srtpIn.set(genView, 0);
    }
  };
  const srtpToRtp = (n: number): number => {
    let bad = 0;
    for (let i = 0; i < n; i++) {
      seqOut = (seqOut + 1) & 0xffff;
      plain.writeUInt16BE(seqOut, 2);
      genBuf.set(plain, 0);
      engine.protectRtp(phone, genSlot, 172);
      srtpIn.set(genView, 0);
      if (path.handle(relay, 0, false, srtpIn, '127.0.1.50', 30000) !== FORWARDED) bad++;
    }
    return bad;
  };
  const rtpToSrtp = (n: number): number => {
    let bad = 0;
    for (let i = 0; i < n; i++) {
      seqIn = (seqIn + 1) & 0xffff;
      rtpIn.writeUInt16BE(seqIn, 2);
      if (path.handle(relay, 1, false, rtpIn, '127.0.2.50', 40000) !== FORWARDED) bad++;
    }
    return bad;
  };

  // Warm up (JIT tiers, engine streams), then check one packet each way against the reference.
  // 200k each way: past every JIT tier-up, so compiled code does not land in the window.
  srtpToRtp(200_000);
  rtpToSrtp(200_000);
  const check = new SrtpReferenceContext(PROFILE, KEY_OUT);
  const probe: Buffer[] = [];
  const capture = { send: (b: Uint8Array, o: number, l: number) => void probe.push(Buffer.from(b.subarray(o, o + l))) };
  const probeRelay = new Relay(
    { inside: false, base: legBase(0, 0), rtpSender: capture, rtcpSender: capture },
    { inside: true, base: legBase(0, 1), rtpSender: sinks[2] as Sink, rtcpSender: sinks[3] as Sink },
  );
  probeRelay.configure(0, MODE_SRTP, -1, engine.createSession(PROFILE, KEY_OUT, 'outbound'));
  probeRelay.setPeer(0, '127.0.1.50', 30000, 30001);
  probeRelay.configure(1, MODE_RTP, -1, -1);
  probeRelay.setPeer(1, '127.0.2.50', 40000, 40001);
  path.handle(probeRelay, 1, false, rtpIn, '127.0.2.50', 40000);
  const u = check.unprotectRtp(probe[0] as Buffer);
  if (!u.ok || !u.packet.equals(rtpIn))
    throw new Error('engine path self-check failed: RTP→SRTP output does not verify');

  const gc = (globalThis as { gc?: () => void }).gc ?? exposeGc();
  // GC entries arrive asynchronously: keep their start times, count those inside the loops.
  const gcStarts: number[] = [];
  const obs = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcStarts.push(e.startTime);
  });
  obs.observe({ entryTypes: ['gc'] });
  gc();
  await new Promise((r) => setTimeout(r, 50));
  const heap0 = process.memoryUsage().heapUsed;
  const w0 = performance.now();
  const t0 = process.hrtime.bigint();
  const bad1 = srtpToRtp(packetsPerDirection);
  const t1 = process.hrtime.bigint();
  const bad2 = rtpToSrtp(packetsPerDirection);
  const t2 = process.hrtime.bigint();
  const heap1 = process.memoryUsage().heapUsed;
  // The phone's own cost (its packets are not fed to the relay: they would only be replays).
  const phoneN = Math.min(packetsPerDirection, 200_000);
  const t3 = process.hrtime.bigint();
  phoneOnly(phoneN);
  const t4 = process.hrtime.bigint();
  const w1 = performance.now();
  await new Promise((r) => setTimeout(r, 100));
  obs.disconnect();
  const gcEvents = gcStarts.filter((t) => t >= w0 && t <= w1).length;
  if (bad1 + bad2 > 0) throw new Error(`engine path dropped ${bad1 + bad2} packets`);
  const c = readLeg(counters, 0, 1);
  if (c.txPackets < packetsPerDirection) throw new Error('engine path did not forward');
  return {
    packets: 2 * packetsPerDirection,
    gcEvents,
    heapGrowthBytes: heap1 - heap0,
    nsPerPacketSrtpToRtp: Number(t1 - t0) / packetsPerDirection - Number(t4 - t3) / phoneN,
    nsPerPacketRtpToSrtp: Number(t2 - t1) / packetsPerDirection,
  };
}

/** gc() without --expose-gc on the command line (jest runs the regression test this way). */
function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
