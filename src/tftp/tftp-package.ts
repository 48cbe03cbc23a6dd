/**
 * The one place that touches the `tftp` npm package (0.1.2, gagle/node-tftp), for both roles:
 * the listener the phones reach and the client that fetches from the UCM TFTP server.
 * The package does the protocol (RFC 1350, options blksize/tsize of RFC 2347/2348/2349, the
 * transfers, retransmission). What it cannot do as the issue needs is wrapped here, on the
 * instances this module creates, never on the package's prototypes:
 *
 * 1. Listener pre-filter. The package opens a transfer socket for every datagram reaching the
 *    listening port and `path.normalize`s the name before anyone sees it (`a/../b` becomes `b`;
 *    `../x` is answered with code 0 "Invalid filename", not an access violation). The wrapper
 *    replaces the listening socket's `message` handler with one that first runs `prefilter`
 *    (rate limit, raw-name checks, duplicate RRQs) and only then hands the datagram to the package.
 * 2. Transfer source address. The package binds each transfer socket to 0.0.0.0, so the kernel
 *    picks the reply's source address; a NAT in front of a phone drops replies that do not come
 *    from the address it sent to. The wrapper binds transfer sockets to the listening address.
 * 3. Sorcerer's Apprentice towards phones: the package resends on duplicate ACKs and runs ahead
 *    (truncated files, no error); duplicate ACKs are ignored (see ignoreDuplicateAcks).
 *    Retransmission towards phones: the package's 3 s timeout makes each lost packet cost 3 s;
 *    the listener uses 1 s × 6 retries. RFC 7440 windows are granted only as 1 (lock-step): with
 *    loss the package's windowed sender repeats and reorders blocks (atftp aborts, "got wrong
 *    block"); the 1%-loss integration test fails with windows of 4.
 * 4. Client error codes. The client keeps only the text of an upstream ERROR packet; the wrapper
 *    keeps the code (1 file not found, 2 access violation, ...).
 * 5. Client back-pressure. The client's read stream ACKs every block as it arrives whatever the
 *    consumer does, so a slow phone would make a relayed firmware image pile up in memory. The
 *    wrapper withholds the ACK while the stream's buffer is above its high-water mark and sends it
 *    when the consumer reads again, or when the client's retransmission timer fires (so the UCM
 *    server never gives up on a slow phone: one more block per timeout).
 * 6. Client `timeout` option. The client sends its retransmission timeout in milliseconds as the
 *    RFC 2349 option, which counts seconds (1-255): tftpd-hpa answers error 8 and the package then
 *    retries without any option (no tsize, 512-byte blocks). The wrapper does not send it.
 * 7. Client source address. The client's sockets are never bound; the wrapper binds them to the
 *    inside interface address, as the ASA talks to the TFTP server from its inside interface.
 * (The service also never pipe()s into the package's response: it aborts the transfer with
 * "Aborted" when unpiped before the last ACK, which pipe() does when the source ends.)
 *
 * Limits accepted: the server needs the file size before the first block (`setSize`), so a relay
 * from an upstream that does not answer tsize is spooled to a temp file; the server ignores the
 * phone's `timeout` option; error codes sent with `abort()` follow from the message text, so the
 * messages below are the RFC 1350 texts; no netascii conversion; the listener cannot bind an
 * ephemeral port (0 becomes 69).
 */
import dgram from 'node:dgram';
import type { AddressInfo } from 'node:net';
import { Readable, type Writable } from 'node:stream';

