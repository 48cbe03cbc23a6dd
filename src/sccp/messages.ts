/**
 * Codec for the SCCP messages the proxy reads or rewrites (docs/sccp.md §5). Each message is a
 * table of fields in wire order; one small engine decodes and encodes them all. Address fields
 * change size with the negotiated protocol version (4 bytes before 17, type + 16 bytes from 17
 * on, §3), and the message length decides how many trailing optional fields are present.
 * Bytes after the last known field are kept as `tail` and written back unchanged, so a decoded
 * and re-encoded message is byte-identical except for the fields the caller changed. Messages
 * not in the table are not decoded at all: they pass through byte for byte.
 *
 * Offsets below are body offsets (= docs' abs offset − 12).
 */
import { SccpDecodeError } from '../errors';
import {
  type AddressLayout,
  addressSize,
  layoutFor,
  readAddress,
  readIpv4,
  type SccpAddress,
  writeAddress,
  writeIpv4,
} from './address';
import { encodeFrame, type SccpFrame } from './framing';
import { KEY_BLOCK_BYTES, KeyBlock } from './key-block';
import { type KnownMessageName, MSG, messageName } from './message-ids';

type FieldKind =
  | { t: 'u8' }
  | { t: 'u16' }
  | { t: 'u32' }
  | { t: 'ipv4' }
  | { t: 'addr' }
  | { t: 'str'; size: number }
  | { t: 'bytes'; size: number }
  | { t: 'key' }
  /** Opaque bytes whose size is whatever the fields after it leave (video parameter unions). */
  | { t: 'middle' };

interface Field {
  name: string;
  kind: FieldKind;
  /** Present only from this negotiated protocol version on. */
  since?: number;
}

interface Spec {
  name: KnownMessageName;
  fields: Field[];
  /** How many leading fields every message has; later ones are present when the length allows. */
  required: number;
}

const u8 = (name: string): Field => ({ name, kind: { t: 'u8' } });
const u16 = (name: string): Field => ({ name, kind: { t: 'u16' } });
const u32 = (name: string): Field => ({ name, kind: { t: 'u32' } });
const addr = (name: string, since?: number): Field => ({ name, kind: { t: 'addr' }, since });
const str = (name: string, size: number): Field => ({ name, kind: { t: 'str', size } });
const bytes = (name: string, size: number): Field => ({ name, kind: { t: 'bytes', size } });
const key = (name: string): Field => ({ name, kind: { t: 'key' } });

const STOP_CLOSE = [u32('conferenceId'), u32('passThruPartyId'), u32('callReference'), u32('portHandlingFlag')];
// §5.7: status, address where the phone receives, port, party id, callReference (often absent in old peers).
const RECEIVE_ACK = [u32('status'), addr('ipAddr'), u32('portNumber'), u32('passThruPartyId'), u32('callReference')];
// §5.9: the phone's own transmit address.
const TRANSMIT_ACK = [
  u32('conferenceId'),
  u32('passThruPartyId'),
  u32('callReference'),
  addr('transmitIpAddr'),
  u32('transmitPort'),
  u32('status'),
];

