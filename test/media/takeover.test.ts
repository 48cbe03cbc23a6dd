/**
 * Media takeover in one process (issue 14): media service A relays an SRTP call (SRTP on both
 * legs, different keys) past a ROC wrap and publishes snapshots; A dies (its sockets close);
 * media service B, its own workers and engines, adopts A's last snapshot, binds the same
 * addresses and ports (retrying while A still holds them) and relays on. The remote phone and the
 * inside peer (the node:crypto reference SRTP, with their own state) see no authentication or
 * replay failure, a replayed packet is still refused, and B shows the session as taken over.
 * The same through Redis, with a heartbeat: test/cluster/media-takeover.test.ts (docs/cluster.md §7).
 */
import { randomBytes } from 'node:crypto';
import type { MediaReplicaSink } from '../../src/contracts/media';
import { createMediaService, type MediaService } from '../../src/media/service';
import { decodeSnapshot, encodeSnapshot, type MediaSessionSnapshot } from '../../src/media/snapshot';
import { mediaContext, requireBuiltWorker, sleep } from '../support/media-harness';
import { serve } from '../support/serve';
import { SrtpCall } from '../support/srtp-call';

const OUT = '127.0.1.10';
const IN = '127.0.2.10';
const PROFILE = 'AES_CM_128_HMAC_SHA1_80' as const;
const running: MediaService[] = [];

beforeAll(requireBuiltWorker);
afterAll(async () => {
  for (const m of running) await m.stop().catch(() => undefined);
});

class Sink implements MediaReplicaSink {
  readonly latest = new Map<string, Uint8Array>();
  publishes = 0;
  publish(id: string, snapshot: Uint8Array): void {
    this.publishes++;
    this.latest.set(id, snapshot);
  }
  forget(): void {
    // A dying node forgets nothing: what was published last is what the standby adopts.
  }
}

test('the snapshot codec round-trips a session and refuses a damaged one', () => {
  const snap: MediaSessionSnapshot = {
    id: 'm1',
    callId: 'call@x',
    direction: 'sendonly',
    created: 1_700_000_000_000,
    taken: 1_700_000_000_200,
    legs: [
      {
        address: OUT,
        rtpPort: 64400,
        cfg: {
          mode: 'srtp' as const,
          peer: { address: '127.0.1.99', rtpPort: 4000, rtcpPort: 4001 },
          srtp: {
            profile: PROFILE,
            recvKey: Uint8Array.from(randomBytes(30)),
            sendKey: Uint8Array.from(randomBytes(30)),
          },
        },
        latched: { rtp: { address: '127.0.1.98', port: 5000 } },
        streams: [
          {
            ssrc: 7,
            direction: 'send' as const,
            roc: 2,
            seq: 9,
            rtpWindow: [1, 2, 3, 4] as [number, number, number, number],
            rtcpIndex: 5,
            rtcpWindow: [0, 0, 0, 1] as [number, number, number, number],
          },
        ],
        rtpReserve: 24,
        rtcpReserve: 4,
      },
      {
        address: IN,
        rtpPort: 64402,
        cfg: { mode: 'rtp' as const },
        latched: {},
        streams: [],
        rtpReserve: 16,
        rtcpReserve: 4,
      },
    ],
  };
  const wire = encodeSnapshot(snap);
  expect(decodeSnapshot(wire)).toEqual(snap);
  expect(() => decodeSnapshot(wire.subarray(0, wire.length - 1))).toThrow(/runs past the end/);
  expect(() => decodeSnapshot(Buffer.concat([wire, Buffer.alloc(1)]))).toThrow(/1 bytes left over/);
  // Version 2 carries the owning phone; version 1 (no phone field) is still read.
  expect(decodeSnapshot(encodeSnapshot({ ...snap, phone: 'SEP001122334455' })).phone).toBe('SEP001122334455');
  const v1 = Buffer.from(wire.subarray(0, wire.length - 1)); // without the empty phone
  v1[0] = 1;
  expect(decodeSnapshot(v1)).toEqual(snap);
  const v9 = Buffer.from(wire);
  v9[0] = 9;
  expect(() => decodeSnapshot(v9)).toThrow(/version 9/);
});