// The package has no type declarations; these describe the parts used here.
interface PkgStats {
  blockSize: number;
  windowSize: number;
  size: number | null;
  remoteAddress: string;
  remotePort: number;
  localAddress: string;
  localPort: number;
}
export interface ServerRequest extends Readable {
  file: string;
  method: 'GET' | 'PUT';
  stats: PkgStats;
  abort(message?: string): void;
}
export interface ServerResponse extends Writable {
  setSize(size: number): void;
}
interface PkgWindow {
  _start: number;
  _mayRollover: boolean;
  resume(block: number): void;
}
type PkgResponse = ServerResponse & { _writer?: { _window?: PkgWindow } };
interface PkgServer {
  _socket: dgram.Socket;
  listen(): void;
  close(): void;
  on(ev: 'listening', fn: () => void): PkgServer;
  on(ev: 'error', fn: (err: Error) => void): PkgServer;
  on(ev: 'close', fn: () => void): PkgServer;
  once(ev: string, fn: (...a: unknown[]) => void): PkgServer;
  removeListener(ev: string, fn: (...a: unknown[]) => void): PkgServer;
}
interface PkgReader {
  _initSocket(socket: dgram.Socket | null, onMessage: (...a: unknown[]) => void): void;
  _sendAck(block: number): void;
  _onErrorMessage(m: { code: number; message: string }): void;
  _lastReceived: boolean;
  _restransmitterStartFn: () => void;
  onData(chunk: Buffer): void;
}
interface PkgGetStream extends Readable {
  _reader: PkgReader;
  abort(message?: string): void;
  close(): void;
}
interface PkgClient {
  _options: { extensionsString: Record<string, string>; extensionsLength: number };
  createGetStream(file: string, opts?: Record<string, unknown>): PkgGetStream;
}
interface TftpPkg {
  createServer(opts: Record<string, unknown>, listener: (req: ServerRequest, res: ServerResponse) => void): PkgServer;
  createClient(opts: Record<string, unknown>): PkgClient;
}
// eslint-style require: the package is CommonJS without types.
const tftp = require('tftp') as TftpPkg;

/** RFC 1350 texts: the package maps exactly these to codes 1, 2, 4 when aborting. */
export const TFTP_MESSAGES = {
  notFound: 'File not found',
  accessViolation: 'Access violation',
  illegal: 'Illegal TFTP operation',
} as const;

export interface ListenerOptions {
  address: string;
  /** 1-65535: the package turns 0 into 69. */
  port: number;
  /** Largest block size and window size granted to phones. */
  blockSize?: number;
  windowSize?: number;
  /**
   * Per-transfer retransmission timeout (ms) and retries towards the phone. The package's 3 s
   * default makes every lost packet cost 3 s; 1 s × 6 matches common TFTP servers.
   */
  timeoutMs?: number;
  retries?: number;
  /** Runs on every datagram reaching the listening port; false drops it (the pre-filter answered or ignored it). */
  prefilter(msg: Buffer, rinfo: dgram.RemoteInfo, socket: dgram.Socket): boolean;
  onRequest(req: ServerRequest, res: ServerResponse): void;
}

export interface Listener {
  address: string;
  port: number;
  socket: dgram.Socket;
  close(): Promise<void>;
}

export async function startListener(o: ListenerOptions): Promise<Listener> {
  if (!Number.isInteger(o.port) || o.port < 1 || o.port > 65535) {
    throw new Error(`TFTP listener port ${o.port}: must be 1-65535 (the tftp package cannot bind an ephemeral port)`);
  }
  const server = tftp.createServer(
    {
      host: o.address,
      port: o.port,
      blockSize: o.blockSize ?? 1468,
      // RFC 7440 windows are granted only when asked for: the package's windowed sender resends
      // out of order after a loss (atftp: "got wrong block"), so the default is lock-step.
      windowSize: o.windowSize ?? 1,
      timeout: o.timeoutMs ?? 1000,
      retries: o.retries ?? 6,
      denyPUT: true,
    },
    (req: ServerRequest, res: ServerResponse) => {
      ignoreDuplicateAcks(res as PkgResponse);
      o.onRequest(req, res);
    },
  );
  const socket = server._socket;
  const [original] = socket.listeners('message') as ((msg: Buffer, rinfo: dgram.RemoteInfo) => void)[];
  if (!original) throw new Error('tftp package: listening socket has no message handler (package changed?)');
  socket.removeListener('message', original);
  socket.on('message', (msg: Buffer, rinfo: dgram.RemoteInfo) => {
    if (!o.prefilter(msg, rinfo, socket)) return;
    withTransferSocketsBoundTo(o.address, () => original.call(socket, msg, rinfo));
  });
  await new Promise<void>((resolve, reject) => {
    const onError = (err: unknown) => reject(err as Error);
    server.once('error', onError);
    server.once('listening', () => {
      server.removeListener('error', onError);
      resolve();
    });
    server.listen();
  });
  // After start, socket errors (ICMP-triggered and the like) are not fatal for the listener.
  server.on('error', () => undefined);
  const port = (socket.address() as AddressInfo).port;
  return {
    address: o.address,
    port,
    socket,
    close: () =>
      new Promise<void>((resolve) => {
        server.once('close', () => resolve());
        server.close();
      }),
  };
}