const SPEC_LIST: Spec[] = [
  { name: 'KeepAlive', fields: [], required: 0 },
  { name: 'KeepAliveAck', fields: [], required: 0 },
  {
    // §5.1; basic Register ends after maxStreams (L = 40), long ones add the rest.
    name: 'Register',
    fields: [
      str('deviceName', 16),
      u32('userId'),
      u32('instance'),
      { name: 'stationIpAddr', kind: { t: 'ipv4' } },
      u32('deviceType'),
      u32('maxStreams'),
      u32('activeStreams'),
      u8('protocolVer'),
      u8('protocolFlags'),
      u16('phoneFeatures'),
      u32('maxConferences'),
      u32('activeConferences'),
      bytes('macAddress', 12),
      u32('ipV4AddressScope'),
      u32('maxNumberOfLines'),
      bytes('ipV6Address', 16),
      u32('ipV6AddressScope'),
      str('firmwareLoadName', 32),
    ],
    required: 6,
  },
  {
    // §5.2
    name: 'RegisterAck',
    fields: [
      u32('keepAliveInterval'),
      str('dateTemplate', 6),
      bytes('padding', 2),
      u32('secondaryKeepAliveInterval'),
      u8('maxProtocolVer'),
      u8('protocolFlags'),
      u16('phoneFeatures'),
    ],
    required: 4,
  },
  { name: 'RegisterReject', fields: [str('text', 32)], required: 1 },
  { name: 'Unregister', fields: [u32('reason')], required: 0 },
  { name: 'IpPort', fields: [u32('rtpMediaPort')], required: 1 },
  {
    // §5.6
    name: 'OpenReceiveChannel',
    fields: [
      u32('conferenceId'),
      u32('passThruPartyId'),
      u32('millisecondPacketSize'),
      u32('compressionType'),
      u32('echoCancelType'),
      u32('codecParams'),
      u32('callReference'),
      key('rxKey'),
      u32('streamPassThroughId'),
      u32('associatedStreamId'),
      u32('rfc2833PayloadType'),
      u32('dtmfType'),
      u32('mixingMode'),
      u32('partyDirection'),
      addr('sourceIpAddr'),
      u32('sourcePortNumber'),
      u32('requestedIpAddrType'),
    ],
    required: 8,
  },
  { name: 'OpenReceiveChannelAck', fields: RECEIVE_ACK, required: 4 },
  { name: 'OpenMultiMediaReceiveChannelAck', fields: RECEIVE_ACK, required: 4 },
  {
    // §5.8
    name: 'StartMediaTransmission',
    fields: [
      u32('conferenceId'),
      u32('passThruPartyId'),
      addr('remoteIpAddr'),
      u32('remotePortNumber'),
      u32('millisecondPacketSize'),
      u32('compressionType'),
      u32('precedenceValue'),
      u32('ssValue'),
      u32('maxFramesPerPacket'),
      u32('codecParams'),
      u32('callReference'),
      key('txKey'),
      u32('streamPassThroughId'),
      u32('associatedStreamId'),
      u32('rfc2833PayloadType'),
      u32('dtmfType'),
      u32('mixingMode'),
      u32('partyDirection'),
    ],
    required: 11,
  },
  { name: 'StartMediaTransmissionAck', fields: TRANSMIT_ACK, required: 6 },
  { name: 'StartMultiMediaTransmissionAck', fields: TRANSMIT_ACK, required: 6 },
  { name: 'StopMediaTransmission', fields: STOP_CLOSE, required: 2 },
  { name: 'CloseReceiveChannel', fields: STOP_CLOSE, required: 2 },
  { name: 'StopMultiMediaTransmission', fields: STOP_CLOSE, required: 2 },
  { name: 'CloseMultiMediaReceiveChannel', fields: STOP_CLOSE, required: 2 },
  {
    // §5.11
    name: 'CallState',
    fields: [
      u32('callState'),
      u32('lineInstance'),
      u32('callReference'),
      u32('privacy'),
      u32('precedenceLevel'),
      u32('precedenceDomain'),
    ],
    required: 3,
  },
  {
    // §5.13: the parameter union's size is disputed between sources, so it is kept opaque and the
    // key block is located from the end: key, 2 ids, then (v11+) source address + port, (v16+)
    // requestedIpAddrType. At v17 that is "key block + 36 bytes", where Wireshark and chan-sccp agree.
    name: 'OpenMultiMediaReceiveChannel',
    fields: [
      u32('conferenceId'),
      u32('passThruPartyId'),
      u32('compressionType'),
      u32('lineInstance'),
      u32('callReference'),
      u32('payloadRfcNumber'),
      u32('payloadType'),
      u32('isConferenceCreator'),
      { name: 'parameters', kind: { t: 'middle' } },
      key('rxKey'),
      u32('streamPassThroughId'),
      u32('associatedStreamId'),
      addr('sourceIpAddr', 11),
      { ...u32('sourcePortNumber'), since: 11 },
      { ...u32('requestedIpAddrType'), since: 16 },
    ],
    required: 15,
  },
  {
    // §5.14: key block = last 56..8 bytes (Wireshark, chan-sccp v17).
    name: 'StartMultiMediaTransmission',
    fields: [
      u32('conferenceId'),
      u32('passThruPartyId'),
      u32('compressionType'),
      addr('remoteIpAddr'),
      u32('remotePortNumber'),
      u32('callReference'),
      u32('payloadRfcNumber'),
      u32('payloadType'),
      u32('dscpValue'),
      { name: 'parameters', kind: { t: 'middle' } },
      key('txKey'),
      u32('streamPassThroughId'),
      u32('associatedStreamId'),
    ],
    required: 13,
  },
];

const SPECS = new Map<number, Spec>(SPEC_LIST.map((s) => [MSG[s.name], s]));

// ---- typed views of the decoded messages -------------------------------------------------------

