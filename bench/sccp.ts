/**
 * SCCP inspection micro-benchmark (no sockets): how fast the pure core frames, decodes and
 * rewrites signaling. Two figures:
 *   1. codec: the media messages of one call (ORC, ORC-Ack, SMT, SMT-Ack, v17 layout) coalesced
 *      in one buffer, split by the framer, decoded and re-encoded — messages per second;
 *   2. inspector: complete call set-ups and tear-downs (ORC → ack → SMT → ack → Close → Stop)
 *      through SccpInspector with an instant in-memory media stand-in — calls per second.
 * Run: `npm run bench:sccp` (`tsc -p bench && node dist-dev/bench/sccp.js`). Env: SECONDS (1 per
 * figure). Last stdout line: one JSON object with the headline figures.
 */

import { decideLegs } from '../src/contracts/leg-decision';
import type { MediaAllocator } from '../src/contracts/media';
import { type SccpFrame, SccpFramer } from '../src/sccp/framing';
import { SccpInspector } from '../src/sccp/inspector';
import { decodeMessage, encodeMessage, type SccpMessage } from '../src/sccp/messages';
import { samples } from '../test/support/sccp-samples';

const V = 17;
const SECONDS = Number(process.env.SECONDS ?? 1);
/** The test suite's sample of each message (test/support/sccp-samples.ts), renumbered per call. */
const SAMPLE = new Map(samples(V).map((m) => [m.kind, m]));

function call(party: number, callRef: number): { ucm: SccpMessage[]; phone: SccpMessage[] } {
  const pick = (kind: SccpMessage['kind']): SccpMessage => {
    const m = SAMPLE.get(kind);
    if (!m) throw new Error(`no sample ${kind}`);
    return { ...m, passThruPartyId: party, callReference: callRef, conferenceId: callRef } as SccpMessage;
  };
  return {
    ucm: [
      pick('OpenReceiveChannel'),
      pick('StartMediaTransmission'),
      pick('CloseReceiveChannel'),
      pick('StopMediaTransmission'),
    ],
    phone: [pick('OpenReceiveChannelAck'), pick('StartMediaTransmissionAck')],
  };
}

function benchCodec(): number {
  const c = call(0x01000055, 22000001);
  const stream = Buffer.concat(
    [c.ucm[0], c.phone[0], c.ucm[1], c.phone[1]].map((m) => encodeMessage(m as SccpMessage, V)),
  );
  let messages = 0;
  const end = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    for (let i = 0; i < 1000; i++) {
      for (const f of new SccpFramer().push(stream)) {
        encodeMessage(decodeMessage(f, V), V);
        messages++;
      }
    }
  }
  return messages / SECONDS;
}

async function benchInspector(): Promise<number> {
  let next = 0;
  const media: MediaAllocator = {
    allocate: async () => {
      next++;
      return {
        id: `m${next}`,
        outside: { address: '192.0.2.10', rtpPort: 20000, rtcpPort: 20001 },
        inside: { address: '10.1.1.10', rtpPort: 30000, rtcpPort: 30001 },
      };
    },
    updateLeg: async () => undefined,
    release: async () => undefined,
  };
  const insp = new SccpInspector({
    connectionId: 1,
    certDeviceName: 'SEP001122334455',
    decision: decideLegs('mixed', 'encrypted'),
    media,
    randomBytes: (n) => Buffer.alloc(n, 3),
  });
  const reg = SAMPLE.get('Register') as SccpMessage;
  const frame = (m: SccpMessage): SccpFrame => {
    const f = new SccpFramer().push(encodeMessage(m, V))[0];
    if (!f) throw new Error('framing');
    return f;
  };
  if ((await insp.fromPhone(frame(reg))).action !== 'forward') throw new Error('Register refused');
  const frames = Array.from({ length: 64 }, (_, i) => {
    const c = call(0x01000000 + i, 22000000 + i);
    return [c.ucm[0], c.phone[0], c.ucm[1], c.phone[1], c.ucm[2], c.ucm[3]].map((m) => frame(m as SccpMessage));
  });
  const fromPhone = [false, true, false, true, false, false];
  let calls = 0;
  const end = process.hrtime.bigint() + BigInt(SECONDS * 1e9);
  while (process.hrtime.bigint() < end) {
    for (const c of frames) {
      for (let i = 0; i < c.length; i++) {
        const f = c[i] as SccpFrame;
        const v = await (fromPhone[i] ? insp.fromPhone(f) : insp.fromUcm(f));
        if (v.action !== 'forward') throw new Error(`verdict ${v.action}: ${v.reason}`);
      }
      calls++;
    }
  }
  if (insp.streamsView().length !== 0) throw new Error('streams left over');
  return calls / SECONDS;
}

async function main(): Promise<void> {
  const codec = benchCodec();
  const inspector = await benchInspector();
  const result = {
    codec_messages_per_s: Math.round(codec),
    inspector_call_setups_per_s: Math.round(inspector),
    inspector_messages_per_s: Math.round(inspector * 6),
  };
  console.log(`codec: ${result.codec_messages_per_s} media messages/s framed+decoded+re-encoded (v17)`);
  console.log(`inspector: ${result.inspector_call_setups_per_s} call set-up+tear-downs/s (6 messages each)`);
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
