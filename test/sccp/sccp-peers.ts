/** Scripted SCCP endpoints on real sockets: a phone over mutual TLS and a UCM on TCP or TLS. */
import net from 'node:net';
import tls from 'node:tls';
import { type SccpFrame, SccpFramer } from '../../src/sccp/framing';
import { decodeMessage, encodeMessage, type SccpMessage } from '../../src/sccp/messages';
import type { Cred } from '../tls/harness';

/** One SCCP stream: collects frames, sends messages, waits (bounded) for a message id. */
export class SccpPeer {
  readonly frames: SccpFrame[] = [];
  private readonly framer = new SccpFramer();
  private waiters: { id: number; resolve: (f: SccpFrame) => void }[] = [];
  closed = false;
  framingError: string | undefined;

  constructor(
    readonly sock: net.Socket,
    private readonly version: () => number,
  ) {
    sock.on('data', (chunk: Buffer) => {
      let got: SccpFrame[];
      try {
        got = this.framer.push(chunk);
      } catch (err) {
        this.framingError = (err as Error).message;
        return;
      }
      for (const f of got) {
        const w = this.waiters.find((x) => x.id === f.messageId);
        if (w) {
          this.waiters.splice(this.waiters.indexOf(w), 1);
          w.resolve(f);
        } else {
          this.frames.push(f);
        }
      }
    });
    sock.on('close', () => {
      this.closed = true;
    });
    sock.on('error', () => undefined);
  }

  send(msg: SccpMessage): Buffer {
    const bytes = encodeMessage(msg, this.version());
    this.sock.write(bytes);
    return bytes;
  }

  /** The next frame with this message id (already received or future), bounded in time. */
  next(id: number, what: string, timeoutMs = 5000): Promise<SccpFrame> {
    const i = this.frames.findIndex((f) => f.messageId === id);
    if (i >= 0) return Promise.resolve(this.frames.splice(i, 1)[0] as SccpFrame);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w.resolve !== done);
        reject(new Error(`timed out waiting for ${what}; have ids ${this.frames.map((f) => f.messageId).join(',')}`));
      }, timeoutMs);
      const done = (f: SccpFrame) => {
        clearTimeout(timer);
        resolve(f);
      };
      this.waiters.push({ id, resolve: done });
    });
  }

  /** next() decoded with the peer's protocol version. */
  async nextMessage(id: number, what: string): Promise<SccpMessage> {
    return decodeMessage(await this.next(id, what), this.version());
  }

  waitClosed(timeoutMs = 5000): Promise<void> {
    if (this.closed) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('connection still open')), timeoutMs);
      this.sock.once('close', () => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}

export function connectSccpPhone(port: number, cred: Cred, version: () => number): Promise<SccpPeer> {
  return new Promise((resolve, reject) => {
    // The phone's own address (as its media address): tls.connect passes net options through.
    const opts = {
      host: '127.0.1.1',
      port,
      localAddress: '127.0.1.100',
      cert: cred.certPem,
      key: cred.keyPem,
      rejectUnauthorized: false,
    } as tls.ConnectionOptions;
    const sock = tls.connect(opts);
    sock.once('secureConnect', () => resolve(new SccpPeer(sock, version)));
    sock.once('error', reject);
  });
}

/** Scripted UCM for SCCP: TCP, or TLS that requires the appliance's LDC (mixed mode). */
export class SccpUcm {
  readonly peers: SccpPeer[] = [];
  readonly certs: (tls.PeerCertificate | undefined)[] = [];
  private server: net.Server | undefined;
  private waiting: (() => void)[] = [];

  constructor(private readonly version: () => number) {}

  async start(port: number, tlsOpts?: { cred: Cred; ldcIssuerPem: string }, address = '127.0.2.20'): Promise<void> {
    const add = (s: net.Socket, cert?: tls.PeerCertificate) => {
      this.peers.push(new SccpPeer(s, this.version));
      this.certs.push(cert);
      for (const w of this.waiting.splice(0)) w();
    };
    this.server = tlsOpts
      ? tls.createServer(
          {
            cert: tlsOpts.cred.certPem,
            key: tlsOpts.cred.keyPem,
            requestCert: true,
            rejectUnauthorized: true,
            ca: [tlsOpts.ldcIssuerPem],
          },
          (s) => add(s, s.getPeerCertificate()),
        )
      : net.createServer((s) => add(s));
    const server = this.server;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, address, () => resolve());
    });
  }

  /** The n-th connection (0-based), waiting (bounded) for it. */
  async peer(n: number, timeoutMs = 5000): Promise<SccpPeer> {
    const deadline = Date.now() + timeoutMs;
    while (!this.peers[n]) {
      if (Date.now() > deadline) throw new Error(`UCM: no SCCP connection #${n}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, 50);
        this.waiting.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
    return this.peers[n] as SccpPeer;
  }

  async stop(): Promise<void> {
    for (const p of this.peers) p.sock.destroy();
    const server = this.server;
    if (server) await new Promise<void>((r) => server.close(() => r()));
  }
}