interface Base {
  id: number;
  headerVersion: number;
  /** Bytes after the last known field, written back unchanged. */
  tail: Buffer;
}

export interface KeepAlive extends Base {
  kind: 'KeepAlive' | 'KeepAliveAck';
}
export interface Register extends Base {
  kind: 'Register';
  deviceName: string;
  userId: number;
  instance: number;
  stationIpAddr: string;
  deviceType: number;
  maxStreams: number;
  activeStreams?: number;
  /** The phone's maximum protocol version (absent in the basic Register: a very old phone). */
  protocolVer?: number;
  protocolFlags?: number;
  phoneFeatures?: number;
  maxConferences?: number;
  activeConferences?: number;
  macAddress?: Buffer;
  ipV4AddressScope?: number;
  maxNumberOfLines?: number;
  ipV6Address?: Buffer;
  ipV6AddressScope?: number;
  firmwareLoadName?: string;
}
export interface RegisterAck extends Base {
  kind: 'RegisterAck';
  keepAliveInterval: number;
  dateTemplate: string;
  padding: Buffer;
  secondaryKeepAliveInterval: number;
  /** The version UCM chose. */
  maxProtocolVer?: number;
  protocolFlags?: number;
  phoneFeatures?: number;
}
export interface RegisterReject extends Base {
  kind: 'RegisterReject';
  text: string;
}
export interface Unregister extends Base {
  kind: 'Unregister';
  reason?: number;
}
export interface IpPort extends Base {
  kind: 'IpPort';
  rtpMediaPort: number;
}
export interface OpenReceiveChannel extends Base {
  kind: 'OpenReceiveChannel';
  conferenceId: number;
  passThruPartyId: number;
  millisecondPacketSize: number;
  compressionType: number;
  echoCancelType: number;
  codecParams: number;
  callReference: number;
  rxKey: KeyBlock;
  streamPassThroughId?: number;
  associatedStreamId?: number;
  rfc2833PayloadType?: number;
  dtmfType?: number;
  mixingMode?: number;
  partyDirection?: number;
  sourceIpAddr?: SccpAddress;
  sourcePortNumber?: number;
  requestedIpAddrType?: number;
}
export interface ReceiveChannelAck extends Base {
  kind: 'OpenReceiveChannelAck' | 'OpenMultiMediaReceiveChannelAck';
  status: number;
  ipAddr: SccpAddress;
  portNumber: number;
  passThruPartyId: number;
  callReference?: number;
}
export interface StartMediaTransmission extends Base {
  kind: 'StartMediaTransmission';
  conferenceId: number;
  passThruPartyId: number;
  remoteIpAddr: SccpAddress;
  remotePortNumber: number;
  millisecondPacketSize: number;
  compressionType: number;
  precedenceValue: number;
  ssValue: number;
  maxFramesPerPacket: number;
  codecParams: number;
  callReference: number;
  /** Absent only in pre-encryption peers' short messages. */
  txKey?: KeyBlock;
  streamPassThroughId?: number;
  associatedStreamId?: number;
  rfc2833PayloadType?: number;
  dtmfType?: number;
  mixingMode?: number;
  partyDirection?: number;
}
export interface TransmissionAck extends Base {
  kind: 'StartMediaTransmissionAck' | 'StartMultiMediaTransmissionAck';
  conferenceId: number;
  passThruPartyId: number;
  callReference: number;
  transmitIpAddr: SccpAddress;
  transmitPort: number;
  status: number;
}
export interface StopClose extends Base {
  kind:
    | 'StopMediaTransmission'
    | 'CloseReceiveChannel'
    | 'StopMultiMediaTransmission'
    | 'CloseMultiMediaReceiveChannel';
  conferenceId: number;
  passThruPartyId: number;
  callReference?: number;
  portHandlingFlag?: number;
}
export interface CallState extends Base {
  kind: 'CallState';
  callState: number;
  lineInstance: number;
  callReference: number;
  privacy?: number;
  precedenceLevel?: number;
  precedenceDomain?: number;
}
export interface OpenMultiMediaReceiveChannel extends Base {
  kind: 'OpenMultiMediaReceiveChannel';
  conferenceId: number;
  passThruPartyId: number;
  compressionType: number;
  lineInstance: number;
  callReference: number;
  payloadRfcNumber: number;
  payloadType: number;
  isConferenceCreator: number;
  parameters: Buffer;
  rxKey: KeyBlock;
  streamPassThroughId: number;
  associatedStreamId: number;
  /** From protocol version 11 on. */
  sourceIpAddr?: SccpAddress;
  sourcePortNumber?: number;
  /** From protocol version 16 on. */
  requestedIpAddrType?: number;
}
export interface StartMultiMediaTransmission extends Base {
  kind: 'StartMultiMediaTransmission';
  conferenceId: number;
  passThruPartyId: number;
  compressionType: number;
  remoteIpAddr: SccpAddress;
  remotePortNumber: number;
  callReference: number;
  payloadRfcNumber: number;
  payloadType: number;
  dscpValue: number;
  parameters: Buffer;
  txKey: KeyBlock;
  streamPassThroughId: number;
  associatedStreamId: number;
}
/** Any message outside the table: never decoded, forwarded as received. */
export interface OtherMessage {
  kind: 'Other';
  id: number;
  headerVersion: number;
  body: Buffer;
}

