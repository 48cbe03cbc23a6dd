/**
 * Issue 17: GCM is offered toward a side only when that side can use it. Unit tests of the pure
 * choice (suite-choice.ts), of the SDP rewrite writing several lines, and of the SIP inspector
 * end to end on an encrypted phone in a mixed cluster (SRTP on both legs): what each leg's media
 * session is programmed with, and which a=crypto lines each side is sent.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import pino from 'pino';
import { parseDocument } from 'yaml';
import { parsePolicy } from '../../src/config/load-policy';
import { decideLegs } from '../../src/contracts/leg-decision';
import type { MediaAllocator } from '../../src/contracts/media';
import { PolicyError } from '../../src/errors';
import { type Side, SipInspector } from '../../src/sip/inspector';
import { parseCryptoFor, SDES_KEY_BYTES, type SdesSuite } from '../../src/sip/sdes';
import { parseSdp } from '../../src/sip/sdp';
import { findAudio, rewriteSdp } from '../../src/sip/sdp-rewrite';
import { ALL_SUITES, offerSuites, strongestCrypto } from '../../src/sip/suite-choice';
import { audioSdp, request, respond, sdpOf } from './sip-helpers';

const PHONE = '198.51.100.7';
const UCM_PEER = '10.0.0.30';

/** An SRTP audio SDP whose a=crypto lines are `lines` ([tag, suite], keys filled with `fill`). */
function srtpSdp(address: string, port: number, lines: [number, SdesSuite][], fill = 1): string {
  const crypto = lines.map(
    ([tag, suite]) => `a=crypto:${tag} ${suite} inline:${Buffer.alloc(SDES_KEY_BYTES[suite], fill).toString('base64')}`,
  );
  return audioSdp({ address, port, proto: 'RTP/SAVP' }).replace('a=rtpmap:0', `${crypto.join('\r\n')}\r\na=rtpmap:0`);
}

/** The a=crypto lines of a message's SDP as "tag suite keybytes". */
function cryptoLines(msg: string | undefined): string[] {
  return [...sdpOf(msg ?? '').matchAll(/a=crypto:(\d+) (\S+) inline:(\S+)/g)].map(
    (m) => `${m[1]} ${m[2]} ${Buffer.from(m[3] as string, 'base64').length}`,
  );
}

function setup(opts: { suites?: SdesSuite[]; gcmSides?: Side[] } = {}) {
  const updates: string[] = [];
  let next = 1;
  const media: MediaAllocator = {
    allocate: async () => ({
      id: `m${next++}`,
      outside: { address: '127.0.1.11', rtpPort: 30000, rtcpPort: 30001 },
      inside: { address: '127.0.2.11', rtpPort: 30002, rtcpPort: 30003 },
    }),
    updateLeg: async (id, leg, u) => {
      updates.push(
        `${id} ${leg} ${u.mode} ${u.srtp?.profile} recv ${u.srtp?.recvKey.length} send ${u.srtp?.sendKey.length}`,
      );
    },
    release: async () => undefined,
  };
  const toPhone: string[] = [];
  const toUpstream: string[] = [];
  const inspector = new SipInspector(
    {
      id: 1,
      deviceName: 'SEP001122334455',
      decision: decideLegs('mixed', 'encrypted'),
      phone: { address: PHONE, port: 40000 },
      outsideLocal: { address: '127.0.1.1', port: 5061 },
      upstream: { address: '127.0.2.20', port: 5061, transport: 'tls' },
      insideLocal: { address: '127.0.2.1', port: 41000 },
      outsideInterface: 'outside',
      insideInterface: 'inside',
    },
    { toPhone: (d) => toPhone.push(d.toString()), toUpstream: (d) => toUpstream.push(d.toString()), close: () => {} },
    {
      media: () => media,
      log: pino({ level: 'silent' }),
      counters: { error: () => undefined, message: () => undefined },
      randomBytes: (n) => Buffer.alloc(n, 9),
      ...(opts.suites ? { srtpSuites: opts.suites } : {}),
      ...(opts.gcmSides ? { gcmSides: opts.gcmSides } : {}),
    },
  );
  const flush = () => new Promise((r) => setTimeout(r, 10));
  return { inspector, updates, toPhone, toUpstream, flush };
}

