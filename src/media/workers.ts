/**
 * The main thread's side of the media workers: starts N of them, sends requests and matches
 * replies, and restarts a worker that dies (the service then re-creates its sessions).
 */
import path from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { Worker } from 'node:worker_threads';
import { WorkerError } from '../errors';
import type { FromWorker, SocketIo, ToWorker, WorkerInit, WorkerIo } from './messages';

/** Worker code runs from dist/ even when the caller is TypeScript under jest. */
/**
 * node:dgram makes about 1 KB of short-lived objects per datagram (the received Buffer, rinfo and
 * its address string, the send request). All of it dies young, so V8 never grows a worker's
 * young generation, and shrinks it to 1 MB semi-spaces whenever the worker idles: then a busy
 * worker scavenges every ~1,000 packets. An 8 MB floor, set before any worker's heap exists
 * (V8 reads it when an isolate's heap is configured; the main thread's is already made), keeps
 * it at ~70 scavenges per million packets instead of 500-1,100 (bench/RESULTS.md, issue 17),
 * for 16 MB more per worker.
 */
setFlagsFromString('--min-semi-space-size=8');

export function workerFile(): string {
  return __filename.endsWith('.ts')
    ? path.resolve(__dirname, '../../dist/src/media/worker.js')
    : path.join(__dirname, 'worker.js');
}

type Request = ToWorker extends infer T ? (T extends { req: number } ? Omit<T, 'req'> : never) : never;

interface Slot {
  worker: Worker;
  ready: Promise<void>;
  pending: Map<number, { resolve: (data?: WorkerIo) => void; reject: (e: Error) => void }>;
  restarts: number;
}

export interface PoolEvents {
  onLatched(m: Extract<FromWorker, { op: 'latched' }>): void;
  /** Where a leg's SRTP streams stand (kept to restore them after a worker restart). */
  onStreams(m: Extract<FromWorker, { op: 'streams' }>): void;
  /** Full SRTP stream states of the legs that moved (replication, issue 14; after a 'track'). */
  onPositions?(m: Extract<FromWorker, { op: 'positions' }>): void;
  /** A worker died and a new one is ready at the same index. */
  onRestarted(index: number, exitCode: number): void;
  /** A batch of tapped packets (issue 15). */
  onCaptured?(m: Extract<FromWorker, { op: 'captured' }>): void;
  onError(index: number, err: Error): void;
  /** The first worker did not take the batched socket path, and why (told once). */
  onSocketIo?(io: 'batched' | 'dgram', reason: string): void;
}

export class WorkerPool {
  private readonly slots: Slot[] = [];
  private nextReq = 1;
  private stopping = false;

  constructor(
    readonly size: number,
    private readonly counters: Float64Array,
    /** `media-termination.socket-io`: each worker tells in 'ready' which path it took. */
    private readonly socketIo: SocketIo,
    private readonly events: PoolEvents,
    private readonly file = workerFile(),
    private readonly socketIoAddon?: string,
  ) {}

  async start(): Promise<void> {
    for (let i = 0; i < this.size; i++) this.slots.push(this.spawn(i, 0));
    await Promise.all(this.slots.map((s) => s.ready));
  }

  restarts(index: number): number {
    return this.slots[index]?.restarts ?? 0;
  }

  threadId(index: number): number {
    return this.slots[index]?.worker.threadId ?? -1;
  }

  private spawn(index: number, restarts: number): Slot {
    const init: WorkerInit = {
      counters: this.counters,
      index,
      socketIo: this.socketIo,
      ...(this.socketIoAddon ? { socketIoAddon: this.socketIoAddon } : {}),
    };
    const worker = new Worker(this.file, { workerData: init });
    const pending = new Map<number, { resolve: (data?: WorkerIo) => void; reject: (e: Error) => void }>();
    let onReady: () => void = () => undefined;
    let onFail: (e: Error) => void = () => undefined;
    const ready = new Promise<void>((resolve, reject) => {
      onReady = resolve;
      onFail = reject;
    });
    ready.catch(() => undefined);
    const slot: Slot = { worker, ready, pending, restarts };
    worker.on('message', (m: FromWorker) => {
      if (m.op === 'ready') {
        if (m.ioReason && index === 0 && restarts === 0) this.events.onSocketIo?.(m.io ?? 'dgram', m.ioReason);
        onReady();
      } else if (m.op === 'latched') this.events.onLatched(m);
      else if (m.op === 'streams') this.events.onStreams(m);
      else if (m.op === 'captured') this.events.onCaptured?.(m);
      else if (m.op === 'positions') this.events.onPositions?.(m);
      else if (m.op === 'reply') {
        const p = pending.get(m.req);
        if (!p) return;
        pending.delete(m.req);
        if (m.error) p.reject(new WorkerError(m.error, m.code, m.address, m.port));
        else p.resolve(m.data);
      }
    });
    worker.on('error', (err) => this.events.onError(index, err));
    worker.on('exit', (code) => {
      const died = new Error(`media worker ${index} exited (code ${code})`);
      onFail(died);
      for (const p of pending.values()) p.reject(died);
      pending.clear();
      if (this.stopping || this.slots[index] !== slot) return;
      const next = this.spawn(index, restarts + 1);
      this.slots[index] = next;
      next.ready.then(
        () => this.events.onRestarted(index, code),
        (err: Error) => this.events.onError(index, err),
      );
    });
    return slot;
  }

  async request(index: number, msg: Request): Promise<void> {
    await this.query(index, msg);
  }

  /** A request whose reply carries data (the 'io' op). */
  async query(index: number, msg: Request): Promise<WorkerIo> {
    const slot = this.slots[index];
    if (!slot) throw new Error(`no media worker ${index}`);
    await slot.ready;
    const req = this.nextReq++;
    return new Promise<WorkerIo>((resolve, reject) => {
      slot.pending.set(req, { resolve: (data) => resolve(data as WorkerIo), reject });
      slot.worker.postMessage({ ...msg, req } as ToWorker);
    });
  }

  /** For tests and `debug`: make worker `index` die as a crash would. */
  async kill(index: number): Promise<void> {
    await this.slots[index]?.worker.terminate();
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
    this.slots.length = 0;
  }
}
