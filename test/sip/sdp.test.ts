import { formatCrypto, parseCrypto } from '../../src/sip/sdes';
import { parseSdp, serializeSdp } from '../../src/sip/sdp';
import { findAudio, rewriteSdp } from '../../src/sip/sdp-rewrite';
import { SDP_PHONE_OFFER } from './corpus';

const KEY30 = Buffer.alloc(30, 7);

describe('SDES a=crypto (RFC 4568)', () => {
  it('parses the suites media termination supports, with lifetime', () => {
    const r = parseCrypto('1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz|2^31');
    expect(r).toEqual({
      ok: true,
      crypto: { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80', key: expect.any(Buffer), lifetime: 2 ** 31 },
    });
    expect(r.ok && r.crypto.key.length).toBe(30);
    const r32 = parseCrypto(`7 AES_CM_128_HMAC_SHA1_32 inline:${KEY30.toString('base64')}|1048576`);
    expect(r32.ok && r32.crypto.lifetime).toBe(1048576);
    const r256 = parseCrypto(`2 AES_256_CM_HMAC_SHA1_80 inline:${Buffer.alloc(46, 1).toString('base64')}`);
    expect(r256.ok).toBe(true);
  });

  it('formats what it parses', () => {
    const c = { tag: 3, suite: 'AES_CM_128_HMAC_SHA1_32' as const, key: KEY30 };
    const back = parseCrypto(formatCrypto(c));
    expect(back.ok && back.crypto).toEqual(c);
  });

  it.each([
    [
      'an unknown suite',
      `1 F8_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')}`,
      /unsupported crypto suite "F8_128_HMAC_SHA1_80"/,
    ],
    ['an MKI', `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')}|2^20|1:4`, /MKI "1:4" not supported/],
    ['a short key', '1 AES_CM_128_HMAC_SHA1_80 inline:AAAA', /needs 30 bytes of key and salt, got 3/],
    [
      'session parameters',
      `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')} UNENCRYPTED_SRTP`,
      /session parameters/,
    ],
    [
      'two master keys',
      `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')};inline:${KEY30.toString('base64')}`,
      /more than one master key/,
    ],
    [
      'a bad lifetime',
      `1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')}|forever`,
      /bad lifetime "forever"/,
    ],
    ['a bad tag', 'x AES_CM_128_HMAC_SHA1_80 inline:AAAA', /bad tag/],
  ])('refuses %s with a reason', (_n, value, reason) => {
    const r = parseCrypto(value);
    expect(r.ok).toBe(false);
    expect(!r.ok && r.reason).toMatch(reason);
  });
});

describe('SDP rewrite for media termination', () => {
  it('round-trips SDP', () => {
    expect(serializeSdp(parseSdp(SDP_PHONE_OFFER))).toBe(SDP_PHONE_OFFER);
  });

  it('finds the phone audio endpoint and its usable keys', () => {
    const audio = findAudio(parseSdp(SDP_PHONE_OFFER));
    expect(audio?.endpoint).toEqual({ address: '198.51.100.7', rtpPort: 24580 });
    expect(audio?.cryptos.map((c) => [c.tag, c.suite])).toEqual([
      [1, 'AES_CM_128_HMAC_SHA1_80'],
      [2, 'AES_CM_128_HMAC_SHA1_32'],
    ]);
  });

  it('toward a nonsecure leg: media-termination address, RTP/AVP, no crypto; codecs and direction kept; video rejected', () => {
    const out = rewriteSdp(SDP_PHONE_OFFER, { address: '127.0.2.10', rtpPort: 20002, rtcpPort: 20003 });
    expect(out).toBe(
      [
        'v=0',
        // o= names the appliance too: the phone's address does not reach the other side.
        'o=Cisco-SIPUA 1234 0 IN IP4 127.0.2.10',
        's=SIP Call',
        'b=AS:4064',
        't=0 0',
        'm=audio 20002 RTP/AVP 0 8 18 101',
        'c=IN IP4 127.0.2.10',
        'b=TIAS:64000',
        'a=rtpmap:0 PCMU/8000',
        'a=rtpmap:8 PCMA/8000',
        'a=rtpmap:18 G729/8000',
        'a=fmtp:18 annexb=yes',
        'a=rtpmap:101 telephone-event/8000',
        'a=fmtp:101 0-15',
        'a=sendrecv',
        'm=video 0 RTP/SAVP 126',
        'c=IN IP4 198.51.100.7',
        'a=rtpmap:126 H264/90000',
        '',
      ].join('\r\n'),
    );
  });

  it('toward the phone: RTP/SAVP with the appliance key, a=rtcp rewritten, hold kept', () => {
    const ucm =
      'v=0\r\no=CiscoSystemsCCM-SIP 2000 2 IN IP4 10.0.0.20\r\ns=SIP Call\r\nc=IN IP4 10.0.0.30\r\nt=0 0\r\nm=audio 30000 RTP/AVP 0 101\r\na=rtcp:30001\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\n';
    const crypto = { tag: 1, suite: 'AES_CM_128_HMAC_SHA1_80' as const, key: KEY30 };
    const out = rewriteSdp(ucm, { address: '127.0.1.10', rtpPort: 20000, rtcpPort: 20001, crypto });
    expect(out).toBe(
      `v=0\r\no=CiscoSystemsCCM-SIP 2000 2 IN IP4 127.0.1.10\r\ns=SIP Call\r\nc=IN IP4 127.0.1.10\r\nt=0 0\r\nm=audio 20000 RTP/SAVP 0 101\r\na=rtcp:20001\r\na=rtpmap:0 PCMU/8000\r\na=sendonly\r\na=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:${KEY30.toString('base64')}\r\n`,
    );
    // RFC 2543 hold (c=0.0.0.0) stays visible
    const held = rewriteSdp(ucm.replace('c=IN IP4 10.0.0.30', 'c=IN IP4 0.0.0.0'), {
      address: '127.0.1.10',
      rtpPort: 20000,
      rtcpPort: 20001,
    });
    expect(held).toContain('c=IN IP4 0.0.0.0\r\n');
  });

  it('refuses SDP it cannot read, saying where', () => {
    expect(() => rewriteSdp('x=1\r\n', { address: '1.2.3.4', rtpPort: 1, rtcpPort: 2 })).toThrow(
      /does not start with v=/,
    );
    expect(() => rewriteSdp('v=0\r\nm=audio x RTP/AVP 0\r\n', { address: '1.2.3.4', rtpPort: 1, rtcpPort: 2 })).toThrow(
      /line 2: bad m= line/,
    );
    expect(() =>
      rewriteSdp('v=0\r\nm=audio 4000 RTP/AVP 0\r\n', { address: '1.2.3.4', rtpPort: 1, rtcpPort: 2 }),
    ).toThrow(/without a c= connection address/);
  });
});
