/**
 * SIP stream framing (RFC 3261 §18.3): on a stream transport every message carries
 * Content-Length (compact form `l`), and the body is exactly that many bytes after the blank
 * line. Between messages a peer may send keep-alives (RFC 5626 §3.5.1): a double CRLF "ping",
 * answered by a single CRLF "pong". Pure: bytes in, framed items out; the caller owns the socket.
 */
import { SipFramingError } from '../errors';

/** A message's `head` is its start line and headers (latin1, without the blank line): the parser reuses it. */
export type FramedItem = { kind: 'message'; data: Buffer; head: string } | { kind: 'ping' } | { kind: 'pong' };

export interface FramingLimits {
  /** Start line + headers, bytes. */
  maxHeaderBytes: number;
  maxBodyBytes: number;
}

export const DEFAULT_FRAMING_LIMITS: FramingLimits = { maxHeaderBytes: 16 * 1024, maxBodyBytes: 64 * 1024 };

const CRLF = 0x0d0a;
const HEADER_END = Buffer.from('\r\n\r\n');

/** Content-Length header lines (full or compact name) after the start line; value trimmed of blanks. */
const CONTENT_LENGTH = /\r\n(?:content-length|l)[ \t]*:[ \t]*([^\r\n]*?)[ \t]*(?=\r\n|$)/gi;

/** Content-Length from a header block (full or compact name), or a reason it cannot be framed. */
export function contentLengthOf(head: string): number {
  let found: number | undefined;
  // One scan of the block, not a split and a regular expression per line (CPU per message, bench:sip).
  CONTENT_LENGTH.lastIndex = 0;
  for (let m = CONTENT_LENGTH.exec(head); m !== null; m = CONTENT_LENGTH.exec(head)) {
    const v = m[1] ?? '';
    if (!/^\d{1,9}$/.test(v)) throw new SipFramingError(`invalid Content-Length "${v.slice(0, 20)}"`);
    const n = Number(v);
    if (found !== undefined && found !== n) throw new SipFramingError('conflicting Content-Length headers');
    found = n;
  }
  if (found === undefined) throw new SipFramingError('no Content-Length on a stream transport');
  return found;
}

export class SipFramer {
  private buf: Buffer = Buffer.alloc(0);

  constructor(private readonly limits: FramingLimits = DEFAULT_FRAMING_LIMITS) {}

  /** Bytes waiting for the rest of a message. */
  get pending(): number {
    return this.buf.length;
  }

  /** Feeds bytes; returns every complete item. Throws SipFramingError when the stream cannot be framed. */
  push(chunk: Buffer): FramedItem[] {
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: FramedItem[] = [];
    for (;;) {
      // Keep-alives sit between messages.
      if (this.buf.length >= 2 && this.buf.readUInt16BE(0) === CRLF) {
        if (this.buf.length >= 4 && this.buf.readUInt16BE(2) === CRLF) {
          out.push({ kind: 'ping' });
          this.buf = this.buf.subarray(4);
          continue;
        }
        if (this.buf.length === 2) break; // could still become a ping
        out.push({ kind: 'pong' });
        this.buf = this.buf.subarray(2);
        continue;
      }
      const end = this.buf.indexOf(HEADER_END);
      if (end < 0) {
        if (this.buf.length > this.limits.maxHeaderBytes) {
          throw new SipFramingError(`no end of headers within ${this.limits.maxHeaderBytes} bytes`);
        }
        break;
      }
      if (end > this.limits.maxHeaderBytes)
        throw new SipFramingError(`headers longer than ${this.limits.maxHeaderBytes} bytes`);
      const head = this.buf.toString('latin1', 0, end);
      if (!/^(SIP\/2\.0 \d{3}|[A-Za-z]+ \S+ SIP\/2\.0)/.test(head)) {
        throw new SipFramingError(`not a SIP start line: "${head.split('\r\n')[0]?.slice(0, 40)}"`);
      }
      const length = contentLengthOf(head);
      if (length > this.limits.maxBodyBytes)
        throw new SipFramingError(`body of ${length} bytes exceeds ${this.limits.maxBodyBytes}`);
      const total = end + 4 + length;
      if (this.buf.length < total) break;
      // Copy so the message never pins the (possibly large) receive buffer.
      out.push({ kind: 'message', data: Buffer.from(this.buf.subarray(0, total)), head });
      this.buf = this.buf.subarray(total);
    }
    if (this.buf.length === 0) this.buf = Buffer.alloc(0);
    return out;
  }
}
