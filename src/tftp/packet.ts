/**
 * TFTP packets (RFC 1350 §5; OACK RFC 2347 §2). Pure: bytes in, values out. The listener checks
 * the raw request bytes here before any transfer socket exists; the transfer state machines
 * (read-sender.ts, read-receiver.ts) decode DATA/ACK/OACK/ERROR with decodePacket().
 *
 *   2 bytes    string    1 byte  string  1 byte  [ string 1 byte string 1 byte ]*
 *   ------------------------------------------------------------------------
 *  | opcode |  Filename  |  0  |  Mode  |  0  |  opt  |  0  |  value  |  0  |
 *   ------------------------------------------------------------------------
 */
import { TftpPacketError, TftpRequestError } from '../errors';
import { printable } from '../printable';

export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_DATA = 3;
export const OP_ACK = 4;
export const OP_ERROR = 5;
/** RFC 2347 §2 option acknowledgment. */
export const OP_OACK = 6;

/** RFC 1350 error codes (plus 8, RFC 2347 option negotiation). */
export const TftpErrorCode = {
  NotDefined: 0,
  FileNotFound: 1,
  AccessViolation: 2,
  DiskFull: 3,
  IllegalOperation: 4,
  UnknownTid: 5,
  FileExists: 6,
  NoSuchUser: 7,
  OptionRefused: 8,
} as const;
export type TftpErrorCode = (typeof TftpErrorCode)[keyof typeof TftpErrorCode];

export interface TftpRequest {
  op: 'RRQ' | 'WRQ';
  file: string;
  mode: string;
  /** Option names lower-cased, values as sent. */
  options: Record<string, string>;
}

const MODES = new Set(['octet', 'netascii', 'mail']);

function readString(buf: Buffer, start: number): { value: string; next: number } | undefined {
  const end = buf.indexOf(0, start);
  if (end < 0) return undefined;
  return { value: buf.toString('latin1', start, end), next: end + 1 };
}

/** Parses an RRQ/WRQ; throws TftpRequestError naming the problem. */
export function parseRequest(buf: Buffer): TftpRequest {
  if (buf.length < 4) throw new TftpRequestError(TftpErrorCode.IllegalOperation, `short packet (${buf.length} bytes)`);
  const opcode = buf.readUInt16BE(0);
  if (opcode !== OP_RRQ && opcode !== OP_WRQ) {
    throw new TftpRequestError(TftpErrorCode.IllegalOperation, `opcode ${opcode} is not a request`);
  }
  const file = readString(buf, 2);
  if (!file) throw new TftpRequestError(TftpErrorCode.IllegalOperation, 'file name not NUL-terminated');
  const mode = readString(buf, file.next);
  if (!mode) throw new TftpRequestError(TftpErrorCode.IllegalOperation, 'mode missing');
  if (!MODES.has(mode.value.toLowerCase())) {
    // A name with an embedded NUL leaves the rest of the name where the mode belongs.
    throw new TftpRequestError(
      TftpErrorCode.AccessViolation,
      `file name contains a NUL byte or the mode is unknown (mode field "${printable(mode.value)}")`,
    );
  }
  const options: Record<string, string> = {};
  let at = mode.next;
  while (at < buf.length) {
    const key = readString(buf, at);
    const value = key && readString(buf, key.next);
    if (!key || !value)
      throw new TftpRequestError(TftpErrorCode.IllegalOperation, `option at byte ${at} not NUL-terminated`);
    options[key.value.toLowerCase()] = value.value;
    at = value.next;
  }
  return { op: opcode === OP_RRQ ? 'RRQ' : 'WRQ', file: file.value, mode: mode.value.toLowerCase(), options };
}

/** ERROR packet: opcode 5, code, message, NUL. */
export function encodeError(code: TftpErrorCode, message: string): Buffer {
  const text = Buffer.from(message, 'latin1');
  const out = Buffer.alloc(5 + text.length);
  out.writeUInt16BE(OP_ERROR, 0);
  out.writeUInt16BE(code, 2);
  text.copy(out, 4);
  return out;
}

