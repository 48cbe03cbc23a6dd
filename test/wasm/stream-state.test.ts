/**
 * SRTP stream state export/import (issue 14): a stream protected or unprotected on engine A
 * continues on engine B (another instance of the module, as a standby has) from A's exported
 * state, across a ROC wrap, and native libsrtp (Debian's, test/wasm/native-peer.c) takes B's
 * packets after A's without an authentication or replay failure; a replay of a packet A saw
 * is still refused by B. Every suite in the binding's table.
 */
import {
  findWasmFile,
  SRTP_ERR_AUTH,
  SRTP_ERR_REPLAY,
  SRTP_ERR_REPLAY_OLD,
  SRTP_OK,
  SrtpEngine,
} from '../../wasm/srtp';
import {
  decodeStreamState,
  encodeStreamState,
  reserveSent,
  STREAM_STATE_BYTES,
  StreamStateError,
} from '../../wasm/stream-state';
import { expectBuffer, inSlot, masterKey, PROFILES, rtcpPacket, rtpPacket } from './helpers';
import { type Line, NATIVE_HEADER, NativePeer, nativeAvailable } from './native-peer';

if (!nativeAvailable) console.warn(`stream-state: native part skipped (needs gcc and ${NATIVE_HEADER})`);
const maybe = nativeAvailable ? describe : describe.skip;

const a = SrtpEngine.load();
const b = SrtpEngine.fromFile(findWasmFile());
const SSRC = 0x51a7e0f1;
const nativePeer = new NativePeer();
const native = (...args: Parameters<NativePeer['run']>) => nativePeer.run(...args);

function protect(e: SrtpEngine, h: number, l: Line): Buffer | number {
  return inSlot(e, 50, l.pkt, (s, n) => (l.rtcp ? e.protectRtcp(h, s, n) : e.protectRtp(h, s, n)));
}

function unprotect(e: SrtpEngine, h: number, l: Line): Buffer | number {
  return inSlot(e, 51, l.pkt, (s, n) => (l.rtcp ? e.unprotectRtcp(h, s, n) : e.unprotectRtp(h, s, n)));
}

const rtp = (seq: number): Line => ({ rtcp: false, pkt: rtpPacket(seq & 0xffff, SSRC, { payloadLength: 40 }) });
const rtcp = (i: number): Line => ({ rtcp: true, pkt: rtcpPacket(SSRC, i % 2, i % 2 === 0) });

/** Through the versioned wire layout, as a standby receives it. */
function viaWire(e: SrtpEngine, h: number) {
  const states = e.exportStreams(h);
  expect(states).toHaveLength(1);
  return decodeStreamState(encodeStreamState(states[0] as ReturnType<typeof decodeStreamState>));
}

test('the wire layout round-trips and refuses what it does not know', () => {
  const s = {
    ssrc: 0xfedcba98,
    direction: 'receive' as const,
    roc: 0x12345,
    seq: 65535,
    rtpWindow: [1, 0x80000000, 0xffffffff, 7] as [number, number, number, number],
    rtcpIndex: 0x7fffffff,
    rtcpWindow: [0, 1, 2, 3] as [number, number, number, number],
  };
  const wire = encodeStreamState(s);
  expect(wire.length).toBe(STREAM_STATE_BYTES);
  expect(decodeStreamState(wire)).toEqual(s);
  const v2 = Buffer.from(wire);
  v2[0] = 2;
  expect(() => decodeStreamState(v2)).toThrow(StreamStateError);
  expect(() => decodeStreamState(v2)).toThrow(/version 2/);
  expect(() => decodeStreamState(wire.subarray(0, 51))).toThrow(/51 bytes, need 52/);
  const badDir = Buffer.from(wire);
  badDir[1] = 3;
  expect(() => decodeStreamState(badDir)).toThrow(/direction 3/);
});

test('reserveSent moves a sender past what it may have sent, and leaves a receiver alone', () => {
  const base = {
    ssrc: 1,
    roc: 3,
    seq: 65530,
    rtpWindow: [0, 0, 0, 0x80000000] as [number, number, number, number],
    rtcpIndex: 40,
    rtcpWindow: [0, 0, 0, 0] as [number, number, number, number],
  };
  const s = reserveSent({ ...base, direction: 'send' }, 10, 100);
  expect([s.roc, s.seq, s.rtcpIndex]).toEqual([4, 4, 140]);
  expect(s.rtpWindow).toEqual([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff]);
  const r = { ...base, direction: 'receive' as const };
  expect(reserveSent(r, 10, 100)).toBe(r);
});

