/**
 * Bad input on the packet path: truncated packets, wrong version bits, lengths over the
 * slot, unknown or destroyed contexts, bad slots, bad parameters, and a bounded random
 * fuzz. Every call must return a known code (never throw), must not write outside its
 * slot, must not leak heap, and the engine must keep working afterwards.
 */
import { randomBytes } from 'node:crypto';
import {
  SRTP_ERR_AUTH,
  SRTP_ERR_BAD_PARAM,
  SRTP_ERR_BAD_SLOT,
  SRTP_ERR_BAD_VERSION,
  SRTP_ERR_NO_CTX,
  SRTP_ERR_REPLAY,
  SRTP_ERR_REPLAY_OLD,
  SRTP_ERR_TOO_LONG,
  SRTP_ERR_TOO_SHORT,
  SRTP_PROFILES,
  SrtpEngine,
  type SrtpProfile,
  srtpErrorName,
} from '../../wasm/srtp';
import { SrtpReferenceContext } from '../../wasm/srtp-reference';
import { expectBuffer, inSlot, masterKey, PROFILES, rtcpPacket, rtpPacket } from './helpers';

const engine = SrtpEngine.load();
const profile: SrtpProfile = 'AES_CM_128_HMAC_SHA1_80';
const key = masterKey(profile, 9);

