/** Shared pieces of the media integration tests: a service context on loopback and UDP test peers. */
import dgram from 'node:dgram';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parsePolicy } from '../../src/config/load-policy';
import type { MediaTermination } from '../../src/config/policy-schema';
import type { ApplianceState } from '../../src/contracts/state';
import { ControlRegistry } from '../../src/control/registry';
import { Logs } from '../../src/log';
import { workerFile } from '../../src/media/workers';
import type { TestContext } from './serve';

// From test/support (ts-jest) or dist-dev/test/support (the benchmark's relay process).
const root = path.resolve(__dirname, __filename.endsWith('.ts') ? '../..' : '../../..');
const defaultYaml = readFileSync(path.join(root, 'policies/default.yaml'), 'utf8');

export function requireBuiltWorker(): void {
  if (!existsSync(workerFile())) throw new Error(`${workerFile()} missing: run npm run build first`);
}

/** The default policy (outside 127.0.1.x, inside 127.0.2.x) with media-termination overrides. */
export function mediaContext(mt: Partial<MediaTermination>, logLines: string[] = []): TestContext {
  const loaded = parsePolicy(defaultYaml, 'default.yaml');
  Object.assign(loaded.policy['media-termination'], mt);
  const logs = new Logs('info', { write: (s: string) => void logLines.push(s) });
  return {
    loaded,
    state: {} as ApplianceState,
    logs,
    control: new ControlRegistry(),
    metrics: new Registry(),
  };
}

export interface Received {
  msg: Buffer;
  address: string;
  port: number;
}

/** A UDP endpoint playing a phone or a peer; every wait is bounded. */
export class UdpPeer {
  private queue: Received[] = [];
  private waiter: (() => void) | undefined;
  private constructor(readonly socket: dgram.Socket) {
    socket.on('message', (msg, rinfo) => {
      this.queue.push({ msg, address: rinfo.address, port: rinfo.port });
      this.waiter?.();
    });
  }

  static async open(address: string, port = 0): Promise<UdpPeer> {
    const s = dgram.createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      s.once('error', reject);
      s.bind(port, address, () => resolve());
    });
    return new UdpPeer(s);
  }

  get address(): string {
    return this.socket.address().address;
  }
  get port(): number {
    return this.socket.address().port;
  }

  send(msg: Uint8Array, port: number, address: string): void {
    this.socket.send(msg, port, address);
  }

  /** The next datagram, or undefined after `ms`. */
  async next(ms = 1000): Promise<Received | undefined> {
    const deadline = Date.now() + ms;
    while (this.queue.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) return undefined;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.queue.shift();
  }

  drain(): Received[] {
    return this.queue.splice(0);
  }

  close(): void {
    this.socket.close();
  }
}

/** A 172-byte G.711 RTP packet (12-byte header + 160 bytes of 20 ms audio). */
export function rtpPacket(ssrc: number, seq: number, fill = seq & 0xff): Buffer {
  const b = Buffer.alloc(172, fill);
  b[0] = 0x80;
  b[1] = 0; // PCMU
  b.writeUInt16BE(seq & 0xffff, 2);
  b.writeUInt32BE((seq * 160) >>> 0, 4);
  b.writeUInt32BE(ssrc >>> 0, 8);
  return b;
}

/** An RTCP receiver report with one block (32 bytes). */
export function rtcpPacket(ssrc: number, marker: number): Buffer {
  const b = Buffer.alloc(32, 0);
  b[0] = 0x81;
  b[1] = 201;
  b.writeUInt16BE(7, 2);
  b.writeUInt32BE(ssrc >>> 0, 4);
  b.writeUInt32BE(marker >>> 0, 8);
  return b;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
