/**
 * The media half of bench:sip's like-for-like reference: Debian's rtpengine-daemon in userspace
 * (`--table=-1`: no kernel forwarding module), driven by Kamailio's `rtpengine` module over the
 * ng protocol on UDP loopback. Two logical interfaces mirror the appliance's two media addresses:
 * `pub` toward the phone (SRTP, SDES) and `priv` toward UCM (RTP). Per call it binds an RTP and
 * RTCP port on each side, as the appliance does.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync } from 'node:fs';

export const RTPENGINE_BIN = '/usr/bin/rtpengine';
const KAMAILIO_MODULE = '/usr/lib/x86_64-linux-gnu/kamailio/modules/rtpengine.so';

export interface RtpEngineOptions {
  /** ng control socket (UDP). */
  ng: { address: string; port: number };
  /** Media address toward the phone (interface `pub`) and toward UCM (`priv`). */
  outside: string;
  inside: string;
  minPort: number;
  maxPort: number;
}

export function rtpengineAvailable(): boolean {
  return existsSync(RTPENGINE_BIN) && existsSync(KAMAILIO_MODULE);
}

export function rtpengineVersion(): string {
  // It prints "Version: ..." on stderr.
  const r = spawnSync(RTPENGINE_BIN, ['--version'], { encoding: 'utf8' });
  const line = `${r.stdout ?? ''}${r.stderr ?? ''}`.split('\n')[0]?.trim();
  return line ? `rtpengine ${line.replace(/^Version:\s*/, '')}` : 'rtpengine (version unknown)';
}

/** One ng `ping` (bencoded, with a cookie): true on its `pong`. */
function ngPing(ng: { address: string; port: number }): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = dgram.createSocket('udp4');
    const done = (ok: boolean) => {
      clearTimeout(timer);
      sock.close();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), 200);
    sock.on('error', () => done(false));
    sock.on('message', (m) => done(m.toString().includes('pong')));
    sock.send('bench d7:command4:pinge', ng.port, ng.address);
  });
}

export class RtpEngine {
  private output = '';

  private constructor(readonly child: ChildProcess) {
    const keep = (d: Buffer) => {
      this.output += d.toString();
      if (this.output.length > 200_000) this.output = this.output.slice(-100_000);
    };
    child.stdout?.on('data', keep);
    child.stderr?.on('data', keep);
  }

  static async start(o: RtpEngineOptions): Promise<RtpEngine> {
    const child = spawn(
      RTPENGINE_BIN,
      [
        '--foreground',
        '--log-stderr',
        '--no-log-timestamps',
        // Userspace forwarding only: no kernel module, no iptables chain.
        '--table=-1',
        `--interface=pub/${o.outside}`,
        `--interface=priv/${o.inside}`,
        `--listen-ng=${o.ng.address}:${o.ng.port}`,
        `--port-min=${o.minPort}`,
        `--port-max=${o.maxPort}`,
        // Warnings and worse (like the appliance at info with one line per call, Kamailio at debug=2).
        '--log-level=4',
        // One worker thread: the appliance's signaling is one thread too, and the machine has two cores.
        '--num-threads=1',
        // A deleted call's ports are closed at once (the appliance closes its sockets on BYE).
        '--delete-delay=0',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const r = new RtpEngine(child);
    // Ready when the ng socket answers a ping.
    const deadline = Date.now() + 10_000;
    while (!(await ngPing(o.ng))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        child.kill('SIGKILL');
        throw new Error(`rtpengine did not start (exit ${child.exitCode}):\n${r.output.slice(-4000)}`);
      }
      await new Promise((res) => setTimeout(res, 50));
    }
    return r;
  }

  log(): string {
    return this.output;
  }

  pids(): number[] {
    return this.child.pid ? [this.child.pid] : [];
  }

  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise<void>((r) => this.child.once('exit', () => r()));
    this.child.kill('SIGTERM');
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000);
    await exited;
    clearTimeout(t);
  }
}