describe('bad input gives codes, not exceptions', () => {
  let out: number;
  let inb: number;
  beforeAll(() => {
    out = engine.createSession(profile, key, 'outbound');
    inb = engine.createSession(profile, key, 'inbound');
  });
  afterAll(() => {
    engine.destroySession(out);
    engine.destroySession(inb);
  });

  test('truncated packets', () => {
    for (let len = 0; len < 12; len++) {
      const p = rtpPacket(1, 5).subarray(0, len);
      expect(inSlot(engine, 20, p, (s, n) => engine.protectRtp(out, s, n))).toBe(SRTP_ERR_TOO_SHORT);
      expect(inSlot(engine, 20, p, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_TOO_SHORT);
    }
    for (let len = 0; len < 8; len++) {
      const p = rtcpPacket(5).subarray(0, len);
      expect(inSlot(engine, 20, p, (s, n) => engine.protectRtcp(out, s, n))).toBe(SRTP_ERR_TOO_SHORT);
      expect(inSlot(engine, 20, p, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_TOO_SHORT);
    }
    // A protected packet cut short anywhere is rejected (auth or parse), never accepted.
    const prot = expectBuffer(
      inSlot(engine, 20, rtpPacket(2, 5, { csrcs: [1, 2], extensionWords: 3 }), (s, n) => engine.protectRtp(out, s, n)),
    );
    for (let len = 12; len < prot.length; len++) {
      const rc = inSlot(engine, 20, prot.subarray(0, len), (s, n) => engine.unprotectRtp(inb, s, n));
      expect(typeof rc).toBe('number');
      expect(['auth_fail', 'parse_err']).toContain(srtpErrorName(rc as number));
    }
    const rtcp = expectBuffer(inSlot(engine, 20, rtcpPacket(5, 2), (s, n) => engine.protectRtcp(out, s, n)));
    for (let len = 8; len < rtcp.length; len++) {
      const rc = inSlot(engine, 20, rtcp.subarray(0, len), (s, n) => engine.unprotectRtcp(inb, s, n));
      expect(['auth_fail', 'parse_err', 'cant_check']).toContain(srtpErrorName(rc as number));
    }
  });

  test('wrong version bits', () => {
    for (const v of [0, 1, 3]) {
      const p = rtpPacket(3, 5);
      p[0] = (v << 6) | ((p[0] as number) & 0x3f);
      expect(inSlot(engine, 21, p, (s, n) => engine.protectRtp(out, s, n))).toBe(SRTP_ERR_BAD_VERSION);
      expect(inSlot(engine, 21, p, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_BAD_VERSION);
      const r = rtcpPacket(5);
      r[0] = (v << 6) | ((r[0] as number) & 0x3f);
      expect(inSlot(engine, 21, r, (s, n) => engine.protectRtcp(out, s, n))).toBe(SRTP_ERR_BAD_VERSION);
      expect(inSlot(engine, 21, r, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_BAD_VERSION);
    }
    expect(srtpErrorName(SRTP_ERR_BAD_VERSION)).toBe('bad_version');
  });

  test('lengths over the slot, and protect input without room for the tag', () => {
    const slot = engine.slot(22);
    slot.fill(0);
    slot[0] = 0x80;
    expect(engine.unprotectRtp(inb, 22, engine.slotSize + 1)).toBe(SRTP_ERR_TOO_LONG);
    expect(engine.unprotectRtcp(inb, 22, 1 << 30)).toBe(SRTP_ERR_TOO_LONG);
    expect(engine.protectRtp(out, 22, engine.maxProtectInput + 1)).toBe(SRTP_ERR_TOO_LONG);
    expect(engine.protectRtcp(out, 22, engine.slotSize)).toBe(SRTP_ERR_TOO_LONG);
    // the largest accepted packet works and its tag stays inside the slot
    const big = rtpPacket(4, 5, { payloadLength: engine.maxProtectInput - 12 });
    const n = inSlot(engine, 22, big, (s, len) => engine.protectRtp(out, s, len));
    expect(expectBuffer(n).length).toBe(engine.maxProtectInput + 10);
    expect(srtpErrorName(SRTP_ERR_TOO_LONG)).toBe('too_long');
  });

  test('unknown, destroyed and negative contexts', () => {
    const p = rtpPacket(5, 5);
    const h = engine.createSession(profile, key, 'inbound');
    engine.destroySession(h);
    for (const bad of [h, -1, 0x7fffffff, 65535, 12345678]) {
      expect(inSlot(engine, 23, p, (s, n) => engine.protectRtp(bad, s, n))).toBe(SRTP_ERR_NO_CTX);
      expect(inSlot(engine, 23, p, (s, n) => engine.unprotectRtp(bad, s, n))).toBe(SRTP_ERR_NO_CTX);
      expect(inSlot(engine, 23, p, (s, n) => engine.protectRtcp(bad, s, n))).toBe(SRTP_ERR_NO_CTX);
      expect(inSlot(engine, 23, p, (s, n) => engine.unprotectRtcp(bad, s, n))).toBe(SRTP_ERR_NO_CTX);
      expect(engine.updateKey(bad, key)).toBe(SRTP_ERR_NO_CTX);
      expect(engine.streamState(bad, 5)).toBeUndefined();
      expect(() => engine.destroySession(bad)).not.toThrow();
    }
    // a new session reusing the table entry does not answer to the old handle
    const h2 = engine.createSession(profile, key, 'inbound');
    expect(h2 & 0xffff).not.toBe(-1);
    expect(inSlot(engine, 23, p, (s, n) => engine.unprotectRtp(h, s, n))).toBe(SRTP_ERR_NO_CTX);
    engine.destroySession(h2);
    expect(srtpErrorName(SRTP_ERR_NO_CTX)).toBe('no_ctx');
  });

  test('bad slots', () => {
    for (const s of [-1, engine.slotCount, 1e9]) {
      expect(engine.protectRtp(out, s, 100)).toBe(SRTP_ERR_BAD_SLOT);
      expect(engine.unprotectRtcp(inb, s, 100)).toBe(SRTP_ERR_BAD_SLOT);
    }
    expect(() => engine.slot(engine.slotCount)).toThrow(RangeError);
  });

  test('bad session parameters', () => {
    expect(engine.createSession(profile, Buffer.alloc(29), 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(engine.createSession('AES_256_CM_HMAC_SHA1_80', Buffer.alloc(30), 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(engine.createSession('AEAD_AES_192_GCM' as SrtpProfile, Buffer.alloc(36), 'inbound')).toBe(
      SRTP_ERR_BAD_PARAM,
    );
    // RFC 7714 12: a 16- or 32-byte key and a 12-byte salt, not AES-CM's 14-byte salt
    expect(engine.createSession('AEAD_AES_128_GCM', Buffer.alloc(30), 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(engine.createSession('AEAD_AES_256_GCM', Buffer.alloc(46), 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(engine.createSession('AEAD_AES_256_GCM', Buffer.alloc(28), 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(engine.createSession(profile, key, 'sideways' as 'inbound')).toBe(SRTP_ERR_BAD_PARAM);
    expect(srtpErrorName(SRTP_ERR_BAD_PARAM)).toBe('bad_param');
    expect(srtpErrorName(SRTP_ERR_AUTH)).toBe('auth_fail');
    expect(srtpErrorName(-9)).toBe('replay');
    expect(srtpErrorName(-10)).toBe('replay_old');
    expect(srtpErrorName(-999)).toBe('unknown');
    expect(srtpErrorName(42)).toBe('ok');
  });
});

// The suites added for issue 17: forged, cut and replayed packets are refused with the
// codes the media path counts, and a refused packet leaves the slot as it came (the tag is
// checked before anything is decrypted in place).
describe.each(['AES_CM_128_HMAC_SHA1_32', 'AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const)('%s robustness', (p) => {
  const info = SRTP_PROFILES[p];
  const k = masterKey(p, 12);
  const SSRC = 0x5eed;

  test('every single-bit change of the SRTP and SRTCP tags is auth_fail, and leaves the slot untouched', () => {
    const inb = engine.createSession(p, k, 'inbound');
    const tx = new SrtpReferenceContext(p, k);
    const prot = tx.protectRtp(rtpPacket(7, SSRC, { payloadLength: 33 }));
    for (let bit = 0; bit < 8 * info.rtpTagLength; bit++) {
      const bad = Buffer.from(prot);
      const pos = prot.length - info.rtpTagLength + (bit >> 3);
      bad[pos] = (bad[pos] as number) ^ (1 << (bit & 7));
      engine.slot(24).set(bad);
      expect(engine.unprotectRtp(inb, 24, bad.length)).toBe(SRTP_ERR_AUTH);
      expect(engine.slot(24).subarray(0, bad.length)).toEqual(bad);
    }
    const rtcp = tx.protectRtcp(rtcpPacket(SSRC, 2));
    // the SRTCP tag follows E||index (RFC 3711 3.4) or precedes it (RFC 7714 9.1)
    const tagEnd = info.aead ? rtcp.length - 4 : rtcp.length;
    for (let bit = 0; bit < 8 * info.rtcpTagLength; bit++) {
      const bad = Buffer.from(rtcp);
      const pos = tagEnd - info.rtcpTagLength + (bit >> 3);
      bad[pos] = (bad[pos] as number) ^ (1 << (bit & 7));
      engine.slot(24).set(bad);
      expect(engine.unprotectRtcp(inb, 24, bad.length)).toBe(SRTP_ERR_AUTH);
      expect(engine.slot(24).subarray(0, bad.length)).toEqual(bad);
    }
    // nothing was committed by the failures: the genuine packets still pass
    expect(inSlot(engine, 24, prot, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(
      rtpPacket(7, SSRC, { payloadLength: 33 }),
    );
    expect(inSlot(engine, 24, rtcp, (s, n) => engine.unprotectRtcp(inb, s, n))).toEqual(rtcpPacket(SSRC, 2));
    engine.destroySession(inb);
  });

  test('truncated at every length: rejected, never accepted', () => {
    const inb = engine.createSession(p, k, 'inbound');
    const tx = new SrtpReferenceContext(p, k);
    const prot = tx.protectRtp(rtpPacket(8, SSRC, { csrcs: [1, 2], extensionWords: 3, payloadLength: 20 }));
    const seen = new Set<string>();
    for (let len = 12; len < prot.length; len++) {
      const rc = inSlot(engine, 25, prot.subarray(0, len), (s, n) => engine.unprotectRtp(inb, s, n));
      if (typeof rc !== 'number') throw new Error(`truncated to ${len}: accepted`);
      seen.add(srtpErrorName(rc));
    }
    expect([...seen].every((n) => n === 'auth_fail' || n === 'parse_err')).toBe(true);
    expect(seen.has('parse_err')).toBe(true); // shorter than header (+ tag): cannot be parsed
    const rtcp = tx.protectRtcp(rtcpPacket(SSRC, 2));
    for (let len = 8; len < rtcp.length; len++) {
      const rc = inSlot(engine, 25, rtcp.subarray(0, len), (s, n) => engine.unprotectRtcp(inb, s, n));
      if (typeof rc !== 'number') throw new Error(`SRTCP truncated to ${len}: accepted`);
      expect(['auth_fail', 'parse_err', 'cant_check']).toContain(srtpErrorName(rc));
    }
    engine.destroySession(inb);
  });

  test('replays are refused: replay inside the window, replay_old behind it, SRTCP replay', () => {
    const inb = engine.createSession(p, k, 'inbound');
    const tx = new SrtpReferenceContext(p, k);
    const first = tx.protectRtp(rtpPacket(500, SSRC));
    expect(typeof inSlot(engine, 26, first, (s, n) => engine.unprotectRtp(inb, s, n))).toBe('object');
    expect(inSlot(engine, 26, first, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_REPLAY);
    for (let seq = 501; seq <= 640; seq++)
      inSlot(engine, 26, tx.protectRtp(rtpPacket(seq, SSRC)), (s, n) => engine.unprotectRtp(inb, s, n));
    expect(inSlot(engine, 26, first, (s, n) => engine.unprotectRtp(inb, s, n))).toBe(SRTP_ERR_REPLAY_OLD);
    const rtcp = tx.protectRtcp(rtcpPacket(SSRC));
    expect(typeof inSlot(engine, 26, rtcp, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe('object');
    expect(inSlot(engine, 26, rtcp, (s, n) => engine.unprotectRtcp(inb, s, n))).toBe(SRTP_ERR_REPLAY);
    engine.destroySession(inb);
  });

  test('SRTCP with the E flag cleared is cant_check (SRTCP is always encrypted here)', () => {
    const inb = engine.createSession(p, k, 'inbound');
    const tx = new SrtpReferenceContext(p, k);
    const rtcp = tx.protectRtcp(rtcpPacket(SSRC));
    const eAt = info.aead ? rtcp.length - 4 : rtcp.length - info.rtcpTagLength - 4;
    expect((rtcp[eAt] as number) & 0x80).toBe(0x80);
    const cleared = Buffer.from(rtcp);
    cleared[eAt] = (cleared[eAt] as number) & 0x7f;
    expect(srtpErrorName(inSlot(engine, 27, cleared, (s, n) => engine.unprotectRtcp(inb, s, n)) as number)).toBe(
      'cant_check',
    );
    expect(tx.protectRtcp(rtcpPacket(SSRC)).length).toBe(rtcpPacket(SSRC).length + 4 + info.rtcpTagLength);
    engine.destroySession(inb);
  });
});

describe.each(['AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const)('%s packet shapes', (p) => {
  test('an SRTP payload shorter than the 16-byte tag is parse_err; an empty payload works', () => {
    const k = masterKey(p, 13);
    const out = engine.createSession(p, k, 'outbound');
    const inb = engine.createSession(p, k, 'inbound');
    for (let n = 0; n < 16; n++) {
      const pkt = Buffer.concat([rtpPacket(900 + n, 0x77, { payloadLength: 0 }), Buffer.alloc(n, 0x42)]);
      expect(srtpErrorName(inSlot(engine, 28, pkt, (s, len) => engine.unprotectRtp(inb, s, len)) as number)).toBe(
        'parse_err',
      );
    }
    const empty = rtpPacket(1000, 0x77, { payloadLength: 0 });
    const prot = expectBuffer(inSlot(engine, 28, empty, (s, n) => engine.protectRtp(out, s, n)));
    expect(prot.length).toBe(12 + 16); // header + tag: the tag authenticates the header alone
    expect(inSlot(engine, 28, prot, (s, n) => engine.unprotectRtp(inb, s, n))).toEqual(empty);
    engine.destroySession(out);
    engine.destroySession(inb);
  });
});

describe('bounded random fuzz', () => {
  test('20,000 random packets per direction: known codes only, slots and heap intact, engine still works', () => {
    const known = new Set([
      'auth_fail',
      'parse_err',
      'too_short',
      'too_long',
      'bad_version',
      'replay',
      'replay_old',
      'cant_check',
    ]);
    const heapBefore = engine.heapUsed();
    const sessions = PROFILES.map((p) => ({
      p,
      out: engine.createSession(p, masterKey(p, 10), 'outbound'),
      inb: engine.createSession(p, masterKey(p, 10), 'inbound'),
    }));
    const canary = engine.slot(31);
    canary.fill(0xa5);
    const seen = new Map<string, number>();
    const fuzz = engine.slot(30);
    let okRtp = 0;
    let okRtcp = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = sessions[i % sessions.length] as (typeof sessions)[number];
      const len = i % 7 === 0 ? (i * 2654435761) % (engine.slotSize + 64) : (i * 40503) % 300;
      const data = randomBytes(Math.min(len, engine.slotSize));
      if (i % 3 !== 0 && data.length > 0) data[0] = 0x80 | ((data[0] as number) & 0x3f); // mostly version 2
      fuzz.set(data);
      const rcs = [engine.unprotectRtp(s.inb, 30, len), engine.unprotectRtcp(s.inb, 30, len)];
      for (const rc of rcs) {
        const name = srtpErrorName(rc);
        seen.set(name, (seen.get(name) ?? 0) + 1);
        if (rc >= 0) throw new Error(`random packet accepted (len ${len})`);
        if (!known.has(name)) throw new Error(`unexpected code ${rc} (${name})`);
      }
      // protect accepts anything well-formed: the output must stay within the slot
      fuzz.set(data);
      const p = i % 2 === 0 ? engine.protectRtp(s.out, 30, len) : engine.protectRtcp(s.out, 30, len);
      if (p >= 0) {
        if (i % 2 === 0) okRtp++;
        else okRtcp++;
        expect(p).toBeLessThanOrEqual(engine.slotSize);
      } else if (!known.has(srtpErrorName(p))) {
        throw new Error(`unexpected protect code ${p} (${srtpErrorName(p)})`);
      }
    }
    expect(canary.every((b) => b === 0xa5)).toBe(true);
    expect(seen.get('auth_fail') ?? 0).toBeGreaterThan(1000);
    expect(okRtp).toBeGreaterThan(100); // protect did run on random well-formed RTP
    expect(okRtcp).toBeGreaterThan(100);

    // still interoperates after the fuzz
    for (const s of sessions) {
      const rx = new SrtpReferenceContext(s.p, masterKey(s.p, 10));
      const plain = rtpPacket(60_000, 0x77);
      const prot = expectBuffer(inSlot(engine, 30, plain, (sl, n) => engine.protectRtp(s.out, sl, n)));
      const r = rx.unprotectRtp(prot);
      expect(r.ok && r.packet).toEqual(plain);
      expect(prot.length).toBe(plain.length + SRTP_PROFILES[s.p].rtpTagLength);
    }
    for (const s of sessions) {
      engine.destroySession(s.out);
      engine.destroySession(s.inb);
    }
    expect(engine.heapUsed()).toBe(heapBefore); // every session, and every stream cloned for a random SSRC, freed
  });

  test('sessions can be created and destroyed repeatedly without leaking', () => {
    const before = engine.heapUsed();
    for (let i = 0; i < 2000; i++) {
      const h = engine.createSession(profile, key, i % 2 ? 'inbound' : 'outbound');
      expect(h).toBeGreaterThanOrEqual(0);
      if (i % 2 === 0) inSlot(engine, 32, rtpPacket(i, i), (s, n) => engine.protectRtp(h, s, n));
      engine.destroySession(h);
    }
    expect(engine.heapUsed()).toBe(before);
  });
});

describe('memory', () => {
  test('bytes per stream pair is measured and within the 4 KB budget', () => {
    expect(engine.bytesPerStreamPair).toBeGreaterThan(500);
    expect(engine.bytesPerStreamPair).toBeLessThanOrEqual(4096);
  });

  test('memory never grows: the slot views stay attached while sessions fill the heap', () => {
    const slot = engine.slot(0);
    const bytes = engine.memoryBytes;
    const handles: number[] = [];
    let rc = 0;
    // allocate until the fixed heap runs out (bounded by the session table)
    for (let i = 0; i < engine.maxSessions; i++) {
      rc = engine.createSession(profile, key, 'outbound');
      if (rc < 0) break;
      handles.push(rc);
    }
    // libsrtp reports an allocation failure inside key setup (srtp_kdf_init) as init_fail
    expect(['alloc_fail', 'init_fail', 'table_full']).toContain(srtpErrorName(rc));
    expect(slot.byteLength).toBe(engine.slotSize); // not detached
    slot[0] = 0x80;
    expect(engine.memoryBytes).toBe(bytes);
    for (const h of handles) engine.destroySession(h);
    // and after freeing, sessions work again
    const h = engine.createSession(profile, key, 'outbound');
    expect(h).toBeGreaterThanOrEqual(0);
    expect(typeof inSlot(engine, 0, rtpPacket(1, 1), (s, n) => engine.protectRtp(h, s, n))).toBe('object');
    engine.destroySession(h);
  });
});
