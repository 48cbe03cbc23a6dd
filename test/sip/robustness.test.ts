/**
 * Robustness of the pure SIP codecs: random splits of a real-world stream frame identically,
 * and random or mutated bytes only ever produce the codecs' own errors (never a crash).
 * Seeded generator: every run is the same, and bounded.
 */
import { SdpError, SipFramingError, SipParseError } from '../../src/errors';
import { SipFramer } from '../../src/sip/framing';
import { parseSipMessage, serializeSipMessage } from '../../src/sip/message';
import { rewriteSdp } from '../../src/sip/sdp-rewrite';
import { INVITE, NOTIFY_REMOTECC, REFER, REGISTER, SDP_PHONE_OFFER, UCM_200 } from './corpus';

function rng(seed: number) {
  let x = seed >>> 0;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const STREAM = Buffer.from(`${REGISTER}\r\n\r\n${INVITE}${UCM_200}${REFER}${NOTIFY_REMOTECC}`);
const MESSAGES = [REGISTER, INVITE, UCM_200, REFER, NOTIFY_REMOTECC];

describe('SIP codec robustness', () => {
  it('round-trips the Cisco corpus byte for byte', () => {
    for (const m of MESSAGES) expect(serializeSipMessage(parseSipMessage(Buffer.from(m))).toString()).toBe(m);
  });

  it('frames the same messages however the stream is split (300 random splits)', () => {
    const rand = rng(42);
    for (let round = 0; round < 300; round++) {
      const framer = new SipFramer();
      const got: string[] = [];
      let at = 0;
      while (at < STREAM.length) {
        const n = 1 + Math.floor(rand() * 700);
        for (const item of framer.push(STREAM.subarray(at, at + n)))
          if (item.kind === 'message') got.push(item.data.toString());
        at += n;
      }
      expect(got).toEqual(MESSAGES);
    }
  });

  it('mutated and random bytes only raise the codecs own errors (2000 cases)', () => {
    const rand = rng(7);
    const base = Buffer.from(INVITE);
    for (let i = 0; i < 2000; i++) {
      const bytes = Buffer.from(i % 2 ? base : Buffer.alloc(200 + Math.floor(rand() * 400)));
      const flips = 1 + Math.floor(rand() * 20);
      for (let f = 0; f < flips; f++) bytes[Math.floor(rand() * bytes.length)] = Math.floor(rand() * 256);
      try {
        for (const item of new SipFramer().push(bytes)) {
          if (item.kind !== 'message') continue;
          const msg = parseSipMessage(item.data);
          serializeSipMessage(msg);
          const body = msg.body.toString('utf8');
          if (body.startsWith('v=')) rewriteSdp(body, { address: '127.0.0.1', rtpPort: 1000, rtcpPort: 1001 });
        }
      } catch (err) {
        expect(err instanceof SipFramingError || err instanceof SipParseError || err instanceof SdpError).toBe(true);
      }
    }
  });

  it('mutated SDP only raises SdpError', () => {
    const rand = rng(9);
    for (let i = 0; i < 1000; i++) {
      const chars = SDP_PHONE_OFFER.split('');
      for (let f = 0; f < 1 + Math.floor(rand() * 10); f++)
        chars[Math.floor(rand() * chars.length)] = String.fromCharCode(32 + Math.floor(rand() * 95));
      try {
        rewriteSdp(chars.join(''), { address: '127.0.0.1', rtpPort: 1000, rtcpPort: 1001 });
      } catch (err) {
        expect(err).toBeInstanceOf(SdpError);
      }
    }
  });
});
