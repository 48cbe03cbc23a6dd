/**
 * SCCP stream framing (docs/sccp.md §1). Every message is a 12-byte little-endian header
 *
 *   0        4                 8            12
 *   | length | header version  | message id | body (length - 4 bytes) ...
 *
 * where `length` counts the message id and the body, so one message is length + 8 bytes on the
 * wire. TCP segments and TLS records carry no message boundaries: the splitter buffers until a
 * whole message is there and hands out several when a chunk holds several. Pure: bytes in,
 * frames out; the caller owns the socket and closes it when this throws.
 */
import { SccpFramingError } from '../errors';

export const SCCP_HEADER_BYTES = 12;
/** Smallest legal length field: the message id alone (KeepAlive). Wireshark and chan-sccp refuse less. */
export const SCCP_MIN_LENGTH = 4;
/**
 * No protocol limit exists; the largest real messages are ~2.4 KB (docs/sccp.md §1), so 64 KiB
 * is far above anything legitimate and bounds what a peer can make us buffer.
 */
export const SCCP_DEFAULT_MAX_MESSAGE_BYTES = 64 * 1024;

export interface SccpFrame {
  /** The header's length field (message id + body). */
  length: number;
  headerVersion: number;
  messageId: number;
  /** Bytes after the 12-byte header. */
  body: Buffer;
  /** The whole message as received (header + body). */
  raw: Buffer;
}

/** Builds one message on the wire from its header fields and body. */
export function encodeFrame(messageId: number, headerVersion: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(SCCP_HEADER_BYTES + body.length);
  out.writeUInt32LE(body.length + 4, 0);
  out.writeUInt32LE(headerVersion >>> 0, 4);
  out.writeUInt32LE(messageId >>> 0, 8);
  body.copy(out, SCCP_HEADER_BYTES);
  return out;
}

/** Reads one complete message (exactly one, no trailing bytes); throws SccpFramingError otherwise. */
export function parseFrame(raw: Buffer): SccpFrame {
  const framer = new SccpFramer();
  const frames = framer.push(raw);
  if (frames.length !== 1 || framer.pending !== 0) {
    throw new SccpFramingError(
      0,
      `expected exactly one message, got ${frames.length} and ${framer.pending} bytes left`,
    );
  }
  return frames[0] as SccpFrame;
}

export class SccpFramer {
  private buf: Buffer = Buffer.alloc(0);
  /** Stream offset of buf[0], for error reports. */
  private offset = 0;
  private failed: SccpFramingError | undefined;
  private readonly maxMessageBytes: number;

  constructor(opts: { maxMessageBytes?: number } = {}) {
    this.maxMessageBytes = opts.maxMessageBytes ?? SCCP_DEFAULT_MAX_MESSAGE_BYTES;
  }

  /** Bytes waiting for the rest of a message. */
  get pending(): number {
    return this.buf.length;
  }

  /** Stream bytes handed out as complete messages so far. */
  get consumed(): number {
    return this.offset;
  }

  /**
   * Feeds bytes; returns every complete message. Throws SccpFramingError when the stream cannot
   * be framed; the framer then stays failed (a stream has no resynchronisation point).
   */
  push(chunk: Buffer): SccpFrame[] {
    if (this.failed) throw this.failed;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const out: SccpFrame[] = [];
    while (this.buf.length >= 8) {
      const length = this.buf.readUInt32LE(0);
      if (length < SCCP_MIN_LENGTH) this.fail(`length field ${length} is below the minimum ${SCCP_MIN_LENGTH}`, out);
      const total = length + 8;
      if (total > this.maxMessageBytes) {
        this.fail(`message of ${total} bytes exceeds the ${this.maxMessageBytes}-byte cap`, out);
      }
      if (this.buf.length < total) break;
      // Copy out so a frame never pins a large coalesced chunk, and callers may keep it.
      const raw = Buffer.from(this.buf.subarray(0, total));
      out.push({
        length,
        headerVersion: raw.readUInt32LE(4),
        messageId: raw.readUInt32LE(8),
        body: raw.subarray(SCCP_HEADER_BYTES),
        raw,
      });
      this.buf = this.buf.subarray(total);
      this.offset += total;
    }
    return out;
  }

  private fail(reason: string, framed: SccpFrame[]): never {
    const err = new SccpFramingError(this.offset, reason);
    err.frames = framed;
    this.failed = new SccpFramingError(this.offset, reason);
    this.buf = Buffer.alloc(0);
    throw err;
  }
}