export function decodeError(buf: Buffer): { code: number; message: string } | undefined {
  if (buf.length < 4 || buf.readUInt16BE(0) !== OP_ERROR) return undefined;
  const end = buf.indexOf(0, 4);
  return { code: buf.readUInt16BE(2), message: buf.toString('latin1', 4, end < 0 ? buf.length : end) };
}

/** The packets a transfer exchanges after its request. */
export type TransferPacket =
  /*  2 bytes  2 bytes  n bytes  */
  /* | 03 |  Block #  |  Data  | */
  | { op: 'DATA'; block: number; data: Buffer }
  /* | 04 |  Block #  | */
  | { op: 'ACK'; block: number }
  /* | 05 |  ErrorCode |  ErrMsg  | 0 | */
  | { op: 'ERROR'; code: number; message: string }
  /* | 06 |  opt1 | 0 | value1 | 0 | ... (RFC 2347 §2) */
  | { op: 'OACK'; options: Record<string, string> }
  | { op: 'RRQ' | 'WRQ' };

function readOptions(buf: Buffer, start: number): Record<string, string> {
  const options: Record<string, string> = {};
  let at = start;
  while (at < buf.length) {
    const key = readString(buf, at);
    const value = key && readString(buf, key.next);
    if (!key || !value) throw new TftpPacketError(`option at byte ${at} not NUL-terminated`);
    options[key.value.toLowerCase()] = value.value;
    at = value.next;
  }
  return options;
}

/** Decodes a DATA, ACK, ERROR or OACK packet (requests only by opcode); throws TftpPacketError. */
export function decodePacket(buf: Buffer): TransferPacket {
  if (buf.length < 2) throw new TftpPacketError(`short packet (${buf.length} bytes)`);
  const op = buf.readUInt16BE(0);
  switch (op) {
    case OP_DATA:
      if (buf.length < 4) throw new TftpPacketError(`short DATA (${buf.length} bytes)`);
      return { op: 'DATA', block: buf.readUInt16BE(2), data: buf.subarray(4) };
    case OP_ACK:
      if (buf.length < 4) throw new TftpPacketError(`short ACK (${buf.length} bytes)`);
      return { op: 'ACK', block: buf.readUInt16BE(2) };
    case OP_ERROR: {
      if (buf.length < 4) throw new TftpPacketError(`short ERROR (${buf.length} bytes)`);
      // A missing final NUL is tolerated: the message is only logged.
      const e = decodeError(buf) as { code: number; message: string };
      return { op: 'ERROR', code: e.code, message: e.message };
    }
    case OP_OACK:
      return { op: 'OACK', options: readOptions(buf, 2) };
    case OP_RRQ:
    case OP_WRQ:
      return { op: op === OP_RRQ ? 'RRQ' : 'WRQ' };
    default:
      throw new TftpPacketError(`unknown opcode ${op}`);
  }
}

/** decodePacket, or undefined for a datagram that does not decode (the caller counts it). */
export function tryDecodePacket(buf: Buffer): ReturnType<typeof decodePacket> | undefined {
  try {
    return decodePacket(buf);
  } catch (err) {
    if (err instanceof TftpPacketError) return undefined;
    throw err;
  }
}

/** RRQ with options (RFC 2347 §2): the client side. */
export function encodeRequest(file: string, mode: string, options: Record<string, string> = {}): Buffer {
  const parts = [file, mode];
  for (const [k, v] of Object.entries(options)) parts.push(k, v);
  return Buffer.concat([Buffer.from([0, OP_RRQ]), Buffer.from(`${parts.join('\0')}\0`, 'latin1')]);
}

export function encodeData(block: number, data: Buffer): Buffer {
  const out = Buffer.allocUnsafe(4 + data.length);
  out.writeUInt16BE(OP_DATA, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  data.copy(out, 4);
  return out;
}

export function encodeAck(block: number): Buffer {
  const out = Buffer.alloc(4);
  out.writeUInt16BE(OP_ACK, 0);
  out.writeUInt16BE(block & 0xffff, 2);
  return out;
}

export function encodeOack(options: Record<string, string>): Buffer {
  const parts: string[] = [];
  for (const [k, v] of Object.entries(options)) parts.push(k, v);
  return Buffer.concat([Buffer.from([0, OP_OACK]), Buffer.from(`${parts.join('\0')}\0`, 'latin1')]);
}
