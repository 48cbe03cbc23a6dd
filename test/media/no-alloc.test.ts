/**
 * Regression guard for the hot path (docs/architecture.md): the relay's engine path, fed 200,000
 * packets each way in-process, triggers no garbage collection. The full 1,000,000-packet
 * figure comes from `npm run bench:pps`; this is the same code with a smaller count.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { measureEnginePath } from '../../bench/pps/engine-path';
import { createCounterArray, legBase } from '../../src/media/counters';
import {
  DROP_UNEXPECTED_SOURCE,
  FORWARDED,
  LATCH_ANY,
  LATCH_HOST,
  MODE_RTP,
  PacketPath,
  Relay,
  type Sender,
} from '../../src/media/relay';

test('the SRTP↔RTP engine path allocates nothing per packet (no GC over 400,000 packets)', async () => {
  const r = await measureEnginePath(200_000);
  expect(r.packets).toBe(400_000);
  expect(r.gcEvents).toBe(0);
  // Per-packet garbage of even 8 bytes would be 3.2 MB here; what remains is compiled code.
  expect(r.heapGrowthBytes).toBeLessThan(1_000_000);
}, 60_000);

/**
 * The latching inside leg (issue 13) on the same terms: RTP↔RTP in-process, the inside peer
 * latched by `inside-latch` host or any, its packets and a stranger's (dropped) each time, with
 * source strings equal to but not the same object as the latched ones (as a socket gives them).
 */
test.each([
  ['host', LATCH_HOST],
  ['any', LATCH_ANY],
])(
  'a latched inside leg (inside-latch %s) allocates nothing per packet',
  async (_name, latch) => {
    const counters = createCounterArray(1);
    let sent = 0;
    const sink: Sender = {
      send: () => {
        sent++;
      },
    };
    const relay = new Relay(
      { inside: false, base: legBase(0, 0), rtpSender: sink, rtcpSender: sink },
      { inside: true, latch, base: legBase(0, 1), rtpSender: sink, rtcpSender: sink },
    );
    relay.setPeer(0, '127.0.1.50', 30000, 30001);
    relay.setPeer(1, '127.0.2.50', 40000, 40001);
    relay.configure(0, MODE_RTP, -1, -1);
    relay.configure(1, MODE_RTP, -1, -1);
    let latches = 0;
    const path = new PacketPath(counters, null, null, () => {
      latches++;
    });
    const latchedHost = latch === LATCH_ANY ? '127.0.2.60' : '127.0.2.50';
    // Made apart from the latched copy: === compares their characters.
    const src = ['127', '0', '2', latchedHost.slice(8)].join('.');
    const stranger = ['127', '0', '2', '99'].join('.');
    const pkt = Buffer.alloc(172, 0xd5);
    pkt[0] = 0x80;
    expect(path.handle(relay, 1, false, pkt, latchedHost, 41000)).toBe(FORWARDED);
    expect(relay.legs[1].rtpLatched).toBe(true);
    const run = (n: number): number => {
      let bad = 0;
      for (let i = 0; i < n; i++) {
        pkt.writeUInt16BE(i & 0xffff, 2);
        if (path.handle(relay, 1, false, pkt, src, 41000) !== FORWARDED) bad++;
        if (path.handle(relay, 0, false, pkt, '127.0.1.50', 30000) !== FORWARDED) bad++;
        if (path.handle(relay, 1, false, pkt, stranger, 41000) !== DROP_UNEXPECTED_SOURCE) bad++;
        if (path.handle(relay, 1, false, pkt, src, 41002) !== DROP_UNEXPECTED_SOURCE) bad++;
      }
      return bad;
    };
    expect(run(100_000)).toBe(0);
    const gc = exposeGc();
    const starts: number[] = [];
    const obs = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) starts.push(e.startTime);
    });
    obs.observe({ entryTypes: ['gc'] });
    gc();
    await new Promise((r) => setTimeout(r, 50));
    const w0 = performance.now();
    const bad = run(200_000);
    const w1 = performance.now();
    await new Promise((r) => setTimeout(r, 100));
    obs.disconnect();
    expect(bad).toBe(0);
    expect(latches).toBe(1); // the inside latch, once (the phone sends from where signaling said)
    expect(starts.filter((t) => t >= w0 && t <= w1)).toHaveLength(0);
    expect(sent).toBe(1 + 2 * 300_000);
    expect(relay.legs[1]).toMatchObject({ rtpAddress: latchedHost, rtpPort: 41000 });
  },
  60_000,
);

function exposeGc(): () => void {
  setFlagsFromString('--expose-gc');
  return runInNewContext('gc') as () => void;
}
