/**
 * A taken-over call released at hang-up (issue 14, docs/cluster.md §7): the survivor adopted the
 * media of a call whose SIP dialog it never saw. A BYE (or CANCEL) with no dialog through the SIP
 * inspector asks media to release the adopted sessions of that Call-ID owned by the phone of the
 * connection (its certificate's device name, carried by the snapshot): another phone's BYE with
 * the same Call-ID releases nothing. A real media service (workers, bound ports) and the real
 * inspector; the pipe is in memory. The whole path through two processes: sip-takeover.test.ts.
 */
import pino from 'pino';
import { decideLegs } from '../../src/contracts/leg-decision';
import type { InspectedConnection } from '../../src/contracts/signaling';
import { createMediaService, type MediaService } from '../../src/media/service';
import { encodeSnapshot, type MediaSessionSnapshot } from '../../src/media/snapshot';
import { SipInspector } from '../../src/sip/inspector';
import { request } from '../sip/sip-helpers';
import { mediaContext, requireBuiltWorker, sleep } from '../support/media-harness';
import { serve } from '../support/serve';

const OWNER = 'SEP00000000A001';
const OTHER = 'SEP00000000B002';
const CALL_ID = 'taken-call@198.51.100.7';
let b: MediaService;

beforeAll(async () => {
  requireBuiltWorker();
  const ctx = mediaContext({ 'rtp-min-port': 62060, 'rtp-max-port': 62079, workers: 1, 'idle-timeout': 60 });
  b = createMediaService(ctx, { adoptBindMs: 1000 });
  await serve(b, ctx.control);
});
afterAll(async () => {
  await b.stop();
});

function snapshot(id: string, phone: string | undefined, port = 62060): Uint8Array {
  const leg = (address: string, rtpPort: number, peer: string) => ({
    address,
    rtpPort,
    cfg: { mode: 'rtp' as const, peer: { address: peer, rtpPort: 7000, rtcpPort: 7001 } },
    latched: {},
    streams: [],
    rtpReserve: 0,
    rtcpReserve: 0,
  });
  const s: MediaSessionSnapshot = {
    id,
    callId: CALL_ID,
    direction: 'sendrecv',
    created: Date.now(),
    taken: Date.now(),
    legs: [leg('127.0.1.10', port, '127.0.1.91'), leg('127.0.2.10', port + 2, '127.0.2.91')],
    ...(phone ? { phone } : {}),
  };
  return encodeSnapshot(s);
}

/** The survivor's inspector for a phone's new TLS connection (its certificate's device name). */
function inspector(deviceName: string | undefined) {
  const conn: InspectedConnection = {
    id: 7,
    ...(deviceName ? { deviceName } : {}),
    decision: decideLegs('nonsecure', undefined),
    phone: { address: '198.51.100.7', port: 40000 },
    outsideLocal: { address: '127.0.1.1', port: 5061 },
    upstream: { address: '127.0.2.20', port: 5060, transport: 'tcp' },
    insideLocal: { address: '127.0.2.1', port: 41000 },
    outsideInterface: 'outside',
    insideInterface: 'inside',
  };
  const toUpstream: string[] = [];
  const i = new SipInspector(
    conn,
    { toPhone: () => undefined, toUpstream: (d) => toUpstream.push(d.toString()), close: () => undefined },
    {
      media: () => b,
      log: pino({ level: 'silent' }),
      counters: { error: () => undefined, message: () => undefined },
      randomBytes: (n) => Buffer.alloc(n, 9),
    },
  );
  return { i, toUpstream };
}

const bye = (method: 'BYE' | 'CANCEL') =>
  Buffer.from(
    request(method, 'sip:1001@127.0.1.1', {
      via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKt1',
      callId: CALL_ID,
      cseq: 2,
      from: '<sip:1000@x>;tag=a',
      to: '<sip:1001@x>;tag=b',
    }),
  );

test('another phone’s BYE with the same Call-ID releases nothing; the owner’s BYE releases the adopted session', async () => {
  const id = await b.adopt(snapshot('m1', OWNER), 'a');
  expect(b.sessions().find((s) => s.id === id)?.owner.phone).toBe(OWNER);

  const other = inspector(OTHER);
  other.i.fromPhone(bye('BYE'));
  await sleep(50);
  expect(other.toUpstream[0]).toMatch(/^BYE /); // relayed all the same: UCM decides about the call
  expect(b.has(id)).toBe(true);
  // Nor a connection without a certificate's device name.
  const anonymous = inspector(undefined);
  anonymous.i.fromPhone(bye('BYE'));
  await sleep(50);
  expect(b.has(id)).toBe(true);

  const owner = inspector(OWNER);
  owner.i.fromPhone(bye('BYE'));
  await sleep(50);
  expect(b.has(id)).toBe(false);
  expect(b.releases.get('BYE')).toBe(1);
  expect(b.pools().reduce((n, p) => n + p.pool.stats().inUse, 0)).toBe(0);
});

test('a CANCEL releases it too; a session this node made itself is never released so, nor one without an owner', async () => {
  const own = await b.allocate({ callId: CALL_ID, phone: OWNER });
  const legacy = await b.adopt(snapshot('m2', undefined, 62072), 'a'); // no phone known (as in a version-1 snapshot)
  const id = await b.adopt(snapshot('m3', OWNER, 62076), 'a');
  inspector(OWNER).i.fromPhone(bye('CANCEL'));
  await sleep(50);
  expect(b.has(id)).toBe(false);
  expect(b.has(own.id)).toBe(true);
  expect(b.has(legacy)).toBe(true);
  await b.release(own.id, 'test');
  await b.release(legacy, 'test');
});
