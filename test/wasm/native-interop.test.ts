/**
 * The WebAssembly engine against native libsrtp: Debian's libsrtp2 (2.5.0, NSS crypto
 * backend, so its AES-GCM is NSS's, not the shim's), driven through test/wasm/native-peer.c.
 * SRTP and SRTCP are deterministic for a given key, SSRC and index, so both engines must
 * produce the same bytes, and each must accept the other's packets. Every suite in the
 * binding's table, RTP and RTCP, across a sequence wrap.
 *
 * Needs gcc and libsrtp2-dev (`apt-get install libsrtp2-dev`); without them the suite is
 * skipped and says so.
 */
import { SRTP_ERR_AUTH, SRTP_PROFILES, SrtpEngine } from '../../wasm/srtp';
import { expectBuffer, inSlot, masterKey, PROFILES, rtcpPacket, rtpPacket } from './helpers';
import { type Line, NATIVE_HEADER, NativePeer, nativeAvailable } from './native-peer';

if (!nativeAvailable)
  console.warn(`native-interop: skipped (needs gcc and ${NATIVE_HEADER}: apt-get install libsrtp2-dev)`);
const maybe = nativeAvailable ? describe : describe.skip;

const engine = SrtpEngine.load();
const nativePeer = new NativePeer();
/** One native session (one process): see NativePeer.run. */
const native = (...args: Parameters<NativePeer['run']>) => nativePeer.run(...args);

const SSRC = 0x0badcafe;
const SHAPES = [
  { payloadLength: 160 },
  { payloadLength: 20, csrcs: [1, 0xfffffffe] },
  { payloadLength: 33, extensionWords: 2 },
  { payloadLength: 0 },
  { payloadLength: 1200, csrcs: [7], extensionWords: 1 },
  { payloadLength: 15 },
];

/** RTP across a sequence wrap (ROC 0 -> 1) in every shape, then RTCP of a few sizes. */
function traffic(): Line[] {
  const lines: Line[] = [];
  for (let i = 0; i < 30; i++) {
    const seq = (65_520 + i) & 0xffff;
    lines.push({ rtcp: false, pkt: rtpPacket(seq, SSRC, SHAPES[i % SHAPES.length]) });
  }
  for (let i = 0; i < 6; i++) lines.push({ rtcp: true, pkt: rtcpPacket(SSRC, i % 3, i % 2 === 0) });
  return lines;
}

maybe('native libsrtp2 (Debian, NSS backend)', () => {
  beforeAll(() => nativePeer.build());
  afterAll(() => nativePeer.remove());

  describe.each(PROFILES)('%s', (profile) => {
    const key = masterKey(profile, 17);

    test('the module and native libsrtp protect to the same bytes, and each unprotects the other', () => {
      const lines = traffic();
      const out = engine.createSession(profile, key, 'outbound');
      const inb = engine.createSession(profile, key, 'inbound');
      const mine = lines.map((l) =>
        expectBuffer(
          inSlot(engine, 40, l.pkt, (s, n) => (l.rtcp ? engine.protectRtcp(out, s, n) : engine.protectRtp(out, s, n))),
        ),
      );
      const theirs = native(profile, 'outbound', key, lines);
      expect(theirs.length).toBe(lines.length);
      for (const [i, t] of theirs.entries()) {
        if (typeof t === 'number') throw new Error(`native protect of line ${i} failed: ${t}`);
        expect(mine[i]?.toString('hex')).toBe(t.toString('hex'));
      }
      // native unprotects the module's packets
      const back = native(
        profile,
        'inbound',
        key,
        mine.map((pkt, i) => ({ rtcp: (lines[i] as Line).rtcp, pkt })),
      );
      for (const [i, b] of back.entries()) expect(b).toEqual((lines[i] as Line).pkt);
      // the module unprotects native's packets
      for (const [i, t] of theirs.entries()) {
        const l = lines[i] as Line;
        const r = inSlot(engine, 41, t as Buffer, (s, n) =>
          l.rtcp ? engine.unprotectRtcp(inb, s, n) : engine.unprotectRtp(inb, s, n),
        );
        expect(r).toEqual(l.pkt);
      }
      engine.destroySession(out);
      engine.destroySession(inb);
    });

    test('native libsrtp refuses a module packet with a flipped tag bit, and a replay', () => {
      const info = SRTP_PROFILES[profile];
      const out = engine.createSession(profile, key, 'outbound');
      const good = expectBuffer(inSlot(engine, 42, rtpPacket(10, SSRC), (s, n) => engine.protectRtp(out, s, n)));
      const bad = Buffer.from(good);
      bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
      const rtcp = expectBuffer(inSlot(engine, 42, rtcpPacket(SSRC), (s, n) => engine.protectRtcp(out, s, n)));
      const badRtcp = Buffer.from(rtcp);
      const tagEnd = info.aead ? rtcp.length - 4 : rtcp.length;
      badRtcp[tagEnd - 1] = (badRtcp[tagEnd - 1] as number) ^ 0x01;
      const r = native(profile, 'inbound', key, [
        { rtcp: false, pkt: bad },
        { rtcp: false, pkt: good },
        { rtcp: false, pkt: good },
        { rtcp: true, pkt: badRtcp },
        { rtcp: true, pkt: rtcp },
        { rtcp: true, pkt: rtcp },
      ]);
      expect(r).toEqual([SRTP_ERR_AUTH, rtpPacket(10, SSRC), -9, SRTP_ERR_AUTH, rtcpPacket(SSRC), -9]);
      engine.destroySession(out);
    });
  });

  test.each(['AEAD_AES_128_GCM', 'AEAD_AES_256_GCM'] as const)(
    '%s: every RTP payload length 0..64 and RTCP length 8..72 gives native libsrtp bytes',
    (profile) => {
      const key = masterKey(profile, 18);
      const lines: Line[] = [];
      for (let n = 0; n <= 64; n++) lines.push({ rtcp: false, pkt: rtpPacket(3000 + n, SSRC, { payloadLength: n }) });
      for (let n = 8; n <= 72; n += 4) {
        const base = rtcpPacket(SSRC, 0);
        lines.push({ rtcp: true, pkt: Buffer.concat([base, Buffer.alloc(n - base.length, n)]) });
      }
      const out = engine.createSession(profile, key, 'outbound');
      const theirs = native(profile, 'outbound', key, lines);
      for (const [i, l] of lines.entries()) {
        const mine = inSlot(engine, 43, l.pkt, (s, n) =>
          l.rtcp ? engine.protectRtcp(out, s, n) : engine.protectRtp(out, s, n),
        );
        expect(expectBuffer(mine).toString('hex')).toBe((theirs[i] as Buffer).toString('hex'));
      }
      engine.destroySession(out);
    },
  );
});
