/** The lab's audio: G.711 µ-law values, RTP framing, and the sent-versus-received comparison. */
import { compareAudio, linearToUlaw, parseRtp, rtpPacket, toneFrame } from '../../lab/audio';

test('µ-law encodes silence, full scale and the sign as G.711 does', () => {
  expect(linearToUlaw(0)).toBe(0xff);
  expect(linearToUlaw(-1)).toBe(0x7f);
  expect(linearToUlaw(32767)).toBe(0x80);
  expect(linearToUlaw(-32768)).toBe(0x00);
  // Segment boundaries: 1000 → 0xce, -1000 → 0x4e (G.711 table).
  expect(linearToUlaw(1000)).toBe(0xce);
  expect(linearToUlaw(-1000)).toBe(0x4e);
});

test('tone frames are 160 bytes, differ packet to packet, and survive RTP framing', () => {
  const a = toneFrame(440, 0);
  const b = toneFrame(440, 1);
  expect(a).toHaveLength(160);
  expect(a.equals(b)).toBe(false);
  const pkt = rtpPacket(65535, 0xfffffff0, 0x12345678, a, true);
  expect(pkt).toHaveLength(172);
  expect(parseRtp(pkt)).toEqual({ seq: 65535, timestamp: 0xfffffff0, ssrc: 0x12345678, payloadType: 0, payload: a });
  expect(parseRtp(pkt.subarray(0, 11))).toBeUndefined();
});

test('compareAudio tells intact, corrupted, foreign and lost packets apart, and loss at the start', () => {
  const sent = new Map<number, Buffer>();
  for (let n = 0; n < 10; n++) sent.set(100 + n, toneFrame(440, n));
  const received = new Map<number, { ssrc: number; payload: Buffer }>();
  for (let n = 2; n < 10; n++) received.set(100 + n, { ssrc: 7, payload: toneFrame(440, n) });
  expect(compareAudio(sent, received, 7)).toEqual({
    sent: 10,
    received: 8,
    intact: 8,
    corrupted: 0,
    unknown: 0,
    lost: 2,
    lostAtStart: 2,
  });
  received.delete(105);
  received.set(106, { ssrc: 7, payload: toneFrame(660, 6) });
  received.set(500, { ssrc: 7, payload: toneFrame(440, 0) });
  received.set(107, { ssrc: 8, payload: toneFrame(440, 7) });
  expect(compareAudio(sent, received, 7)).toMatchObject({
    intact: 5,
    corrupted: 1,
    unknown: 2,
    lost: 3,
    lostAtStart: 2,
  });
});