/**
 * Sorcerer's Apprentice (RFC 1350 errata, RFC 1123 §4.2.3.1): a duplicate ACK must not trigger a
 * resend; the retransmission timer does that. The package's sender resends on a duplicate ACK and
 * then also releases the next block as if it were acknowledged, so each duplicate makes it run
 * one block further ahead and send out of order: atftp aborts ("got wrong block") as soon as
 * packets arrive late. Duplicates of the previous ACK are dropped here (the loss test covers it).
 */
function ignoreDuplicateAcks(res: PkgResponse): void {
  const w = res._writer?._window;
  if (!w) throw new Error('tftp package: response has no send window (package changed?)');
  const resume = w.resume.bind(w);
  w.resume = (block: number) => {
    if (!w._mayRollover && block === w._start - 1) return;
    resume(block);
  };
}

/**
 * The package creates the transfer socket synchronously inside its message handler and binds it
 * later with `bind(0, null)`; sockets created during `fn` bind to `address` instead.
 */
function withTransferSocketsBoundTo(address: string, fn: () => void): void {
  const d = dgram as { createSocket: typeof dgram.createSocket };
  const create = d.createSocket;
  d.createSocket = ((...args: Parameters<typeof dgram.createSocket>) => {
    const s = create(...args);
    const bind = s.bind.bind(s) as (...a: unknown[]) => dgram.Socket;
    s.bind = ((port: unknown, _addr: unknown, cb?: () => void) => bind(port, address, cb)) as typeof s.bind;
    return s;
  }) as typeof dgram.createSocket;
  try {
    fn();
  } finally {
    d.createSocket = create;
  }
}

export interface UpstreamOptions {
  host: string;
  port: number;
  /** Local address the requests leave from (the inside interface); any when absent. */
  localAddress?: string;
  /** Total time allowed for the upstream to answer, split over the retries. */
  timeoutMs: number;
  retries?: number;
  blockSize?: number;
  windowSize?: number;
}

/** An upstream failure with the TFTP code the server sent (undefined: timeout or local error). */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly tftpCode: number | undefined,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'UpstreamError';
  }
}

export interface UpstreamGet {
  stream: Readable;
  /** Resolves with the size the server announced (null when it did not answer tsize). */
  size: Promise<number | null>;
  /** Bytes the client has taken from the server so far (ACKed or about to be). */
  received(): number;
  abort(): void;
}

export class Upstream {
  private readonly client: PkgClient;

  constructor(private readonly o: UpstreamOptions) {
    const retries = o.retries ?? 2;
    this.client = tftp.createClient({
      host: o.host,
      port: o.port,
      retries,
      timeout: Math.max(100, Math.floor(o.timeoutMs / (retries + 1))),
      blockSize: o.blockSize ?? 1468,
      // Lock-step by default, as towards the phones: the package's windowed code is not loss-safe.
      windowSize: o.windowSize ?? 1,
    });
    // The package sends its retransmission timeout in milliseconds as the RFC 2349 `timeout`
    // option, which counts seconds (1-255): tftpd-hpa answers error 8 to 1000+ and the package
    // then retries without any option (no tsize, 512-byte blocks); a small value would be taken
    // as seconds by the server and echoed back as milliseconds. Not sending it is RFC-conformant.
    const ext = this.client._options;
    const t = ext.extensionsString.timeout;
    if (t !== undefined) {
      ext.extensionsLength -= 'timeout'.length + 2 + t.length;
      delete ext.extensionsString.timeout;
    }
  }

