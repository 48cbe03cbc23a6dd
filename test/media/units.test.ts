/** Pure parts of media termination: address plan, port pairs and quarantine, packet path verdicts. */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parsePolicy } from '../../src/config/load-policy';
import { PortExhaustedError } from '../../src/errors';
import { legAddress, mediaPlan, planAddresses } from '../../src/media/addresses';
import { createCounterArray, legBase, readLeg } from '../../src/media/counters';
import { EarlyPackets } from '../../src/media/early-packets';
import { PortPool } from '../../src/media/ports';
import {
  DROP_MALFORMED,
  DROP_NO_DESTINATION,
  DROP_NOT_CONFIGURED,
  DROP_UNEXPECTED_SOURCE,
  FORWARDED,
  HELD,
  MODE_PENDING,
  MODE_RTP,
  PacketPath,
  Relay,
  type Sender,
} from '../../src/media/relay';

const defaultYaml = readFileSync(path.resolve(__dirname, '../../policies/default.yaml'), 'utf8');

describe('media-termination addresses', () => {
  test('per-interface: a leg binds on the address of the interface facing its peer', () => {
    const plan = mediaPlan(parsePolicy(defaultYaml, 'default.yaml').policy);
    expect(legAddress(plan, 'outside')).toBe('127.0.1.10');
    expect(legAddress(plan, 'inside')).toBe('127.0.2.10');
    expect(legAddress(plan, 'inside', 'inside')).toBe('127.0.2.10');
    expect(() => legAddress(plan, 'outside', 'inside')).toThrow(/interface "inside" has role inside, not outside/);
    expect(() => legAddress(plan, 'outside', 'dmz')).toThrow(/interface "dmz" is not defined/);
    expect(planAddresses(plan).map((a) => a.address)).toEqual(['127.0.1.10', '127.0.2.10']);
  });

  test('global: every leg binds on the one address', () => {
    const yaml = defaultYaml.replace(
      /media-termination:\n {2}addresses:\n(?: {4}.*\n)+/,
      'media-termination:\n  address: 127.0.1.10\n',
    );
    const plan = mediaPlan(parsePolicy(yaml, 'global.yaml').policy);
    expect(plan.global).toBe('127.0.1.10');
    expect(legAddress(plan, 'outside')).toBe('127.0.1.10');
    expect(legAddress(plan, 'inside', 'inside')).toBe('127.0.1.10');
    expect(planAddresses(plan)).toHaveLength(1);
  });
});

describe('port pairs', () => {
  test('RTP even, RTCP next odd, inside the range; exhaustion is an error, not a crash', () => {
    let t = 0;
    const pool = new PortPool('127.0.0.1', 20001, 20008, 1000, () => t);
    // 20001 is odd: the first pair is 20002/20003; 20008 has no odd partner inside the range.
    expect(pool.total).toBe(3);
    const got = [pool.allocate(), pool.allocate(), pool.allocate()];
    expect(got).toEqual([20002, 20004, 20006]);
    expect(() => pool.allocate()).toThrow(PortExhaustedError);
    expect(() => pool.allocate()).toThrow(/no free RTP port pair on 127\.0\.0\.1 \(3 in use, 0 in quarantine\)/);
    pool.release(20004);
    pool.release(20004); // twice: ignored
    expect(pool.stats()).toEqual({ total: 3, inUse: 2, free: 0, quarantined: 1, reusedEarly: 0 });
    t = 1000;
    expect(pool.allocate()).toBe(20004);
    expect(pool.stats().reusedEarly).toBe(0); // its quarantine was over: not an early reuse
  });

  test('issue 12: quarantine alone never refuses a call; the oldest quarantined pair is reused first', () => {
    let t = 0;
    const pool = new PortPool('127.0.0.1', 20000, 20005, 30_000, () => t);
    const [a, b, c] = [pool.allocate(), pool.allocate(), pool.allocate()];
    pool.release(b);
    t = 10;
    pool.release(a);
    // No free pair left, two in quarantine: the one released first comes back, and it is counted.
    expect(pool.allocate()).toBe(b);
    expect(pool.allocate()).toBe(a);
    expect(pool.stats()).toEqual({ total: 3, inUse: 3, free: 0, quarantined: 0, reusedEarly: 2 });
    expect(() => pool.allocate()).toThrow(/\(3 in use, 0 in quarantine\)/);
    expect(c).toBe(20004);
  });

  test('issue 12: a pair nothing can still arrive on skips quarantine', () => {
    const pool = new PortPool('127.0.0.1', 20000, 20003, 30_000, () => 0);
    const a = pool.allocate();
    pool.release(a, false);
    expect(pool.stats()).toEqual({ total: 2, inUse: 0, free: 2, quarantined: 0, reusedEarly: 0 });
    // Back of the free queue: the untouched pair goes first.
    expect(pool.allocate()).toBe(20002);
    expect(pool.allocate()).toBe(a);
  });

  test('a freed pair goes to the back of the queue (oldest free first)', () => {
    let t = 0;
    const pool = new PortPool('127.0.0.1', 30000, 30007, 10, () => t);
    const a = pool.allocate();
    pool.release(a);
    t = 20;
    expect(pool.allocate()).toBe(30002);
    expect(pool.allocate()).toBe(30004);
    expect(pool.allocate()).toBe(30006);
    expect(pool.allocate()).toBe(30000);
  });
});

