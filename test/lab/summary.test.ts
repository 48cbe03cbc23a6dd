/** The lab's verdict: each way a run can be wrong makes `npm run demo` fail, with the reason. */
import type { CallResult, LabResult } from '../../lab/scenario';
import { renderSummary, verdict } from '../../lab/summary';

const counters = {
  rxPackets: 150,
  txPackets: 150,
  authFailures: 0,
  replayDrops: 0,
  unexpectedSourceDrops: 0,
  otherDrops: 0,
};
const stream = { sent: 150, received: 150, intact: 150, corrupted: 0, unknown: 0, lost: 0, lostAtStart: 0 };

function cleanCall(name: string, caller: 'remote' | 'inside'): CallResult {
  return {
    name,
    caller,
    setupMs: 40,
    ringing: true,
    toInside: { ...stream },
    toRemote: { ...stream },
    appliance: {
      outside: { ...counters, mode: 'srtp AES_CM_128_HMAC_SHA1_80' },
      inside: { ...counters, mode: 'rtp' },
    },
    remoteWire: { rejected: 0, clearText: 0, lengths: [182], beforeKey: 0 },
    insideWire: { rejected: 0, lengths: [172] },
    byeStatus: 200,
    sessionsAfter: 0,
  };
}

function passing(): LabResult & { calls: [CallResult, CallResult] } {
  return {
    cluster: { mode: 'nonsecure', remoteVia: '127.0.2.1:40000' },
    seconds: 3,
    calls: [cleanCall('remote calls inside', 'remote'), cleanCall('inside calls remote', 'inside')],
    ucm: { served: ['SEP00DE0A1AB001.cnf.xml'], registered: ['1001', '1000'], connected: 2, ended: 2, errors: [] },
    portsStillOpen: [],
    failures: [],
    logTail: [],
  };
}

test('a clean run passes and says so', () => {
  expect(verdict(passing())).toEqual([]);
  expect(renderSummary(passing(), [])).toContain('RESULT             PASS');
});

test('loss at the very start of a stream passes and is explained; more, or loss mid-call, fails', () => {
  const r = passing();
  const [first, second] = r.calls;
  first.toRemote = { ...stream, received: 147, intact: 147, lost: 3, lostAtStart: 3 };
  first.appliance = first.appliance && {
    ...first.appliance,
    inside: { ...first.appliance.inside, unexpectedSourceDrops: 3 },
  };
  second.toInside = { ...stream, received: 148, intact: 148, lost: 2, lostAtStart: 2 };
  second.appliance = second.appliance && {
    ...second.appliance,
    outside: { ...second.appliance.outside, otherDrops: 2 },
  };
  expect(verdict(r)).toEqual([]);
  const text = renderSummary(r, []);
  expect(text).toMatch(/lost 3 \(first 60 ms\)[\s\S]*the appliance dropped 3 from an inside peer/);
  expect(text).toMatch(
    /lost 2 \(first 40 ms\)[\s\S]*before its key reaches the appliance;\s+appliance outside leg: auth failures 0, other drops 2/,
  );
  first.toRemote = { ...stream, received: 139, intact: 139, lost: 11, lostAtStart: 11 };
  expect(verdict(r)).toEqual(['remote calls inside: inside → remote: the first 11 packets (220 ms) were lost']);
  first.toRemote = { ...stream, received: 149, intact: 149, lost: 1, lostAtStart: 0 };
  expect(verdict(r)).toEqual(['remote calls inside: inside → remote: 1 packets lost during the call']);
});

test.each<[string, (c: CallResult, r: LabResult) => void, RegExp]>([
  ['a corrupted payload', (c) => Object.assign(c.toInside ?? {}, { intact: 149, corrupted: 1 }), /other bytes/],
  ['a packet never sent', (c) => Object.assign(c.toRemote ?? {}, { unknown: 1 }), /never sent/],
  ['no audio at all', (c) => Object.assign(c.toInside ?? {}, { sent: 0, received: 0, intact: 0 }), /nothing was sent/],
  [
    'an SRTP authentication failure',
    (c) => Object.assign(c.appliance?.outside ?? {}, { authFailures: 2 }),
    /2 SRTP authentication failures/,
  ],
  [
    'an outside leg without SRTP',
    (c) => Object.assign(c.appliance?.outside ?? {}, { mode: 'rtp' }),
    /outside leg is rtp/,
  ],
  ['audio in the clear', (c) => Object.assign(c.remoteWire ?? {}, { clearText: 4 }), /in the clear/],
  ['SRTP refused by the phone', (c) => Object.assign(c.remoteWire ?? {}, { rejected: 1 }), /failed SRTP checks/],
  [
    'SRTP forwarded inside as if it were RTP',
    (c) => Object.assign(c.insideWire ?? {}, { lengths: [182, 172] }),
    /inside leg datagram sizes 182,172/,
  ],
  ['BYE refused', (c) => Object.assign(c, { byeStatus: 481 }), /BYE answered 481/],
  ['a media session left', (c) => Object.assign(c, { sessionsAfter: 1 }), /1 media sessions left/],
  ['a call not made', (_c, r) => r.calls.pop(), /1 calls made, expected 2/],
  [
    'a port left open',
    (_c, r) => Object.assign(r, { portsStillOpen: ['tcp 127.0.1.1:15061'] }),
    /still listening.*15061/,
  ],
  ['a step that failed', (_c, r) => r.failures.push('remote phone: no answer to INVITE'), /no answer to INVITE/],
])('%s fails the run', (_what, spoil, reason) => {
  const r = passing();
  spoil(r.calls[1], r);
  const failures = verdict(r);
  expect(failures).toEqual([expect.stringMatching(reason)]);
  expect(renderSummary(r, failures)).toContain('RESULT             FAIL');
});
