/**
 * The WebAssembly engine (libsrtp) against the independent node:crypto reference, both
 * directions, RTP and RTCP, every profile; tamper, replay, sequence wrap with ROC, key update.
 */
import {
  SRTP_ERR_AUTH,
  SRTP_ERR_REPLAY,
  SRTP_ERR_REPLAY_OLD,
  SRTP_OK,
  SRTP_PROFILES,
  SrtpEngine,
  srtpErrorName,
} from '../../wasm/srtp';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { expectBuffer, inSlot, masterKey, PROFILES, rtcpPacket, rtpPacket } from './helpers';

const engine = SrtpEngine.load();
const SSRC = 0x1234abcd;

/** A few RTP header shapes: plain G.711, CSRCs, header extension, empty payload, large. */
const SHAPES = [
  { payloadLength: 160 },
  { payloadLength: 20, csrcs: [1, 0xfffffffe] },
  { payloadLength: 33, extensionWords: 2 },
  { payloadLength: 0 },
  { payloadLength: 1400, csrcs: [7], extensionWords: 1 },
];

describe.each(PROFILES)('%s', (profile) => {
  const info = SRTP_PROFILES[profile];
  const key = masterKey(profile, 1);

  test('module protects RTP, reference verifies and decrypts', () => {
    const out = engine.createSession(profile, key, 'outbound');
    const rx = new SrtpReferenceContext(profile, key);
    for (let seq = 100; seq < 100 + SHAPES.length * 4; seq++) {
      const plain = rtpPacket(seq, SSRC, SHAPES[seq % SHAPES.length]);
      const prot = expectBuffer(inSlot(engine, 7, plain, (s, n) => engine.protectRtp(out, s, n)));
      expect(prot.length).toBe(plain.length + info.rtpTagLength);
      if (info.encrypted && plain.length > 12 + 40)
        expect(prot.subarray(12, plain.length)).not.toEqual(plain.subarray(12));
      const r = rx.unprotectRtp(prot);
      if (!r.ok) throw new Error(`reference rejected seq ${seq}: ${r.error}`);
      expect(r.packet).toEqual(plain);
    }
    engine.destroySession(out);
  });

  test('reference protects RTP, module verifies and decrypts', () => {
    const inb = engine.createSession(profile, key, 'inbound');
    const tx = new SrtpReferenceContext(profile, key);
    for (let seq = 5000; seq < 5000 + SHAPES.length * 4; seq++) {
      const plain = rtpPacket(seq, SSRC, SHAPES[seq % SHAPES.length]);
      const prot = tx.protectRtp(plain);
      expect(inSlot(engine, 8, prot, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(plain);
    }
    engine.destroySession(inb);
  });

  test('RTCP (SRTCP) both ways', () => {
    const out = engine.createSession(profile, key, 'outbound');
    const inb = engine.createSession(profile, key, 'inbound');
    const ref = new SrtpReferenceContext(profile, key);
    for (let i = 0; i < 6; i++) {
      const plain = rtcpPacket(SSRC, i % 3, i % 2 === 0);
      const prot = expectBuffer(inSlot(engine, 9, plain, (s, n) => engine.protectRtcp(out, s, n)));
      expect(prot.length).toBe(plain.length + 4 + info.rtcpTagLength);
      // E flag: after the payload (RFC 3711 3.4), or after the tag for AEAD (RFC 7714 9.1)
      const eWord = info.aead ? prot.length - 4 : plain.length;
      expect(prot.readUInt32BE(eWord) >>> 31).toBe(info.encrypted ? 1 : 0);
      const r = ref.unprotectRtcp(prot);
      if (!r.ok) throw new Error(`reference rejected SRTCP ${i}: ${r.error}`);
      expect(r.packet).toEqual(plain);

      const back = ref.protectRtcp(plain);
      expect(inSlot(engine, 9, back, (s, n) => engine.unprotectRtcp(inb, s, n))).toEqual(plain);
    }
    engine.destroySession(out);
    engine.destroySession(inb);
  });

  test('a tampered byte anywhere fails authentication (RTP and RTCP)', () => {
    const inb = engine.createSession(profile, key, 'inbound');
    const tx = new SrtpReferenceContext(profile, key);
    const prot = tx.protectRtp(rtpPacket(42, SSRC, { payloadLength: 60 }));
    for (const pos of [1, 3, 7, 11, 12, 40, prot.length - info.rtpTagLength - 1, prot.length - 1]) {
      const bad = Buffer.from(prot);
      bad[pos] = (bad[pos] as number) ^ 0x20;
      expect(srtpErrorName(inSlot(engine, 10, bad, (s, n) => engine.unprotectRtp(inb, s, n)) as number)).toBe(
        'auth_fail',
      );
    }
    // the untouched packet still passes afterwards: failures did not advance state
    expect(inSlot(engine, 10, prot, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(
      rtpPacket(42, SSRC, { payloadLength: 60 }),
    );

    const rtcp = tx.protectRtcp(rtcpPacket(SSRC, 1));
    for (const pos of [1, 5, 9, rtcp.length - info.rtcpTagLength - 1, rtcp.length - 1]) {
      const bad = Buffer.from(rtcp);
      bad[pos] = (bad[pos] as number) ^ 0x01;
      expect(inSlot(engine, 10, bad, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_AUTH);
    }
    engine.destroySession(inb);
  });

  test('a replayed packet is rejected; one older than the window is replay_old', () => {
    const inb = engine.createSession(profile, key, 'inbound');
    const tx = new SrtpReferenceContext(profile, key);
    const first = tx.protectRtp(rtpPacket(1000, SSRC));
    expect(inSlot(engine, 11, first, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(rtpPacket(1000, SSRC));
    expect(inSlot(engine, 11, first, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_REPLAY);
    for (let seq = 1001; seq <= 1200; seq++) {
      expect(
        typeof inSlot(engine, 11, tx.protectRtp(rtpPacket(seq, SSRC)), (s, n) => engine.unprotectRtp(inb, s, n)),
      ).toBe('object');
    }
    expect(inSlot(engine, 11, first, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_REPLAY_OLD);

    const rtcp = tx.protectRtcp(rtcpPacket(SSRC));
    expect(typeof inSlot(engine, 11, rtcp, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe('object');
    expect(inSlot(engine, 11, rtcp, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_REPLAY);
    engine.destroySession(inb);
  });
});

// The module's HMAC-SHA1 (wasm/shim.c) buffers partial 64-byte blocks: every residue of
// the authenticated length modulo 64, on both sides of the padding boundary at 56, must
// give the tag the reference computes. RTP authenticates length + 4 (ROC), SRTCP length + 4.
// Its GHASH pads the AAD and the text separately to 16 bytes, and SRTCP hands it the AAD
// in two pieces (header, then E||index): every residue modulo 16 of both.
describe.each(['AES_CM_128_HMAC_SHA1_80', 'AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const)(
  'every length, %s',
  (profile) => {
    test('RTP payloads of 0..300 bytes and RTCP packets of 8..300 bytes, both directions', () => {
      const key = masterKey(profile, 7);
      const out = engine.createSession(profile, key, 'outbound');
      const inb = engine.createSession(profile, key, 'inbound');
      const rx = new SrtpReferenceContext(profile, key);
      const tx = new SrtpReferenceContext(profile, key);
      for (let n = 0; n <= 300; n++) {
        const plain = rtpPacket(2000 + n, SSRC, { payloadLength: n });
        const r = rx.unprotectRtp(expectBuffer(inSlot(engine, 16, plain, (s, len) => engine.protectRtp(out, s, len))));
        if (!r.ok || !r.packet.equals(plain)) throw new Error(`RTP payload ${n}: module -> reference failed`);
        const back = inSlot(engine, 16, tx.protectRtp(plain), (s, len) => engine.unprotectRtp(inb, s, len));
        if (typeof back === 'number' || !back.equals(plain))
          throw new Error(`RTP payload ${n}: reference -> module failed (${back})`);
      }
      for (let n = 8; n <= 300; n++) {
        const plain = rtcpPacket(SSRC, 0);
        const pkt = Buffer.concat([plain, Buffer.alloc(n - plain.length, n & 0xff)]);
        const r = rx.unprotectRtcp(expectBuffer(inSlot(engine, 16, pkt, (s, len) => engine.protectRtcp(out, s, len))));
        if (!r.ok || !r.packet.equals(pkt)) throw new Error(`RTCP length ${n}: module -> reference failed`);
        const back = inSlot(engine, 16, tx.protectRtcp(pkt), (s, len) => engine.unprotectRtcp(inb, s, len));
        if (typeof back === 'number' || !back.equals(pkt))
          throw new Error(`RTCP length ${n}: reference -> module failed (${back})`);
      }
      engine.destroySession(out);
      engine.destroySession(inb);
    });
  },
);

describe('long calls', () => {
  const profile = 'AES_CM_128_HMAC_SHA1_80' as const;
  // ROC enters the tag for AES-CM (RFC 3711 4.2) and the IV for AES-GCM (RFC 7714 8.1)
  const WRAP_PROFILES = ['AES_CM_128_HMAC_SHA1_80', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const;

  test('70,000 packets: sequence wraps past 65,535, ROC increments, every packet interoperates', () => {
    const key = masterKey(profile, 2);
    const out = engine.createSession(profile, key, 'outbound');
    const inb = engine.createSession(profile, key, 'inbound');
    const rx = new SrtpReferenceContext(profile, key);
    const tx = new SrtpReferenceContext(profile, key);
    const start = 1000;
    const count = 70_000;
    const slot = engine.slot(12);
    const plain = rtpPacket(0, SSRC, { payloadLength: 160, fill: 0x5a });
    let failures = 0;
    for (let i = 0; i < count; i++) {
      const seq = (start + i) & 0xffff;
      plain.writeUInt16BE(seq, 2);
      // module -> module
      slot.set(plain);
      const n = engine.protectRtp(out, 12, plain.length);
      const m = engine.unprotectRtp(inb, 12, n);
      if (m !== plain.length || !slot.subarray(0, m).equals(plain)) failures++;
      // module -> reference and reference -> module around the wrap (every packet there),
      // and on a sample elsewhere (the reference is slow)
      if (Math.abs(start + i - 65536) < 300 || i % 997 === 0) {
        slot.set(plain);
        const k = engine.protectRtp(out, 12, plain.length); // replay on the sender: rejected
        expect(k).toBe(SRTP_ERR_REPLAY);
        const r = rx.unprotectRtp(Buffer.from(tx.protectRtp(plain)));
        if (!r.ok || !r.packet.equals(plain)) failures++;
      }
    }
    expect(failures).toBe(0);
    const last = (start + count - 1) & 0xffff;
    expect(engine.streamState(out, SSRC)).toEqual({ roc: 1, seq: last });
    expect(engine.streamState(inb, SSRC)).toEqual({ roc: 1, seq: last });
    expect(engine.streamState(inb, SSRC + 1)).toBeUndefined();
    // the reference sender crossed the wrap too (sampled packets only, so compare ROC)
    expect(rx.streamState(SSRC)?.roc).toBe(1);
    engine.destroySession(out);
    engine.destroySession(inb);
  });

  test.each(WRAP_PROFILES)('%s: module-protected packets across two wraps verify in the reference (ROC)', (profile) => {
    const key = masterKey(profile, 3);
    const out = engine.createSession(profile, key, 'outbound');
    const rx = new SrtpReferenceContext(profile, key);
    for (let i = 0; i < 70_000; i++) {
      const seq = (65_000 + i) & 0xffff;
      const plain = rtpPacket(seq, SSRC, { payloadLength: 20 });
      const prot = inSlot(engine, 13, plain, (s, n) => engine.protectRtp(out, s, n));
      // check every packet near both wraps, a sample elsewhere
      if (i < 1000 || Math.abs(65_000 + i - 131_072) < 500 || i % 1000 === 0) {
        const r = rx.unprotectRtp(expectBuffer(prot));
        if (!r.ok) throw new Error(`seq ${seq} (i=${i}): ${r.error}`);
        expect(r.packet).toEqual(plain);
      }
    }
    expect(engine.streamState(out, SSRC)).toEqual({ roc: 2, seq: (65_000 + 69_999) & 0xffff });
    expect(rx.streamState(SSRC)?.roc).toBe(2);
    engine.destroySession(out);
  });

  test.each(WRAP_PROFILES)('%s: key update mid-stream keeps ROC and sequence; old-key packets then fail', (profile) => {
    const keyA = masterKey(profile, 4);
    const keyB = masterKey(profile, 5);
    const out = engine.createSession(profile, keyA, 'outbound');
    const inb = engine.createSession(profile, keyA, 'inbound');
    const rx = new SrtpReferenceContext(profile, keyA);
    const oldTx = new SrtpReferenceContext(profile, keyA);
    const pass = (seq: number) => {
      const plain = rtpPacket(seq, SSRC);
      const prot = expectBuffer(inSlot(engine, 14, plain, (s, n) => engine.protectRtp(out, s, n)));
      const r = rx.unprotectRtp(prot);
      expect(r.ok && r.packet).toEqual(plain);
      expect(inSlot(engine, 14, prot, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(plain);
    };
    for (let seq = 65_530; seq < 65_536 + 5; seq++) {
      pass(seq & 0xffff);
      oldTx.protectRtp(rtpPacket(seq & 0xffff, SSRC));
    }
    expect(engine.streamState(out, SSRC)).toEqual({ roc: 1, seq: 4 });

    expect(engine.updateKey(out, keyB)).toBe(SRTP_OK);
    expect(engine.updateKey(inb, keyB)).toBe(SRTP_OK);
    rx.updateKey(keyB);
    expect(engine.streamState(out, SSRC)).toEqual({ roc: 1, seq: 4 });
    expect(engine.streamState(inb, SSRC)).toEqual({ roc: 1, seq: 4 });
    for (let seq = 5; seq < 20; seq++) pass(seq); // the reference checks ROC 1 is in the tag
    // the same packet index was already used: the old key must no longer verify
    const stale = oldTx.protectRtp(rtpPacket(20, SSRC));
    expect(inSlot(engine, 14, stale, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_AUTH);
    // SRTCP index continues too (the reference receiver accepts the new-key packet)
    const rtcp = expectBuffer(inSlot(engine, 14, rtcpPacket(SSRC), (s, n) => engine.protectRtcp(out, s, n)));
    expect(rx.unprotectRtcp(rtcp).ok).toBe(true);
    // a wrong key length is a parameter error and keeps the session working
    expect(srtpErrorName(engine.updateKey(out, Buffer.alloc(5)))).toBe('bad_param');
    pass(21);
    engine.destroySession(out);
    engine.destroySession(inb);
  });

  test('several SSRCs on one session keep separate ROC state', () => {
    const key = masterKey(profile, 6);
    const out = engine.createSession(profile, key, 'outbound');
    const rx = new SrtpReferenceContext(profile, key);
    for (const [ssrc, seq] of [
      [1, 65_535],
      [2, 10],
      [1, 0],
      [2, 11],
    ] as const) {
      const plain = rtpPacket(seq, ssrc);
      const r = rx.unprotectRtp(expectBuffer(inSlot(engine, 15, plain, (s, n) => engine.protectRtp(out, s, n))));
      expect(r.ok && r.packet).toEqual(plain);
    }
    expect(engine.streamState(out, 1)).toEqual({ roc: 1, seq: 0 });
    expect(engine.streamState(out, 2)).toEqual({ roc: 0, seq: 11 });
    engine.destroySession(out);
  });
});