const phoneInvite = (callId: string, sdp: string, cseq = 1) =>
  request(
    'INVITE',
    'sip:1001@127.0.1.1',
    {
      via: `SIP/2.0/TLS ${PHONE}:40000;branch=z9hG4bK${callId}${cseq}`,
      callId,
      cseq,
      from: '<sip:1000@x>;tag=a',
      to: '<sip:1001@x>',
    },
    sdp,
  );

const ucmInvite = (callId: string, sdp: string) =>
  request(
    'INVITE',
    'sip:1000@127.0.2.1:41000;transport=tls',
    {
      via: 'SIP/2.0/TLS 127.0.2.20:5061;branch=z9hG4bKu',
      callId,
      cseq: 1,
      from: '<sip:1001@x>;tag=u',
      to: '<sip:1000@x>',
    },
    sdp,
  );

describe('suite choice (pure)', () => {
  test('offers GCM first, then AES_CM_128_HMAC_SHA1_80 and _32, only to a side that takes GCM', () => {
    expect(offerSuites(ALL_SUITES, true)).toEqual([
      'AEAD_AES_256_GCM',
      'AEAD_AES_128_GCM',
      'AES_CM_128_HMAC_SHA1_80',
      'AES_CM_128_HMAC_SHA1_32',
    ]);
    expect(offerSuites(ALL_SUITES, false)).toEqual(['AES_CM_128_HMAC_SHA1_80']);
    // The policy narrows both: no GCM allowed, no GCM offered; GCM only, GCM even unprompted.
    expect(offerSuites(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32'], true)).toEqual([
      'AES_CM_128_HMAC_SHA1_80',
    ]);
    expect(offerSuites(['AEAD_AES_128_GCM'], false)).toEqual(['AEAD_AES_128_GCM']);
  });

  test('the strongest line wins whatever the sender listed first', () => {
    const c = (tag: number, suite: SdesSuite) => ({ tag, suite, key: Buffer.alloc(SDES_KEY_BYTES[suite]) });
    expect(
      strongestCrypto([c(1, 'AES_CM_128_HMAC_SHA1_32'), c(2, 'AEAD_AES_128_GCM'), c(3, 'AES_CM_128_HMAC_SHA1_80')])
        ?.tag,
    ).toBe(2);
    expect(strongestCrypto([c(1, 'AES_CM_128_HMAC_SHA1_80'), c(2, 'AEAD_AES_256_GCM')])?.suite).toBe(
      'AEAD_AES_256_GCM',
    );
    expect(strongestCrypto([])).toBeUndefined();
  });
});

describe('SDP rewrite with several suites', () => {
  test('findAudio takes GCM lines only when the leg accepts them, saying why otherwise', () => {
    const sdp = parseSdp(
      srtpSdp(PHONE, 7000, [
        [1, 'AEAD_AES_256_GCM'],
        [2, 'AES_CM_128_HMAC_SHA1_80'],
      ]),
    );
    expect(findAudio(sdp)?.cryptos.map((c) => c.suite)).toEqual(['AES_CM_128_HMAC_SHA1_80']);
    expect(findAudio(sdp)?.refusedCryptos).toEqual(['crypto suite "AEAD_AES_256_GCM" not enabled on this leg']);
    expect(findAudio(sdp, ALL_SUITES)?.cryptos.map((c) => c.suite)).toEqual([
      'AEAD_AES_256_GCM',
      'AES_CM_128_HMAC_SHA1_80',
    ]);
  });

  test('writes every offered line in order, each parseable with its own key length', () => {
    const cryptos = offerSuites(ALL_SUITES, true).map((suite, i) => ({
      tag: i + 1,
      suite,
      key: Buffer.alloc(SDES_KEY_BYTES[suite], i + 1),
    }));
    const out = rewriteSdp(audioSdp({ address: UCM_PEER, port: 9000, proto: 'RTP/AVP' }), {
      address: '127.0.2.10',
      rtpPort: 20002,
      rtcpPort: 20003,
      cryptos,
    });
    expect(out).toContain('m=audio 20002 RTP/SAVP 0 101');
    const lines = [...out.matchAll(/a=crypto:(.*)\r\n/g)].map((m) => parseCryptoFor(m[1] as string, ALL_SUITES));
    expect(lines.map((r) => r.ok && `${r.crypto.tag} ${r.crypto.suite} ${r.crypto.key[0]}`)).toEqual([
      '1 AEAD_AES_256_GCM 1',
      '2 AEAD_AES_128_GCM 2',
      '3 AES_CM_128_HMAC_SHA1_80 3',
      '4 AES_CM_128_HMAC_SHA1_32 4',
    ]);
  });
});