export type SccpMessage =
  | KeepAlive
  | Register
  | RegisterAck
  | RegisterReject
  | Unregister
  | IpPort
  | OpenReceiveChannel
  | ReceiveChannelAck
  | StartMediaTransmission
  | TransmissionAck
  | StopClose
  | CallState
  | OpenMultiMediaReceiveChannel
  | StartMultiMediaTransmission
  | OtherMessage;

/** The message type(s) whose kind includes K (distributes over the union). */
type Having<M, K> = M extends { kind: infer MK } ? (K extends MK ? M : never) : never;
export type MessageOf<K extends SccpMessage['kind']> = Having<SccpMessage, K>;

// ---- engine ------------------------------------------------------------------------------------

/** True for the ids this codec decodes (everything else passes through untouched). */
export function isDecoded(messageId: number): boolean {
  return SPECS.has(messageId);
}

function fieldsFor(spec: Spec, version: number): Field[] {
  return spec.fields.filter((f) => f.since === undefined || version >= f.since);
}

function fixedSize(f: Field, layout: AddressLayout): number {
  switch (f.kind.t) {
    case 'u8':
      return 1;
    case 'u16':
      return 2;
    case 'u32':
    case 'ipv4':
      return 4;
    case 'addr':
      return addressSize(layout);
    case 'str':
    case 'bytes':
      return f.kind.size;
    case 'key':
      return KEY_BLOCK_BYTES;
    case 'middle':
      return 0;
  }
}

function hasAddress(fields: Field[]): boolean {
  return fields.some((f) => f.kind.t === 'addr');
}

