/**
 * SCCP inspection micro-benchmark (no sockets): how fast the pure core frames, decodes and
 * rewrites signaling. Two figures:
 *   1. codec: the media messages of one call (ORC, ORC-Ack, SMT, SMT-Ack, v17 layout) coalesced
 *      in one buffer, split by the framer, decoded and re-encoded — messages per second;
 *   2. inspector: complete call set-ups and tear-downs (ORC → ack → SMT → ack → Close → Stop)
 *      through SccpInspector with an instant in-memory media stand-in — calls per second.
 * Run: `npm run build && node dist/bench/sccp.js`. Env: SECONDS (1 per figure). Last stdout line:
 * one JSON object with the headline figures.
 */
import { type SccpFrame, SccpFramer } from '../src/sccp/framing';
import type { MediaAllocator } from '../src/sccp/imports/media';
import { SccpInspector } from '../src/sccp/inspector';
import { KeyBlock } from '../src/sccp/key-block';
import { decodeMessage, encodeMessage, type SccpMessage } from '../src/sccp/messages';
import { decideLegs } from '../src/tls/leg-decision';

const V = 17;
const SECONDS = Number(process.env.SECONDS ?? 1);
const none = Buffer.alloc(0);
const v4 = (ip: string) => ({ type: 0, ip });
const key = KeyBlock.forProfile('AES_CM_128_HMAC_SHA1_80', Buffer.alloc(30, 7));

function call(party: number, callRef: number): { ucm: SccpMessage[]; phone: SccpMessage[] } {
  const base = { headerVersion: V, tail: none, passThruPartyId: party, callReference: callRef };
  const orc: SccpMessage = {
    ...base,
    kind: 'OpenReceiveChannel',
    id: 0x105,
    conferenceId: callRef,
    millisecondPacketSize: 20,
    compressionType: 4,
    echoCancelType: 0,
    codecParams: 0,
    rxKey: key,
    streamPassThroughId: 0,
    associatedStreamId: 0,
    rfc2833PayloadType: 101,
    dtmfType: 10,
    mixingMode: 0,
    partyDirection: 0,
    sourceIpAddr: v4('10.20.0.5'),
    sourcePortNumber: 30000,
    requestedIpAddrType: 0,
  };
  const ack: SccpMessage = {
    ...base,
    kind: 'OpenReceiveChannelAck',
    id: 0x22,
    status: 0,
    ipAddr: v4('10.0.0.50'),
    portNumber: 16384,
  };
  const smt: SccpMessage = {
    ...base,
    kind: 'StartMediaTransmission',
    id: 0x8a,
    conferenceId: callRef,
    remoteIpAddr: v4('10.20.0.5'),
    remotePortNumber: 30000,
    millisecondPacketSize: 20,
    compressionType: 4,
    precedenceValue: 184,
    ssValue: 0,
    maxFramesPerPacket: 1,
    codecParams: 0,
    txKey: key,
  };
  const smtAck: SccpMessage = {
    ...base,
    kind: 'StartMediaTransmissionAck',
    id: 0x154,
    conferenceId: callRef,
    transmitIpAddr: v4('10.0.0.50'),
    transmitPort: 16384,
    status: 0,
  };
  const close: SccpMessage = {
    ...base,
    kind: 'CloseReceiveChannel',
    id: 0x106,
    conferenceId: callRef,
    portHandlingFlag: 0,
  };
  const stop: SccpMessage = {
    ...base,
    kind: 'StopMediaTransmission',
    id: 0x8b,
    conferenceId: callRef,
    portHandlingFlag: 0,
  };
  return { ucm: [orc, smt, close, stop], phone: [ack, smtAck] };
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
  const reg: SccpMessage = {
    kind: 'Register',
    id: 0x01,
    headerVersion: 0,
    tail: none,
    deviceName: 'SEP001122334455',
    userId: 0,
    instance: 1,
    stationIpAddr: '10.0.0.50',
    deviceType: 115,
    maxStreams: 5,
    activeStreams: 0,
    protocolVer: V,
  };
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