describe('SIP inspector: GCM only when both ends of a leg take it', () => {
  test('a phone offering GCM gets the strongest GCM suite back; UCM, silent on GCM, gets AES-CM only', async () => {
    const t = setup();
    const offer = srtpSdp(PHONE, 7000, [
      [1, 'AES_CM_128_HMAC_SHA1_80'],
      [2, 'AEAD_AES_128_GCM'],
      [3, 'AEAD_AES_256_GCM'],
    ]);
    t.inspector.fromPhone(Buffer.from(phoneInvite('g1', offer)));
    await t.flush();
    expect(t.updates).toEqual(['m1 outside srtp AEAD_AES_256_GCM recv 44 send 44']);
    expect(cryptoLines(t.toUpstream[0])).toEqual(['1 AES_CM_128_HMAC_SHA1_80 30']);
    const answer = srtpSdp(UCM_PEER, 9000, [[1, 'AES_CM_128_HMAC_SHA1_80']], 2);
    t.inspector.fromUpstream(Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'b', body: answer })));
    await t.flush();
    expect(t.updates[1]).toBe('m1 inside srtp AES_CM_128_HMAC_SHA1_80 recv 30 send 30');
    // The answer toward the phone: one line, the phone's tag 3, a 256-bit key and 96-bit salt.
    expect(cryptoLines(t.toPhone[0])).toEqual(['3 AEAD_AES_256_GCM 44']);
  });

  test('with srtp-gcm-sides [inside], UCM is offered GCM first and its choice programs the inside leg', async () => {
    const t = setup({ gcmSides: ['inside'] });
    t.inspector.fromPhone(Buffer.from(phoneInvite('g2', srtpSdp(PHONE, 7000, [[1, 'AES_CM_128_HMAC_SHA1_80']]))));
    await t.flush();
    expect(cryptoLines(t.toUpstream[0])).toEqual([
      '1 AEAD_AES_256_GCM 44',
      '2 AEAD_AES_128_GCM 28',
      '3 AES_CM_128_HMAC_SHA1_80 30',
      '4 AES_CM_128_HMAC_SHA1_32 30',
    ]);
    const answer = srtpSdp(UCM_PEER, 9000, [[2, 'AEAD_AES_128_GCM']], 2);
    t.inspector.fromUpstream(Buffer.from(respond(t.toUpstream[0] as string, 200, 'OK', { toTag: 'b', body: answer })));
    await t.flush();
    expect(t.updates).toEqual([
      'm1 outside srtp AES_CM_128_HMAC_SHA1_80 recv 30 send 30',
      'm1 inside srtp AEAD_AES_128_GCM recv 28 send 28',
    ]);
    // The phone, which showed no GCM, is answered with its own suite only.
    expect(cryptoLines(t.toPhone[0])).toEqual(['1 AES_CM_128_HMAC_SHA1_80 30']);
    // A re-INVITE keeps the agreed suite toward UCM: one line, the GCM key it answered.
    t.inspector.fromPhone(Buffer.from(phoneInvite('g2', srtpSdp(PHONE, 7000, [[1, 'AES_CM_128_HMAC_SHA1_80']]), 2)));
    await t.flush();
    expect(cryptoLines(t.toUpstream.at(-1))).toEqual(['2 AEAD_AES_128_GCM 28']);
  });

  test('a phone that showed GCM once is offered GCM on its next incoming call; one that did not, never', async () => {
    const quiet = setup();
    quiet.inspector.fromUpstream(Buffer.from(ucmInvite('in1', srtpSdp(UCM_PEER, 9000, [[1, 'AEAD_AES_256_GCM']], 2))));
    await quiet.flush();
    expect(cryptoLines(quiet.toPhone[0])).toEqual(['1 AES_CM_128_HMAC_SHA1_80 30']);

    const t = setup();
    t.inspector.fromPhone(Buffer.from(phoneInvite('out1', srtpSdp(PHONE, 7000, [[1, 'AEAD_AES_128_GCM']]))));
    await t.flush();
    t.inspector.fromUpstream(
      Buffer.from(ucmInvite('in2', srtpSdp(UCM_PEER, 9000, [[1, 'AES_CM_128_HMAC_SHA1_80']], 2))),
    );
    await t.flush();
    const toPhone = t.toPhone.find((m) => m.startsWith('INVITE')) as string;
    expect(cryptoLines(toPhone)).toEqual([
      '1 AEAD_AES_256_GCM 44',
      '2 AEAD_AES_128_GCM 28',
      '3 AES_CM_128_HMAC_SHA1_80 30',
      '4 AES_CM_128_HMAC_SHA1_32 30',
    ]);
    // The phone answers the 128-bit GCM line: the outside leg of that call runs it.
    t.inspector.fromPhone(
      Buffer.from(
        respond(toPhone, 200, 'OK', { toTag: 'p', body: srtpSdp(PHONE, 7002, [[2, 'AEAD_AES_128_GCM']], 3) }),
      ),
    );
    await t.flush();
    expect(t.updates.at(-1)).toBe('m2 outside srtp AEAD_AES_128_GCM recv 28 send 28');
  });

  test('srtp-suites without GCM: a GCM line is refused and the AES-CM line taken; GCM alone is a 488', async () => {
    const t = setup({ suites: ['AES_CM_128_HMAC_SHA1_80'] });
    t.inspector.fromPhone(
      Buffer.from(
        phoneInvite(
          'n1',
          srtpSdp(PHONE, 7000, [
            [1, 'AEAD_AES_256_GCM'],
            [2, 'AES_CM_128_HMAC_SHA1_80'],
          ]),
        ),
      ),
    );
    await t.flush();
    expect(t.updates).toEqual(['m1 outside srtp AES_CM_128_HMAC_SHA1_80 recv 30 send 30']);
    t.inspector.fromPhone(Buffer.from(phoneInvite('n2', srtpSdp(PHONE, 7000, [[1, 'AEAD_AES_256_GCM']]))));
    await t.flush();
    expect(t.toPhone.at(-1)).toMatch(/^SIP\/2\.0 488 /);
    expect(t.toPhone.at(-1)).toContain("crypto suite 'AEAD_AES_256_GCM' not enabled on this leg");
  });
});

