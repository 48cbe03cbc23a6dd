/**
 * Bad input never crashes: mutated and truncated messages (seeded, reproducible) give either a
 * decoded message or an SccpDecodeError; the inspector answers every one with a verdict.
 */

import { decideLegs } from '../../src/contracts/leg-decision';
import { SccpDecodeError, SccpFramingError } from '../../src/errors';
import { parseFrame, SccpFramer } from '../../src/sccp/framing';
import { SccpInspector } from '../../src/sccp/inspector';
import { decodeMessage, encodeMessage } from '../../src/sccp/messages';
import { samples, testKey } from '../support/sccp-samples';
import { MediaDouble } from './media-double';

function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 0x100000000;
  };
}

/** A valid message with a few bytes of its body changed, or its body cut short. */
function mutate(bytes: Buffer, rnd: () => number): Buffer {
  const out = Buffer.from(bytes);
  if (rnd() < 0.3 && out.length > 12) {
    const body = out.subarray(12, 12 + Math.floor(rnd() * (out.length - 12)));
    const cut = Buffer.concat([out.subarray(0, 12), body]);
    cut.writeUInt32LE(body.length + 4, 0);
    return cut;
  }
  const flips = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < flips && out.length > 12; i++)
    out[12 + Math.floor(rnd() * (out.length - 12))] = Math.floor(rnd() * 256);
  return out;
}

const versions = [0, 11, 16, 17, 20];
const corpus = versions.flatMap((v) => samples(v).map((m) => encodeMessage(m, v)));

test('mutated messages decode or fail with SccpDecodeError, never anything else', () => {
  const rnd = prng(2024);
  let errors = 0;
  for (let i = 0; i < 5000; i++) {
    const bytes = mutate(corpus[i % corpus.length] as Buffer, rnd);
    const version = versions[Math.floor(rnd() * versions.length)] as number;
    try {
      const m = decodeMessage(parseFrame(bytes), version);
      // Whatever decodes re-encodes to the same length and decodes the same again (padding after a
      // string's NUL or an IPv4 address in a 16-byte field is not kept; rewritten fields only).
      const again = encodeMessage(m, version);
      expect(again.length).toBe(bytes.length);
      expect(decodeMessage(parseFrame(again), version)).toEqual(m);
    } catch (err) {
      if (!(err instanceof SccpDecodeError)) throw err;
      errors++;
    }
  }
  expect(errors).toBeGreaterThan(100);
});

test('random byte streams fail framing with SccpFramingError or frame cleanly', () => {
  const rnd = prng(99);
  for (let i = 0; i < 500; i++) {
    const junk = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 200) }, () => Math.floor(rnd() * 256)));
    try {
      new SccpFramer({ maxMessageBytes: 4096 }).push(junk);
    } catch (err) {
      expect(err).toBeInstanceOf(SccpFramingError);
    }
  }
});

test('the inspector answers mutated traffic with verdicts only', async () => {
  const rnd = prng(7);
  const media = new MediaDouble();
  let n = 0;
  for (let round = 0; round < 40; round++) {
    const insp = new SccpInspector({
      connectionId: round,
      certDeviceName: 'SEP001122334455',
      decision: decideLegs('mixed', 'encrypted'),
      media,
      randomBytes: (len) => testKey(n++).subarray(0, len),
    });
    const v = [11, 17][round % 2] as number;
    await insp.fromPhone(parseFrame(encodeMessage(samples(v).find((m) => m.kind === 'Register') as never, v)));
    for (const m of samples(v)) {
      const bytes = mutate(encodeMessage(m, v), rnd);
      const frame = parseFrame(bytes);
      const verdict = await (rnd() < 0.5 ? insp.fromUcm(frame) : insp.fromPhone(frame));
      expect(['forward', 'drop', 'close']).toContain(verdict.action);
    }
    await insp.close('end of round');
  }
  // Every allocation made along the way was released.
  expect(media.live).toEqual([]);
});