test('B adopts A’s session: same ports, SRTP continues both ways across a ROC wrap, replays refused', async () => {
  const mt = { 'rtp-min-port': 64400, 'rtp-max-port': 64419, workers: 1, 'idle-timeout': 60 };
  const ctxA = mediaContext(mt);
  const ctxB = mediaContext(mt);
  const sink = new Sink();
  const a = createMediaService(ctxA, { replica: sink, replicaEveryMs: 100 });
  running.push(a);
  await serve(a, ctxA.control);
  const b = createMediaService(ctxB, { replicaEveryMs: 100, adoptBindMs: 3000 });
  running.push(b);
  await serve(b, ctxB.control);
  const call = await SrtpCall.place(a, '127.0.1.57', '127.0.2.57');
  const { info } = call;
  try {
    // Past the wrap (ROC 1 both ways) and a few reports later.
    await call.until(65_536 + 30);
    const snap = decodeSnapshot(sink.latest.get(info.id) as Uint8Array);
    expect(snap.legs[0].streams.map((s) => [s.direction, s.roc])).toEqual(
      expect.arrayContaining([
        ['receive', 1],
        ['send', 1],
      ]),
    );
    expect(call.atPeer).toBeGreaterThan(50);
    expect(call.atPhone).toBeGreaterThan(50);

    // A dies; B starts adopting while A's sockets are still bound (it retries), then they go.
    const adopting = b.adopt(sink.latest.get(info.id) as Uint8Array, 'node-a');
    await sleep(150);
    await a.stop();
    const died = Date.now();
    const late = call.lastUp as Buffer; // relayed by A after its last snapshot, most likely
    const mark = { peer: call.atPeer, phone: call.atPhone };
    const id = await adopting;
    expect(id).toBe(`${info.id}@node-a`);
    expect(await call.flowsAgain(mark, 3000)).toBe(true);
    expect(call.resumedAfter(died)).toBeLessThan(1000);
    await sleep(300);
    expect(call.atPeer - mark.peer).toBeGreaterThan(5);
    expect(call.atPhone - mark.phone).toBeGreaterThan(5);

    // A packet A relayed before the snapshot, sent again: B's receiver still refuses it. One A
    // relayed after it: B's receiver has not seen it, but B's sender towards the peer is past it
    // since the first packet it relayed, so the peer never gets it twice (a replay failure there).
    call.phone.send(call.replay as Buffer, info.outside.rtpPort, OUT);
    call.phone.send(late, info.outside.rtpPort, OUT);
    await sleep(100);
    const show = ctxB.control.findShow(['phone-proxy', 'media-sessions']);
    const view = (await show?.item.render([])) as {
      data: {
        id: string;
        takenOver?: { from: string };
        legs: { local: { rtpPort: number }; counters: Record<string, number> }[];
      }[];
      tables: { rows: unknown[][] }[];
    };
    const s = view.data.find((x) => x.id === id);
    expect(s?.takenOver?.from).toBe('node-a');
    expect(s?.legs.map((l) => l.local.rtpPort)).toEqual([info.outside.rtpPort, info.inside.rtpPort]);
    expect(s?.legs[0]?.counters.authFailures).toBe(0);
    expect(s?.legs[1]?.counters.authFailures).toBe(0);
    expect(s?.legs[0]?.counters.replayDrops).toBeGreaterThanOrEqual(1);
    expect(s?.legs[1]?.counters.otherDrops).toBeGreaterThanOrEqual(1); // refused by B's sender
    expect(view.tables[0]?.rows.some((r) => r[1] === 'taken over from node-a')).toBe(true);
  } finally {
    call.stop();
  }
  expect(call.failures).toEqual([]);
});