describe('policy: media-termination.srtp-suites and srtp-gcm-sides', () => {
  const text = readFileSync(path.resolve(__dirname, '../../policies/default.yaml'), 'utf8');
  const withMt = (key: string, value: unknown) => {
    const doc = parseDocument(text);
    doc.setIn(['media-termination', key], value);
    return doc.toString();
  };
  const problems = (t: string): string[] => {
    try {
      parsePolicy(t, 'p.yaml');
    } catch (err) {
      if (err instanceof PolicyError) return err.problems;
      throw err;
    }
    return [];
  };

  test('strict defaults: every suite the engine has may be negotiated, GCM offered to no side unprompted', () => {
    const mt = parsePolicy(text, 'default.yaml').policy['media-termination'];
    expect(mt['srtp-suites']).toEqual([...ALL_SUITES]);
    expect(mt['srtp-gcm-sides']).toEqual([]);
  });

  test('an unknown suite, an empty list or an unknown side is refused, naming the key', () => {
    expect(problems(withMt('srtp-suites', ['AES_CM_128_HMAC_SHA1_80', 'F8_128_HMAC_SHA1_80'])).join('\n')).toMatch(
      /media-termination\.srtp-suites/,
    );
    expect(problems(withMt('srtp-suites', [])).join('\n')).toMatch(/media-termination\.srtp-suites/);
    expect(problems(withMt('srtp-gcm-sides', ['dmz'])).join('\n')).toMatch(/media-termination\.srtp-gcm-sides/);
    expect(problems(withMt('srtp-gcm-sides', ['inside']))).toEqual([]);
  });
});