describe('packet path (RTP↔RTP, no engine)', () => {
  class Sink implements Sender {
    sent: { data: Buffer; port: number; address: string }[] = [];
    send(buf: Uint8Array, offset: number, length: number, port: number, address: string): void {
      this.sent.push({ data: Buffer.from(buf.subarray(offset, offset + length)), port, address });
    }
  }
  const rtp = (seq: number) => {
    const b = Buffer.alloc(172);
    b[0] = 0x80;
    b.writeUInt16BE(seq, 2);
    b.fill(seq & 0xff, 12);
    return b;
  };

  function setup() {
    const counters = createCounterArray(2);
    const sinks = [new Sink(), new Sink(), new Sink(), new Sink()] as const;
    const relay = new Relay(
      { inside: false, base: legBase(1, 0), rtpSender: sinks[0], rtcpSender: sinks[1] },
      { inside: true, base: legBase(1, 1), rtpSender: sinks[2], rtcpSender: sinks[3] },
    );
    // Signaling has configured both legs as plain RTP.
    relay.configure(0, MODE_RTP, -1, -1);
    relay.configure(1, MODE_RTP, -1, -1);
    const [outside, inside] = relay.legs;
    const latches: boolean[] = [];
    const p = new PacketPath(counters, null, null, (_leg, rtcp) => latches.push(rtcp));
    return { counters, sinks, outside, inside, relay, p, latches };
  }

  test('forwards both ways, latches the outside peer, drops strangers on the inside', () => {
    const { counters, sinks, relay, p, latches } = setup();
    relay.setPeer(1, '10.0.0.5', 7000, 7001);
    relay.setPeer(0, '192.168.1.20', 5000, 5001); // the phone's private address from SDP
    p.now = 1234;
    // Phone behind NAT: real source differs; the reply goes to the real source.
    expect(p.handle(relay, 0, false, rtp(1), '203.0.113.9', 40000)).toBe(FORWARDED);
    expect(sinks[2].sent[0]).toMatchObject({ port: 7000, address: '10.0.0.5' });
    expect(sinks[2].sent[0]?.data.equals(rtp(1))).toBe(true);
    expect(p.handle(relay, 1, false, rtp(2), '10.0.0.5', 7000)).toBe(FORWARDED);
    expect(sinks[0].sent[0]).toMatchObject({ port: 40000, address: '203.0.113.9' });
    // RTCP follows RTP's latch (port + 1) until RTCP itself is heard.
    const rtcp = Buffer.from([0x80, 201, 0, 1, 0, 0, 0, 1]);
    expect(p.handle(relay, 1, true, rtcp, '10.0.0.5', 7001)).toBe(FORWARDED);
    expect(sinks[1].sent[0]).toMatchObject({ port: 40001, address: '203.0.113.9' });
    // A plain RTP outside leg latches once: a later stranger does not steal the media.
    expect(p.handle(relay, 0, false, rtp(3), '198.51.100.1', 1111)).toBe(FORWARDED);
    expect(p.handle(relay, 1, false, rtp(4), '10.0.0.5', 7000)).toBe(FORWARDED);
    expect(sinks[0].sent[1]).toMatchObject({ port: 40000, address: '203.0.113.9' });
    expect(latches).toEqual([false]);
    // Inside: only the signaled peer's address.
    expect(p.handle(relay, 1, false, rtp(5), '10.0.0.6', 7000)).toBe(DROP_UNEXPECTED_SOURCE);
    const o = readLeg(counters, 1, 0);
    const i = readLeg(counters, 1, 1);
    expect(o).toMatchObject({ rxPackets: 2, txPackets: 3, txBytes: 172 * 2 + 8, latchMoves: 1, lastRxMs: 1234 });
    expect(i).toMatchObject({ rxPackets: 4, txPackets: 2, unexpectedSourceDrops: 1 });
    expect(readLeg(counters, 0, 0).rxPackets).toBe(0); // other slots untouched
  });

  test('malformed packets and unknown destinations are dropped and counted', () => {
    const { counters, relay, p, outside } = setup();
    const bad = rtp(1);
    bad[0] = 0x40; // version 1
    expect(p.handle(relay, 0, false, bad, '203.0.113.9', 40000)).toBe(DROP_MALFORMED);
    expect(p.handle(relay, 0, false, Buffer.alloc(8, 0x80), '203.0.113.9', 40000)).toBe(DROP_MALFORMED);
    expect(p.handle(relay, 0, true, rtp(2), '203.0.113.9', 40001)).toBe(DROP_MALFORMED); // PT 0 is not RTCP
    // No inside peer signaled yet: nowhere to send.
    expect(p.handle(relay, 0, false, rtp(3), '203.0.113.9', 40000)).toBe(DROP_NO_DESTINATION);
    expect(readLeg(counters, 1, 0)).toMatchObject({ rxPackets: 4, otherDrops: 3 });
    expect(readLeg(counters, 1, 1)).toMatchObject({ otherDrops: 1 });
    expect(outside.rtpLatched).toBe(true);
  });

  test('legs signaling has not configured pass nothing: held when there is room, else dropped', () => {
    const { counters, sinks, outside, relay, p } = setup();
    relay.configure(0, MODE_PENDING, -1, -1);
    relay.setPeer(1, '10.0.0.5', 7000, 7001);
    // Without a place to hold them, early packets are dropped, and never latch the outside leg.
    expect(p.handle(relay, 0, false, rtp(1), '203.0.113.9', 40000)).toBe(DROP_NOT_CONFIGURED);
    expect(outside.rtpLatched).toBe(false);

    const early = new EarlyPackets(4, 256, 2, 1000);
    const q = new PacketPath(counters, null, null, null, early);
    q.now = 10;
    expect(q.handle(relay, 0, false, rtp(2), '203.0.113.9', 40000)).toBe(HELD);
    expect(q.handle(relay, 0, false, rtp(3), '203.0.113.9', 40000)).toBe(HELD);
    // Per-leg quota reached: the next one takes the ordinary path (and is dropped there).
    expect(q.handle(relay, 0, false, rtp(4), '203.0.113.9', 40000)).toBe(DROP_NOT_CONFIGURED);
    expect(sinks[2].sent).toHaveLength(0);
    expect(readLeg(counters, 1, 0)).toMatchObject({ heldPackets: 2, otherDrops: 2 });

    relay.configure(0, MODE_RTP, -1, -1);
    const delivered: number[] = [];
    const ready = () => true;
    early.replay(
      relay,
      20,
      ready,
      (leg, rtcp, msg, src, port) => {
        delivered.push(msg.readUInt16BE(2));
        q.process(relay, leg, rtcp, msg, src, port);
      },
      () => undefined,
    );
    expect(delivered).toEqual([2, 3]); // oldest first
    expect(sinks[2].sent.map((s) => s.data.readUInt16BE(2))).toEqual([2, 3]);
    expect(outside.held).toBe(0);
  });

  test('held packets expire after their age limit instead of going through late', () => {
    const { counters, outside, relay } = setup();
    relay.configure(0, MODE_PENDING, -1, -1);
    const early = new EarlyPackets(4, 256, 4, 1000);
    const q = new PacketPath(counters, null, null, null, early);
    q.now = 0;
    expect(q.handle(relay, 0, false, rtp(1), '203.0.113.9', 40000)).toBe(HELD);
    const expired: number[] = [];
    const delivered: number[] = [];
    early.replay(
      relay,
      1500,
      () => true,
      (_l, _r, msg) => delivered.push(msg.readUInt16BE(2)),
      (leg) => expired.push(leg),
    );
    expect(delivered).toEqual([]);
    expect(expired).toEqual([0]);
    expect(outside.held).toBe(0);
  });
});
