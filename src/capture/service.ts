/**
 * Packet capture, as the ASA's `capture` command (issue 15): `capture NAME [--phone IP]
 * [--media [--decrypted]]` writes a phone's signaling, in clear after TLS termination (both its
 * leg and the upstream one toward UCM), and with --media its media as received, into a pcap
 * tshark reads; --decrypted adds the media in clear (after SRTP decryption, before encryption)
 * in a second file. `show capture`, `no capture NAME` (stop), `clear capture NAME` (stop and
 * forget). Bounded: concurrent captures, duration, bytes; drops counted.
 *
 * The TLS proxy and media termination know only the contracts (src/contracts/capture.ts): this
 * service is their SignalingTap and MediaCaptureSink, and tells media what to watch.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import type pino from 'pino';
import type { MediaCapture, MediaCaptureSink, MediaWatch, SignalingTap } from '../contracts/capture';
import type { Listening, OperatorViews, Service, ServiceContext, ViewResult } from '../contracts/service';
import type { InspectedConnection } from '../contracts/signaling';
import { CaptureError } from '../errors';
import { ppx } from '../messages';
import { Capture, type StopReason } from './capture';
import { CAPTURE_USAGE, checkName, decryptedFile, parseCaptureRequest } from './request';

/** Captures running at once: each one costs a copy of every packet it watches, on the workers too. */
export const MAX_ACTIVE_CAPTURES = 4;
/** Captures `show capture` keeps (running and finished); the oldest finished one goes first. */
export const MAX_KEPT_CAPTURES = 16;
/** Where captures go in the state directory (0700, as the directory itself). */
export const CAPTURE_DIR = 'captures';

export interface CaptureServiceDeps {
  /** Media termination, to tap the phones' media; without it --media captures nothing. */
  media?: MediaCapture;
  /** The directory captures are written under (default: the state directory). */
  dir?: string;
  now?: () => number;
}