/** Sizes of every field in order; a `middle` takes what the fields after it leave. */
function sizesFor(fields: Field[], layout: AddressLayout, bodyLength: number): number[] {
  const sizes = fields.map((f) => fixedSize(f, layout));
  const mid = fields.findIndex((f) => f.kind.t === 'middle');
  if (mid >= 0) sizes[mid] = bodyLength - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

function readField(f: Field, body: Buffer, at: number, size: number, layout: AddressLayout): unknown {
  switch (f.kind.t) {
    case 'u8':
      return body.readUInt8(at);
    case 'u16':
      return body.readUInt16LE(at);
    case 'u32':
      return body.readUInt32LE(at);
    case 'ipv4':
      return readIpv4(body, at);
    case 'addr':
      return readAddress(body, at, layout);
    case 'str': {
      const end = body.indexOf(0, at);
      return body.toString('latin1', at, end < 0 || end > at + size ? at + size : end);
    }
    case 'bytes':
    case 'middle':
      return Buffer.from(body.subarray(at, at + size));
    case 'key':
      return KeyBlock.decode(body, at);
  }
}

function writeField(f: Field, out: Buffer, at: number, size: number, layout: AddressLayout, value: unknown): void {
  switch (f.kind.t) {
    case 'u8':
      out.writeUInt8(value as number, at);
      return;
    case 'u16':
      out.writeUInt16LE(value as number, at);
      return;
    case 'u32':
      out.writeUInt32LE((value as number) >>> 0, at);
      return;
    case 'ipv4':
      writeIpv4(out, at, value as string);
      return;
    case 'addr':
      writeAddress(out, at, layout, value as SccpAddress);
      return;
    case 'str': {
      const text = Buffer.from(value as string, 'latin1');
      if (text.length > size) throw new Error(`${f.name} longer than ${size} bytes`);
      out.fill(0, at, at + size);
      text.copy(out, at);
      return;
    }
    case 'bytes':
    case 'middle': {
      const b = value as Buffer;
      if (b.length !== size) throw new Error(`${f.name} must be ${size} bytes, got ${b.length}`);
      b.copy(out, at);
      return;
    }
    case 'key':
      (value as KeyBlock).encode(out, at);
      return;
  }
}

/**
 * Decodes a framed message. `protocolVersion` is the negotiated version (Register's maximum until
 * RegisterAck, then RegisterAck's choice) and selects the address layout. Throws SccpDecodeError
 * naming the message, field and body offset when the length does not fit that layout.
 */
export function decodeMessage(frame: SccpFrame, protocolVersion: number): SccpMessage {
  const spec = SPECS.get(frame.messageId);
  if (!spec) return { kind: 'Other', id: frame.messageId, headerVersion: frame.headerVersion, body: frame.body };
  const layout = layoutFor(protocolVersion);
  const body = frame.body;
  const fields = fieldsFor(spec, protocolVersion);
  const sizes = sizesFor(fields, layout, body.length);
  const addressed = hasAddress(fields);
  const out: Record<string, unknown> = { kind: spec.name, id: frame.messageId, headerVersion: frame.headerVersion };
  let pos = 0;
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i] as Field;
    const size = sizes[i] as number;
    if (size < 0 || pos + size > body.length) {
      const what = `field ${f.name} needs ${size < 0 ? 'more' : size} bytes at body offset ${pos}, body is ${body.length} bytes (${layout} layout, protocol version ${protocolVersion})`;
      if (i < spec.required)
        throw new SccpDecodeError(frame.messageId, `truncated body: ${what}`, messageName(frame.messageId));
      // A message with address fields that ends inside an optional field has the other layout:
      // guessing would move every field after it, so it is refused.
      if (pos < body.length && addressed)
        throw new SccpDecodeError(frame.messageId, `length does not fit: ${what}`, messageName(frame.messageId));
      break;
    }
    try {
      out[f.name] = readField(f, body, pos, size, layout);
    } catch (err) {
      throw new SccpDecodeError(
        frame.messageId,
        `field ${f.name} at body offset ${pos}: ${(err as Error).message}`,
        messageName(frame.messageId),
      );
    }
    pos += size;
  }
  // Before v17 the address messages have a known maximum; extra bytes mean the v17 layout was sent.
  if (pos < body.length && addressed && layout === 'ipv4') {
    throw new SccpDecodeError(
      frame.messageId,
      `length does not fit: ${body.length - pos} bytes after the last field of the IPv4 layout (protocol version ${protocolVersion}); the message looks like the v17 layout`,
      messageName(frame.messageId),
    );
  }
  out.tail = Buffer.from(body.subarray(pos));
  return out as unknown as SccpMessage;
}

/** Encodes a message (header + body) for the given negotiated protocol version. */
export function encodeMessage(msg: SccpMessage, protocolVersion: number): Buffer {
  if (msg.kind === 'Other') return encodeFrame(msg.id, msg.headerVersion, msg.body);
  const spec = SPECS.get(MSG[msg.kind]) as Spec;
  const layout = layoutFor(protocolVersion);
  const values = msg as unknown as Record<string, unknown>;
  const fields = fieldsFor(spec, protocolVersion);
  // Trailing optional fields are present up to the first absent one.
  let count = fields.findIndex((f, i) => i >= spec.required && values[f.name] === undefined);
  if (count < 0) count = fields.length;
  for (const f of fields.slice(count)) {
    if (values[f.name] !== undefined)
      throw new Error(`${msg.kind}: ${f.name} is set but an earlier optional field is not`);
  }
  const present = fields.slice(0, count);
  const middle = present.find((f) => f.kind.t === 'middle');
  const middleSize = middle ? (values[middle.name] as Buffer).length : 0;
  const sizes = present.map((f) => (f.kind.t === 'middle' ? middleSize : fixedSize(f, layout)));
  const fieldBytes = sizes.reduce((a, b) => a + b, 0);
  const tail = msg.tail;
  const body = Buffer.alloc(fieldBytes + tail.length);
  let pos = 0;
  for (let i = 0; i < present.length; i++) {
    const f = present[i] as Field;
    const size = sizes[i] as number;
    const value = values[f.name];
    if (value === undefined) throw new Error(`${msg.kind}: required field ${f.name} missing`);
    writeField(f, body, pos, size, layout, value);
    pos += size;
  }
  tail.copy(body, pos);
  return encodeFrame(MSG[msg.kind], msg.headerVersion, body);
}
