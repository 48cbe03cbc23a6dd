/** The lab's verdict: each way a run can be wrong makes `npm run demo` fail, with the reason. */
import type { LabResult } from '../../src/lab/scenario';
import { renderSummary, verdict } from '../../src/lab/summary';

const counters = {
  rxPackets: 150,
  txPackets: 150,
  authFailures: 0,
  replayDrops: 0,
  unexpectedSourceDrops: 0,
  otherDrops: 0,
};
const stream = { sent: 150, received: 150, intact: 150, corrupted: 0, unknown: 0, lost: 0, lostAtStart: 0 };

function passing(): LabResult {
  return {
    cluster: { mode: 'nonsecure', remoteVia: '127.0.2.1:40000' },
    seconds: 3,
    setupMs: 40,
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
    ucm: { served: ['SEP00DE0A1AB001.cnf.xml'], registered: ['1001', '1000'], connected: 1, ended: 1, errors: [] },
    portsStillOpen: [],
    failures: [],
    logTail: [],
  };
}

test('a clean run passes and says so', () => {
  expect(verdict(passing())).toEqual([]);
  expect(renderSummary(passing(), [])).toContain('RESULT         PASS');
});

test('loss at the very start of a stream passes and is explained; more, or loss mid-call, fails', () => {
  const r = passing();
  r.toRemote = { ...stream, received: 147, intact: 147, lost: 3, lostAtStart: 3 };
  r.appliance = r.appliance && { ...r.appliance, inside: { ...r.appliance.inside, unexpectedSourceDrops: 3 } };
  expect(verdict(r)).toEqual([]);
  expect(renderSummary(r, [])).toMatch(/lost 3 \(first 60 ms\)[\s\S]*appliance dropped 3 from an inside peer/);
  r.toRemote = { ...stream, received: 140, intact: 140, lost: 10, lostAtStart: 10 };
  expect(verdict(r)).toEqual(['inside → remote: the first 10 packets (200 ms) were lost']);
  r.toRemote = { ...stream, received: 149, intact: 149, lost: 1, lostAtStart: 0 };
  expect(verdict(r)).toEqual(['inside → remote: 1 packets lost during the call']);
});

test.each<[string, (r: LabResult) => void, RegExp]>([
  ['a corrupted payload', (r) => Object.assign(r.toInside ?? {}, { intact: 149, corrupted: 1 }), /other bytes/],
  ['a packet never sent', (r) => Object.assign(r.toRemote ?? {}, { unknown: 1 }), /never sent/],
  ['no audio at all', (r) => Object.assign(r.toInside ?? {}, { sent: 0, received: 0, intact: 0 }), /nothing was sent/],
  [
    'an SRTP authentication failure',
    (r) => Object.assign(r.appliance?.outside ?? {}, { authFailures: 2 }),
    /2 SRTP authentication failures/,
  ],
  [
    'an outside leg without SRTP',
    (r) => Object.assign(r.appliance?.outside ?? {}, { mode: 'rtp' }),
    /outside leg is rtp/,
  ],
  ['audio in the clear', (r) => Object.assign(r.remoteWire ?? {}, { clearText: 4 }), /in the clear/],
  ['SRTP refused by the phone', (r) => Object.assign(r.remoteWire ?? {}, { rejected: 1 }), /failed SRTP checks/],
  [
    'a tagged datagram inside',
    (r) => Object.assign(r.insideWire ?? {}, { lengths: [182] }),
    /inside leg datagram sizes 182/,
  ],
  ['BYE refused', (r) => Object.assign(r, { byeStatus: 481 }), /BYE answered 481/],
  ['a media session left', (r) => Object.assign(r, { sessionsAfter: 1 }), /1 media sessions left/],
  ['a port left open', (r) => Object.assign(r, { portsStillOpen: ['tcp 127.0.1.1:15061'] }), /still listening.*15061/],
  ['a step that failed', (r) => r.failures.push('remote phone: no answer to INVITE'), /no answer to INVITE/],
])('%s fails the run', (_what, spoil, reason) => {
  const r = passing();
  spoil(r);
  const failures = verdict(r);
  expect(failures).toEqual([expect.stringMatching(reason)]);
  expect(renderSummary(r, failures)).toContain('RESULT         FAIL');
});