export class CaptureService implements Service, SignalingTap, MediaCaptureSink {
  readonly name = 'capture';
  private readonly captures = new Map<string, Capture>();
  private readonly timers = new Map<Capture, NodeJS.Timeout>();
  private running = 0;
  private readonly log: pino.Logger;
  private readonly now: () => number;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly deps: CaptureServiceDeps = {},
  ) {
    this.log = ctx.logs.for('events');
    this.now = deps.now ?? Date.now;
  }

  // ---- SignalingTap and MediaCaptureSink: what the TLS proxy and media hand over ------------

  get active(): boolean {
    return this.running > 0;
  }

  chunk(conn: InspectedConnection, leg: 'phone' | 'ucm', inbound: boolean, data: Buffer): void {
    const now = this.now();
    for (const c of this.captures.values()) {
      if (!c.active) continue;
      try {
        c.signaling(conn, leg, inbound, data, now);
      } catch {
        // A connection the pcap cannot describe (not IPv4): lost to the capture, never to the call.
        c.counts.dropped++;
      }
    }
  }

  media(records: Uint8Array, dropped: number): void {
    for (const c of this.captures.values()) if (c.active) c.media(records, dropped);
  }

  // ---- the Service contract --------------------------------------------------------------

  async start(): Promise<Listening[]> {
    return [];
  }

  async stop(): Promise<void> {
    await Promise.all([...this.captures.values()].map((c) => this.end(c, 'appliance stopping')));
  }

  operatorViews(): OperatorViews {
    return {
      show: [
        {
          name: 'capture',
          help: 'packet captures: running and finished, packets and bytes, files (show capture [NAME])',
          render: (args) => this.view(args),
        },
      ],
      clear: [
        {
          name: 'capture',
          help: 'stop a capture and forget it (its files stay): clear capture NAME',
          run: (args) => this.clear(args),
        },
      ],
      commands: [
        {
          name: 'capture',
          help: `start a packet capture: ${CAPTURE_USAGE}`,
          run: (args) => this.begin(args),
        },
        {
          name: 'no capture',
          help: 'stop a capture (it stays in show capture): no capture NAME',
          run: async (args) => {
            const c = this.find(checkName(args[0], 'no capture NAME'));
            if (!c.active) return `capture ${c.req.name} had already stopped (${c.stopped?.reason})`;
            await this.end(c, 'stopped');
            return this.summary(c);
          },
        },
      ],
    };
  }

  // ---- commands --------------------------------------------------------------------------

  private begin(words: string[]): string {
    const req = parseCaptureRequest(words);
    const old = this.captures.get(req.name);
    if (old?.active) throw new CaptureError(`capture ${req.name} is running: no capture ${req.name} first`);
    if (this.running >= MAX_ACTIVE_CAPTURES)
      throw new CaptureError(`${this.running} captures are running, the most at once: stop one (no capture NAME)`);
    if (!old && this.captures.size >= MAX_KEPT_CAPTURES) {
      const oldest = [...this.captures.values()].find((c) => !c.active);
      if (!oldest) throw new CaptureError(`${this.captures.size} captures kept: clear one (clear capture NAME)`);
      this.captures.delete(oldest.req.name);
    }
    let file = req.file;
    if (file === undefined) {
      const dir = path.join(this.deps.dir ?? this.ctx.state.dir, CAPTURE_DIR);
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      file = path.join(dir, `${req.name}.pcap`);
    }
    const clearFile = req.decrypted ? decryptedFile(file) : undefined;
    const c = new Capture(req, file, clearFile, this.now(), req.file === undefined, (cap, why) => {
      void this.end(cap, why);
    });
    this.captures.delete(req.name);
    this.captures.set(req.name, c);
    this.running++;
    const timer = setTimeout(() => void this.end(c, 'duration'), req.durationS * 1000);
    timer.unref();
    this.timers.set(c, timer);
    this.watch();
    const what = { capture: req.name, phone: req.phone ?? 'any', media: req.media, file, maxBytes: req.maxBytes };
    this.log.info({ ...what, durationS: req.durationS }, `capture ${req.name} started`);
    if (clearFile) {
      // Clear audio of a call on disk: loud, every time, with where it goes.
      this.log.warn(...ppx(180001, { capture: req.name, file: clearFile }));
    }
    if (req.media && !this.deps.media) this.log.warn(...ppx(180002, { capture: req.name }));
    return (
      `capture ${req.name} started: ${req.phone ? `phone ${req.phone}` : 'every phone'}, signaling` +
      `${req.media ? ', media as received' : ''}${clearFile ? ', media decrypted' : ''} → ${file}` +
      `${clearFile ? ` and ${clearFile} (DECRYPTED: clear audio)` : ''}; stops after ${req.durationS} s or ${req.maxBytes} bytes`
    );
  }

  private async clear(args: string[]): Promise<string> {
    const c = this.find(checkName(args[0], 'clear capture NAME'));
    await this.end(c, 'stopped');
    this.captures.delete(c.req.name);
    return `capture ${c.req.name} cleared (${this.summary(c)})`;
  }

  private find(name: string): Capture {
    const c = this.captures.get(name);
    if (!c) throw new CaptureError(`no capture named ${name} (show capture lists them)`);
    return c;
  }

  private async end(c: Capture, reason: StopReason): Promise<void> {
    if (c.active) {
      this.running--;
      clearTimeout(this.timers.get(c));
      this.timers.delete(c);
      const done = c.stop(reason, this.now());
      this.watch();
      this.log.info({ capture: c.req.name, reason, ...c.counts }, `capture ${c.req.name} stopped: ${reason}`);
      await done;
      return;
    }
    await c.stop(reason, this.now());
  }

  /** Media termination taps what the running captures with --media ask for, nothing else. */
  private watch(): void {
    const watches: MediaWatch[] = [];
    for (const c of this.captures.values()) {
      if (!c.active || !c.req.media) continue;
      watches.push({ ...(c.req.phone ? { address: c.req.phone } : {}), clear: c.req.decrypted });
    }
    this.deps.media?.watchMedia(watches, this);
  }

  private summary(c: Capture): string {
    const n = c.counts;
    return (
      `capture ${c.req.name} ${c.active ? 'running' : `stopped (${c.stopped?.reason})`}: ` +
      `${n.signalingPackets} signaling, ${n.mediaPackets} media, ${n.decryptedPackets} decrypted packets, ${n.bytes} bytes, ${n.dropped} dropped`
    );
  }

  private view(args: string[]): ViewResult {
    const list = args[0] === undefined ? [...this.captures.values()] : [this.find(args[0])];
    const now = this.now();
    const data = list.map((c) => ({
      name: c.req.name,
      state: c.active ? 'running' : 'stopped',
      reason: c.stopped?.reason ?? null,
      phone: c.req.phone ?? null,
      media: c.req.media,
      decrypted: c.req.decrypted,
      started: new Date(c.started).toISOString(),
      seconds: Math.round(((c.stopped?.at ?? now) - c.started) / 1000),
      durationLimit: c.req.durationS,
      byteLimit: c.req.maxBytes,
      ...c.counts,
      file: c.file,
      decryptedFile: c.clearFile ?? null,
    }));
    return {
      data,
      lines: [`${this.running} of ${MAX_ACTIVE_CAPTURES} captures running, ${list.length} shown`],
      tables: [
        {
          columns: [
            'Name',
            'State',
            'Phone',
            'Media',
            'Signaling',
            'Media pkts',
            'Decrypted',
            'Bytes',
            'Dropped',
            'Time',
            'File',
          ],
          rows: data.map((d) => [
            d.name,
            d.reason ? `stopped (${d.reason})` : d.state,
            d.phone ?? 'any',
            d.decrypted ? 'decrypted' : d.media ? 'as received' : 'no',
            d.signalingPackets,
            d.mediaPackets,
            d.decrypted ? d.decryptedPackets : '-',
            `${d.bytes}/${d.byteLimit}`,
            d.dropped,
            `${d.seconds}/${d.durationLimit} s`,
            d.decryptedFile ? `${d.file} + ${path.basename(d.decryptedFile)}` : d.file,
          ]),
        },
      ],
    };
  }
}

export function createCaptureService(ctx: ServiceContext, deps: CaptureServiceDeps = {}): CaptureService {
  return new CaptureService(ctx, deps);
}
