/**
 * The SIP inspector on a call taken over from a dead node (issue 14, docs/cluster.md §7), with
 * a scripted media allocator: an in-dialog re-INVITE for a Call-ID this connection holds no
 * dialog of continues the session taken over for that call and phone (no allocation), applies
 * a new port, keeps the key the dead node sent with toward the phone (the answer carries it),
 * survives a refused re-INVITE, and is released by the BYE. An initial INVITE never asks, and
 * another phone's re-INVITE gets nothing taken over.
 */
import pino from 'pino';
import { decideLegs } from '../../src/contracts/leg-decision';
import type { MediaAllocator, TakenOverSession } from '../../src/contracts/media';
import { SipInspector } from '../../src/sip/inspector';
import { audioSdp, request, respond } from '../sip/sip-helpers';

const PHONE_KEY = Buffer.alloc(30, 1);
/** What the dead node sent to the phone with: the 200 must carry it, not a fresh one. */
const OUR_KEY = Buffer.alloc(30, 5);

function setup(deviceName = 'SEP001122334455') {
  const calls: string[] = [];
  const claims: string[] = [];
  const taken: TakenOverSession = {
    info: {
      id: 'm7@a',
      outside: { address: '127.0.1.11', rtpPort: 30000, rtcpPort: 30001 },
      inside: { address: '127.0.2.11', rtpPort: 30002, rtcpPort: 30003 },
    },
    sendKeys: { outside: { profile: 'AES_CM_128_HMAC_SHA1_80', key: OUR_KEY } },
  };
  const media: MediaAllocator = {
    allocate: async ({ callId }) => {
      calls.push(`allocate ${callId}`);
      return {
        id: 'new',
        outside: { address: '127.0.1.11', rtpPort: 30010, rtcpPort: 30011 },
        inside: { address: '127.0.2.11', rtpPort: 30012, rtcpPort: 30013 },
      };
    },
    updateLeg: async (id, leg, u) => {
      calls.push(`update ${id} ${leg} ${u.mode}${u.peer ? ` ${u.peer.address}:${u.peer.rtpPort}` : ''}`);
    },
    release: async (id, reason) => {
      calls.push(`release ${id} ${reason}`);
    },
    setDirection: (id, d) => void calls.push(`direction ${id} ${d}`),
    claimTakenOver: (callId, phone) => {
      claims.push(`${callId} ${phone}`);
      return callId === 'c1' && phone === 'SEP001122334455' ? taken : undefined;
    },
  };
  const toPhone: string[] = [];
  const toUpstream: string[] = [];
  const inspector = new SipInspector(
    {
      id: 1,
      deviceName,
      decision: decideLegs('nonsecure', undefined),
      phone: { address: '198.51.100.7', port: 40000 },
      outsideLocal: { address: '127.0.1.1', port: 5061 },
      upstream: { address: '127.0.2.20', port: 5060, transport: 'tcp' },
      insideLocal: { address: '127.0.2.1', port: 41000 },
      outsideInterface: 'outside',
      insideInterface: 'inside',
    },
    {
      toPhone: (d) => toPhone.push(d.toString()),
      toUpstream: (d) => toUpstream.push(d.toString()),
      close: () => undefined,
    },
    {
      media: () => media,
      log: pino({ level: 'silent' }),
      counters: { error: () => undefined, message: () => undefined },
      randomBytes: (n) => Buffer.alloc(n, 9),
    },
  );
  const flush = () => new Promise((r) => setTimeout(r, 10));
  return { inspector, calls, claims, toPhone, toUpstream, flush };
}

const reInvite = (callId: string, cseq: number, port: number, direction: string) =>
  request(
    'INVITE',
    'sip:1001@127.0.1.1',
    {
      via: `SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bK${cseq}`,
      callId,
      cseq,
      from: '<sip:1000@x>;tag=a',
      to: '<sip:1001@x>;tag=b',
    },
    audioSdp({ address: '198.51.100.7', port, proto: 'RTP/SAVP', key: PHONE_KEY, direction }),
  );

test('a hold re-INVITE from the phone continues the session taken over: new port applied, our key kept, BYE releases it', async () => {
  const t = setup();
  t.inspector.fromPhone(Buffer.from(reInvite('c1', 5, 7002, 'sendonly')));
  await t.flush();
  expect(t.claims).toEqual(['c1 SEP001122334455']);
  expect(t.calls).toEqual(['update m7@a outside srtp 198.51.100.7:7002', 'direction m7@a sendonly']);
  // Toward UCM: the session's inside address and port.
  expect(t.toUpstream[0]).toContain('m=audio 30002 RTP/AVP');
  expect(t.toUpstream[0]).toContain('c=IN IP4 127.0.2.11');
  t.inspector.fromUpstream(
    Buffer.from(
      respond(t.toUpstream[0] as string, 200, 'OK', {
        body: audioSdp({ address: '10.0.0.30', port: 9000, proto: 'RTP/AVP', direction: 'recvonly' }),
      }),
    ),
  );
  await t.flush();
  expect(t.calls.slice(2)).toEqual(['update m7@a inside rtp 10.0.0.30:9000', 'direction m7@a recvonly']);
  // Toward the phone: the outside port it had and the key the dead node sent with, on its tag.
  expect(t.toPhone[0]).toContain('m=audio 30000 RTP/SAVP');
  expect(t.toPhone[0]).toContain(`a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${OUR_KEY.toString('base64')}`);
  expect(t.toPhone[0]).not.toContain(Buffer.alloc(30, 9).toString('base64'));

  // A re-INVITE UCM refuses keeps the call; the BYE releases the session taken over.
  t.inspector.fromPhone(Buffer.from(reInvite('c1', 6, 7002, 'sendrecv')));
  await t.flush();
  t.inspector.fromUpstream(Buffer.from(respond(t.toUpstream[1] as string, 491, 'Request Pending')));
  await t.flush();
  expect(t.calls.filter((c) => c.startsWith('release'))).toEqual([]);
  t.inspector.fromPhone(
    Buffer.from(
      request('BYE', 'sip:1001@127.0.1.1', {
        via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKbye',
        callId: 'c1',
        cseq: 7,
        from: '<sip:1000@x>;tag=a',
        to: '<sip:1001@x>;tag=b',
      }),
    ),
  );
  await t.flush();
  expect(t.calls.filter((c) => c.startsWith('release') || c.startsWith('allocate'))).toEqual(['release m7@a BYE']);
  expect(t.claims).toHaveLength(1);
});

test('an initial INVITE never asks for a session taken over; another phone’s re-INVITE gets none', async () => {
  const t = setup();
  t.inspector.fromPhone(
    Buffer.from(
      request(
        'INVITE',
        'sip:1001@127.0.1.1',
        {
          via: 'SIP/2.0/TLS 198.51.100.7:40000;branch=z9hG4bKi',
          callId: 'c1',
          cseq: 1,
          from: '<sip:1000@x>;tag=a',
          to: '<sip:1001@x>',
        },
        audioSdp({ address: '198.51.100.7', port: 7000, proto: 'RTP/SAVP', key: PHONE_KEY }),
      ),
    ),
  );
  await t.flush();
  expect(t.claims).toEqual([]);
  expect(t.calls[0]).toBe('allocate c1');

  const other = setup('SEP00AABBCCDDEE');
  other.inspector.fromPhone(Buffer.from(reInvite('c1', 5, 7002, 'sendonly')));
  await other.flush();
  expect(other.claims).toEqual(['c1 SEP00AABBCCDDEE']);
  expect(other.calls[0]).toBe('allocate c1');
});