  /** Streams a file from upstream with back-pressure; errors are UpstreamError. */
  get(file: string): UpstreamGet {
    const gs = this.client.createGetStream(file);
    const reader = gs._reader;
    const local = this.o.localAddress;
    if (local) {
      // Also used when the package reopens its socket to retry without options (error 8).
      const init = reader._initSocket.bind(reader);
      reader._initSocket = (socket, onMessage) => {
        const s = socket ?? dgram.createSocket('udp4');
        // Sends issued while the bind is in progress are queued by node:dgram.
        if (!socket) s.bind(0, local);
        init(s, onMessage);
      };
    }
    let code: number | undefined;
    const onErrorMessage = reader._onErrorMessage.bind(reader);
    reader._onErrorMessage = (m) => {
      code = m.code;
      onErrorMessage(m);
    };
    const sendAck = reader._sendAck.bind(reader);
    let heldAck: number | undefined;
    let retransmitting = false;
    // The reader's retransmission timer: when it fires while an ACK is held (the phone is slow), the
    // ACK goes out after all, so the server never gives up on a slow phone; that lets one more
    // block in per timeout, which keeps memory flat.
    const onTimer = reader._restransmitterStartFn;
    reader._restransmitterStartFn = () => {
      retransmitting = true;
      try {
        onTimer();
      } finally {
        retransmitting = false;
      }
    };
    reader._sendAck = (block: number) => {
      // Never hold the last ACK: the reader closes its socket right after it.
      if (!retransmitting && !reader._lastReceived && gs.readableLength >= gs.readableHighWaterMark) heldAck = block;
      else {
        heldAck = undefined;
        sendAck(block);
      }
    };
    gs._read = () => {
      if (heldAck !== undefined) {
        const b = heldAck;
        heldAck = undefined;
        sendAck(b);
      }
    };
    const out = new Readable({ read: () => gs.resume() });
    // Consumers see errors through pipeline()/iteration; an unread failed stream must not crash the process.
    out.on('error', () => undefined);
    let sizeResolve: (s: number | null) => void = () => undefined;
    const size = new Promise<number | null>((r) => {
      sizeResolve = r;
    });
    gs.on('stats', (s: PkgStats) => sizeResolve(s.size));
    let received = 0;
    const onData = reader.onData.bind(reader);
    reader.onData = (chunk: Buffer) => {
      received += chunk.length;
      onData(chunk);
    };
    gs.on('data', (chunk: Buffer) => {
      if (!out.push(chunk)) gs.pause();
    });
    gs.on('end', () => out.push(null));
    gs.on('error', (err: Error) => {
      const timedOut = /Timed out/.test(err.message);
      const msg = err.message.replace(/^\(Server\) /, '');
      const e = new UpstreamError(timedOut ? `no answer from ${this.o.host}:${this.o.port}` : msg, code, timedOut);
      sizeResolve(null);
      out.destroy(e);
    });
    return { stream: out, size, received: () => received, abort: () => gs.abort() };
  }

  /** Whole file into memory, refusing anything over `maxBytes` (configuration files are small). */
  async getBuffer(file: string, maxBytes: number): Promise<Buffer> {
    const g = this.get(file);
    const announced = await g.size;
    if (announced !== null && announced > maxBytes) {
      g.abort();
      g.stream.destroy();
      throw new UpstreamError(
        `${file} is ${announced} bytes, over the ${maxBytes}-byte limit for configuration files`,
        undefined,
        false,
      );
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of g.stream) {
      total += (c as Buffer).length;
      if (total > maxBytes) {
        g.abort();
        throw new UpstreamError(`${file} exceeds the ${maxBytes}-byte limit for configuration files`, undefined, false);
      }
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks, total);
  }
}
