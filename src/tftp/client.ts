/**
 * The TFTP client's sockets (the appliance fetching from the UCM TFTP server): one socket per
 * transfer, bound to the inside interface address (the ASA talks to the TFTP server from its
 * inside interface), with an 'error' handler and one bounded timer. The protocol is in
 * read-receiver.ts. Requests carry blksize and tsize (RFC 2348/2349) and no `timeout` option
 * (the appliance's own timeout governs); a server that refuses the options (ERROR 8, RFC 2347
 * §2) is asked once more without any.
 */
import dgram from 'node:dgram';
import { Readable } from 'node:stream';
import { TftpUpstreamError } from '../errors';
import { TftpErrorCode } from './packet';
import { ReadReceiver, type ReceiverAction, type ReceiverCounters } from './read-receiver';

export interface TftpClientOptions {
  host: string;
  port: number;
  /** Local address the requests leave from (the inside interface); any when absent. */
  localAddress?: string;
  /** Total time allowed for the server to answer, split over the retries. */
  timeoutMs: number;
  retries?: number;
  blockSize?: number;
}

export interface UpstreamGet {
  stream: Readable;
  /** Resolves with the size the server announced (null when it did not answer tsize, or failed first). */
  size: Promise<number | null>;
  /** Bytes taken from the server so far. */
  received(): number;
  abort(): void;
}

export class TftpClient {
  /** Summed over finished transfers. */
  readonly stats: ReceiverCounters & { socketErrors: number } = {
    duplicates: 0,
    malformed: 0,
    foreign: 0,
    retransmissions: 0,
    socketErrors: 0,
  };

  constructor(private readonly o: TftpClientOptions) {}

  /** Streams a file with back-pressure; errors are TftpUpstreamError. */
  get(file: string): UpstreamGet {
    const retries = this.o.retries ?? 2;
    const timeoutMs = Math.max(100, Math.floor(this.o.timeoutMs / (retries + 1)));
    const options = { blksize: String(this.o.blockSize ?? 1468), tsize: '0' };
    let resolveSize: (n: number | null) => void = () => undefined;
    const size = new Promise<number | null>((r) => {
      resolveSize = r;
    });
    let current: Attempt | undefined;
    const stream = new Readable({
      read: () => current?.resume(),
      destroy: (err, cb) => {
        current?.abort('Transfer aborted');
        cb(err);
      },
    });
    // Consumers see errors through iteration or pipeline(); an unread failed stream must not crash the process.
    stream.on('error', () => undefined);
    let received = 0;
    const attempt = (opts: Record<string, string>) => {
      current = new Attempt(this, new ReadReceiver({ file, options: opts, timeoutMs, retries }), {
        size: (n) => resolveSize(n),
        data: (chunk) => {
          received += chunk.length;
          if (!stream.push(chunk)) current?.pause();
        },
        done: () => stream.push(null),
        failed: (code, timedOut, detail) => {
          if (code === TftpErrorCode.OptionRefused && Object.keys(opts).length > 0 && received === 0) {
            attempt({});
            return;
          }
          resolveSize(null);
          const msg = timedOut ? `no answer from ${this.o.host}:${this.o.port} (${detail})` : detail;
          stream.destroy(new TftpUpstreamError(msg, code, timedOut));
        },
      });
      current.start();
    };
    attempt(options);
    return {
      stream,
      size,
      received: () => received,
      abort: () => current?.abort('Transfer aborted'),
    };
  }

  /** Whole file into memory, refusing anything over `maxBytes`. */
  async getBuffer(file: string, maxBytes: number): Promise<Buffer> {
    const g = this.get(file);
    const announced = await g.size;
    if (announced !== null && announced > maxBytes) {
      g.stream.destroy();
      throw new TftpUpstreamError(`${file} is ${announced} bytes, over the ${maxBytes}-byte limit`, undefined, false);
    }
    const chunks: Buffer[] = [];
    let total = 0;
    for await (const c of g.stream) {
      total += (c as Buffer).length;
      if (total > maxBytes) {
        g.stream.destroy();
        throw new TftpUpstreamError(`${file} exceeds the ${maxBytes}-byte limit`, undefined, false);
      }
      chunks.push(c as Buffer);
    }
    return Buffer.concat(chunks, total);
  }

  get host(): string {
    return this.o.host;
  }

  get port(): number {
    return this.o.port;
  }

  get localAddress(): string | undefined {
    return this.o.localAddress;
  }
}

/** The appliance's name for its client towards UCM. */
export { TftpClient as Upstream };

interface AttemptEvents {
  size(n: number | null): void;
  data(chunk: Buffer): void;
  done(): void;
  failed(code: number | undefined, timedOut: boolean, detail: string): void;
}

/** One request on its own socket. */
class Attempt {
  private readonly socket: dgram.Socket;
  private timer: NodeJS.Timeout | undefined;
  private ended = false;
  private pendingSends = 0;

  constructor(
    private readonly client: TftpClient,
    private readonly rx: ReadReceiver,
    private readonly on: AttemptEvents,
  ) {
    this.socket = dgram.createSocket('udp4');
    this.socket.on('error', (err) => {
      client.stats.socketErrors++;
      if (this.ended) {
        this.close();
        return;
      }
      this.end();
      this.close();
      on.failed(undefined, false, `socket: ${err.message}`);
    });
    this.socket.on('message', (msg, rinfo) => {
      this.run(this.rx.packet(msg, `${rinfo.address}:${rinfo.port}`));
    });
    // Sends issued while the bind is in progress are queued by node:dgram.
    this.socket.bind(0, client.localAddress);
  }

  start(): void {
    this.run(this.rx.start());
  }

  pause(): void {
    this.rx.pause();
  }

  resume(): void {
    this.run(this.rx.resume());
  }

  abort(message: string): void {
    this.run(this.rx.abort(message));
  }

  private send(packet: Buffer, to?: string): void {
    if (this.ended && this.pendingSends === 0 && !to) return;
    // The server answers from a new port (its transfer ID, locked by the receiver); the RRQ goes to its listening port.
    const dest = to ?? this.rx.peer;
    let port = this.client.port;
    let address = this.client.host;
    if (dest) {
      const i = dest.lastIndexOf(':');
      address = dest.slice(0, i);
      port = Number(dest.slice(i + 1));
    }
    this.pendingSends++;
    try {
      this.socket.send(packet, port, address, () => {
        this.pendingSends--;
        if (this.ended && this.pendingSends === 0) this.close();
      });
    } catch {
      this.pendingSends--;
    }
  }

  private run(actions: ReceiverAction[]): void {
    for (const a of actions) {
      switch (a.type) {
        case 'send':
          this.send(a.packet, a.to);
          break;
        case 'timer':
          if (this.timer) clearTimeout(this.timer);
          this.timer = undefined;
          if (a.ms !== undefined && !this.ended) {
            this.timer = setTimeout(() => {
              this.timer = undefined;
              this.run(this.rx.timer());
            }, a.ms);
          }
          break;
        case 'size':
          this.on.size(a.size);
          break;
        case 'data':
          this.on.data(a.chunk);
          break;
        case 'done':
          this.end();
          this.on.done();
          break;
        case 'failed':
          this.end();
          this.on.failed(a.code, a.timedOut, a.detail);
          break;
      }
    }
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    const st = this.client.stats;
    for (const k of Object.keys(this.rx.counters) as (keyof ReceiverCounters)[]) st[k] += this.rx.counters[k];
    if (this.pendingSends === 0) this.close();
  }

  private close(): void {
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}