maybe('a stream continues on another engine (native libsrtp on the far side)', () => {
  beforeAll(() => nativePeer.build());
  afterAll(() => nativePeer.remove());

  describe.each(PROFILES)('%s', (profile) => {
    const key = masterKey(profile, 23);

    test('sender: B continues A across the ROC wrap, native takes every packet, bytes as A would send', () => {
      const first: Line[] = [];
      for (let i = 0; i < 30; i++) first.push(rtp(65_500 + i));
      for (let i = 0; i < 3; i++) first.push(rtcp(i));
      const then: Line[] = [];
      for (let i = 30; i < 60; i++) then.push(rtp(65_500 + i)); // 65530..65535, then 0..23 (ROC 1)
      for (let i = 3; i < 6; i++) then.push(rtcp(i));

      const ha = a.createSession(profile, key, 'outbound');
      const fromA = first.map((l) => expectBuffer(protect(a, ha, l)));
      const state = viaWire(a, ha);
      expect([state.direction, state.ssrc, state.roc, state.seq, state.rtcpIndex]).toEqual([
        'send',
        SSRC,
        0,
        65_529,
        3,
      ]);

      const hb = b.createSession(profile, key, 'outbound');
      expect(b.importStream(hb, state)).toBe(SRTP_OK);
      const fromB = then.map((l) => expectBuffer(protect(b, hb, l)));
      expect(b.exportStreams(hb)[0]).toMatchObject({ roc: 1, seq: 23, rtcpIndex: 6 });
      // What A itself would have sent next, byte for byte (same key, index and SRTCP index).
      const aNext = then.map((l) => expectBuffer(protect(a, ha, l)).toString('hex'));
      expect(fromB.map((p) => p.toString('hex'))).toEqual(aNext);

      const got = native(profile, 'inbound', key, [
        ...first.map((l, i) => ({ rtcp: l.rtcp, pkt: fromA[i] as Buffer })),
        ...then.map((l, i) => ({ rtcp: l.rtcp, pkt: fromB[i] as Buffer })),
      ]);
      expect(got).toEqual([...first, ...then].map((l) => l.pkt));

      // Without the import, B's first packet after the wrap is under ROC 0: native refuses it.
      const fresh = b.createSession(profile, key, 'outbound');
      const wrong = expectBuffer(protect(b, fresh, rtp(3)));
      const r = native(profile, 'inbound', key, [
        ...first.map((l, i) => ({ rtcp: l.rtcp, pkt: fromA[i] as Buffer })),
        ...then.slice(0, 6).map((l, i) => ({ rtcp: l.rtcp, pkt: fromB[i] as Buffer })),
        { rtcp: false, pkt: wrong },
      ]);
      expect(r[r.length - 1]).toBe(SRTP_ERR_AUTH);
      a.destroySession(ha);
      b.destroySession(hb);
      b.destroySession(fresh);
    });

    test('sender with a reserve: B refuses the indices A may have used, native takes the rest', () => {
      const ha = a.createSession(profile, key, 'outbound');
      const first = [rtp(65_530), rtp(65_531), rtcp(0)];
      const fromA = first.map((l) => expectBuffer(protect(a, ha, l)));
      const state = reserveSent(viaWire(a, ha), 10, 1000);
      const hb = b.createSession(profile, key, 'outbound');
      expect(b.importStream(hb, state)).toBe(SRTP_OK);
      // 65532..65541 (ROC 0 and 1) are reserved: never encrypted a second time.
      for (let seq = 65_532; seq <= 65_541; seq++) {
        const rc = protect(b, hb, rtp(seq));
        expect([SRTP_ERR_REPLAY, SRTP_ERR_REPLAY_OLD]).toContain(rc);
      }
      const then = [rtp(65_542), rtp(65_543), rtcp(1)];
      const fromB = then.map((l) => expectBuffer(protect(b, hb, l)));
      expect(b.exportStreams(hb)[0]).toMatchObject({ roc: 1, seq: 7, rtcpIndex: 1002 });
      const got = native(profile, 'inbound', key, [
        ...first.map((l, i) => ({ rtcp: l.rtcp, pkt: fromA[i] as Buffer })),
        ...then.map((l, i) => ({ rtcp: l.rtcp, pkt: fromB[i] as Buffer })),
      ]);
      expect(got).toEqual([...first, ...then].map((l) => l.pkt));
      a.destroySession(ha);
      b.destroySession(hb);
    });

    test('receiver: B takes native packets after A across the wrap, and still refuses replays', () => {
      const lines: Line[] = [];
      for (let i = 0; i < 260; i++) {
        lines.push(rtp(65_300 + i)); // 65300..65535, then 0..23 (ROC 1)
        if (i === 100 || i === 150 || i === 199 || i === 220 || i === 240 || i === 259) lines.push(rtcp(i));
      }
      const sent = native(profile, 'outbound', key, lines).map(expectBuffer);
      const split = lines.findIndex((l) => !l.rtcp && l.pkt.readUInt16BE(2) === 65_500);
      const ha = a.createSession(profile, key, 'inbound');
      for (let i = 0; i < split; i++) {
        expect(unprotect(a, ha, { rtcp: (lines[i] as Line).rtcp, pkt: sent[i] as Buffer })).toEqual(
          (lines[i] as Line).pkt,
        );
      }
      const state = viaWire(a, ha);
      expect([state.direction, state.roc, state.seq, state.rtcpIndex]).toEqual(['receive', 0, 65_499, 0]);
      expect(reserveSent(state, 10, 10)).toBe(state);

      const hb = b.createSession(profile, key, 'inbound');
      expect(b.importStream(hb, state)).toBe(SRTP_OK);
      for (let i = split; i < lines.length; i++) {
        const l = lines[i] as Line;
        expect(unprotect(b, hb, { rtcp: l.rtcp, pkt: sent[i] as Buffer })).toEqual(l.pkt);
      }
      const at = (seq: number) => lines.findIndex((l) => !l.rtcp && l.pkt.readUInt16BE(2) === seq);
      const again = (i: number) => unprotect(b, hb, { rtcp: (lines[i] as Line).rtcp, pkt: sent[i] as Buffer });
      expect(again(at(65_499))).toBe(SRTP_ERR_REPLAY); // seen by A, inside the window
      expect(again(at(65_300))).toBe(SRTP_ERR_REPLAY_OLD); // seen by A, behind the window
      expect(again(at(20))).toBe(SRTP_ERR_REPLAY); // seen by B
      expect(again(split - 1)).toBe(SRTP_ERR_REPLAY); // SRTCP seen by A
      expect(again(lines.length - 1)).toBe(SRTP_ERR_REPLAY); // SRTCP seen by B

      // Without the import a fresh receiver takes A's packet again, and fails after the wrap.
      const fresh = b.createSession(profile, key, 'inbound');
      expect(unprotect(b, fresh, { rtcp: false, pkt: sent[at(20)] as Buffer })).toBe(SRTP_ERR_AUTH);
      expect(unprotect(b, fresh, { rtcp: false, pkt: sent[at(65_499)] as Buffer })).toEqual(
        (lines[at(65_499)] as Line).pkt,
      );
      a.destroySession(ha);
      b.destroySession(hb);
      b.destroySession(fresh);
    });
  });
});

test('import refuses a dead handle and a bad record', () => {
  const key = masterKey('AES_CM_128_HMAC_SHA1_80', 3);
  const h = b.createSession('AES_CM_128_HMAC_SHA1_80', key, 'outbound');
  const s = {
    ssrc: 9,
    direction: 'send' as const,
    roc: 0,
    seq: 65_536,
    rtpWindow: [0, 0, 0, 0] as [number, number, number, number],
    rtcpIndex: 0,
    rtcpWindow: [0, 0, 0, 0] as [number, number, number, number],
  };
  expect(b.importStream(h, s)).toBeLessThan(0);
  expect(b.importStream(h, { ...s, seq: 1 })).toBe(SRTP_OK);
  b.destroySession(h);
  expect(b.importStream(h, { ...s, seq: 1 })).toBeLessThan(0);
  expect(b.exportStreams(h)).toEqual([]);
});
