/**
 * TFTP request and error packets (RFC 1350 §5, options RFC 2347 §2). Pure: bytes in, values out.
 * The `tftp` package parses requests too, but only after it has opened a transfer socket and
 * normalised the name (`path.normalize` hides `a/../b`), so the listener checks the raw bytes here first.
 *
 *   2 bytes    string    1 byte  string  1 byte  [ string 1 byte string 1 byte ]*
 *   ------------------------------------------------------------------------
 *  | opcode |  Filename  |  0  |  Mode  |  0  |  opt  |  0  |  value  |  0  |
 *   ------------------------------------------------------------------------
 */

export const OP_RRQ = 1;
export const OP_WRQ = 2;
export const OP_ERROR = 5;

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

/** Why a request packet was refused, with the TFTP error code the peer gets. */
export class TftpRequestError extends Error {
  constructor(
    readonly code: TftpErrorCode,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'TftpRequestError';
  }
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

/** For log lines: control bytes shown as \xNN so a hostile name cannot forge log output. */
export function printable(s: string, max = 80): string {
  const cut = s.length > max ? `${s.slice(0, max)}…` : s;
  let out = '';
  for (const c of cut) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || (code >= 0x7f && code <= 0xff) ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}
