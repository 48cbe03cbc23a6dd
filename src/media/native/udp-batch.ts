/**
 * Loads the batched UDP addon (udp-batch.c, built by `npm run build` into
 * dist/src/media/native/udp-batch.node). Absent or unloadable, callers fall back to node:dgram:
 * `loadUdpBatch()` says why instead of throwing.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';

/** An opaque group of sockets (a C struct behind a napi external). */
export type Group = { readonly __group: unique symbol };

export interface UdpBatchAddon {
  /** Layout constants shared with the C side. */
  readonly IO_HEADER: number;
  readonly STAT_FIELDS: number;
  createGroup(
    memory: ArrayBuffer,
    slotOffsets: Int32Array,
    recvLength: number,
    io: Int32Array,
    stats: Float64Array,
    onBatch: () => void,
  ): Group;
  /** Bound and polled; throws an Error with a node-style `code` (EADDRINUSE, …) otherwise. */
  open(group: Group, id: number, address: string, port: number): number;
  close(group: Group, id: number): void;
  /** Sends what is queued in io; returns the number of failed sends (errno in their entries). */
  flush(group: Group): number;
  sendNow(
    group: Group,
    id: number,
    bytes: Uint8Array,
    offset: number,
    length: number,
    ip: number,
    port: number,
  ): number;
  localPort(group: Group, id: number): number;
  destroyGroup(group: Group): void;
}

/** io[]: received count, send count, failures of the last flush; records after IO_HEADER words. */
export const IO_RECEIVED = 0;
export const IO_SEND_COUNT = 1;
export const IO_HEADER = 8;
export const RECV_FIELDS = 4;
export const SEND_FIELDS = 6;

/** stats[] fields (ST_* in udp-batch.c). */
export const STAT_BATCHES = 0;
export const STAT_RECEIVED = 1;
export const STAT_TRUNCATED = 2;
export const STAT_RECV_ERRORS = 3;
export const STAT_SENT = 4;
export const STAT_SEND_EAGAIN = 5;
export const STAT_SEND_ERRORS = 6;
export const STAT_MAX_BATCH = 7;
export const STAT_RECV_CALLS = 8;
export const STAT_SEND_CALLS = 9;
export const STAT_FIELDS = 10;
export const STAT_NAMES = [
  'batches',
  'received',
  'truncated',
  'recvErrors',
  'sent',
  'sendEagain',
  'sendErrors',
  'maxBatch',
  'recvCalls',
  'sendCalls',
] as const;

/**
 * Where the built addon is: beside this file in dist/; seen from src/ (ts-jest) or from dist-dev/
 * (benchmarks), dist/'s.
 */
export function addonPath(): string {
  const here = path.join(__dirname, 'udp-batch.node');
  if (existsSync(here)) return here;
  for (const up of ['../../..', '../../../..']) {
    const f = path.resolve(__dirname, up, 'dist/src/media/native/udp-batch.node');
    if (existsSync(f)) return f;
  }
  return here;
}

export type Loaded = { addon: UdpBatchAddon; error?: undefined } | { addon?: undefined; error: string };

/** The addon, or why not; `file` overrides addonPath() (tests of the fallback). */
export function loadUdpBatch(file = addonPath()): Loaded {
  if (!existsSync(file)) return { error: `${file} is not built (npm run build needs a C compiler and Node's headers)` };
  try {
    // require() caches the module: loading it again is a lookup.
    const addon = require(file) as UdpBatchAddon;
    if (addon.IO_HEADER !== IO_HEADER || addon.STAT_FIELDS !== STAT_FIELDS)
      return { error: `${file} is from another version of udp-batch.c (rebuild: npm run build)` };
    return { addon };
  } catch (err) {
    return { error: `${file} does not load: ${(err as Error).message}` };
  }
}
