/** Control messages between the media service (main thread) and its packet workers. */
import type { SrtpStreamState } from '../../wasm/stream-state';
import type { UpdateLegConfig } from '../contracts/media';
import type { InsideLatch } from './relay';

export interface LegBinding {
  address: string;
  rtpPort: number;
  inside: boolean;
  /** Inside legs: `media-termination.inside-latch` (issue 13); absent = off. */
  latch?: InsideLatch;
}

/** A leg's configuration travels to the worker as signaling gave it. */
export type LegConfig = UpdateLegConfig;

/** A leg's first configuration, sent with its session's create. */
export interface FirstLeg {
  leg: 0 | 1;
  cfg: LegConfig;
}

/** The worker's reply code when a create's `first` config was refused (the session is not kept). */
export const FIRST_REFUSED = 'EFIRSTLEG';

/** Where an SRTP stream of a leg stands (libsrtp's rollover counter and last sequence number). */
export interface StreamPosition {
  ssrc: number;
  roc: number;
  seq: number;
}

/** Positions of a leg's SRTP streams: `in` = what the peer sends us, `out` = what we send it. */
export interface LegStreams {
  in?: StreamPosition;
  out?: StreamPosition;
}

export type ToWorker =
  /**
   * `first`: a leg's config applied once bound; refused, the session is closed again (FIRST_REFUSED).
   * `release`: sessions released since the last request (MediaService.releaseLater), destroyed
   * first, whatever becomes of the create: their destroy rides along instead of a round trip each.
   */
  | {
      op: 'create';
      req: number;
      id: string;
      slot: number;
      legs: [LegBinding, LegBinding];
      first?: FirstLeg;
      release?: string[];
    }
  | { op: 'update'; req: number; id: string; leg: 0 | 1; cfg: LegConfig }
  | { op: 'restore'; req: number; id: string; leg: 0 | 1; streams: LegStreams }
  | { op: 'destroy'; req: number; id: string }
  /** Tap the leg for a capture (issue 15): TAP_WIRE | TAP_CLEAR of relay.ts, 0 = stop. */
  | { op: 'capture'; req: number; id: string; leg: 0 | 1; taps: number }
  /** Replication (issue 14): report every leg's full SRTP stream states every `everyMs` (0: stop). */
  | { op: 'track'; req: number; everyMs: number }
  /**
   * Takeover (issue 14): configure a leg and continue its streams from another node's states,
   * in one step, so no packet (live or held early) is relayed with the leg's fresh streams.
   */
  | { op: 'import'; req: number; id: string; leg: 0 | 1; cfg: LegConfig; streams: SrtpStreamState[] }
  /** Which socket path the worker runs (`media-termination.socket-io`), answered in the reply's data. */
  | { op: 'io'; req: number };

/** `socket-io` as the policy says it (src/config/policy-schema.ts). */
export type SocketIo = 'auto' | 'batched' | 'dgram';

/** A worker's socket path: batched (native/udp-batch.c) with the addon's totals, or node:dgram and why. */
export interface WorkerIo {
  io: 'batched' | 'dgram';
  ioReason?: string;
  stats?: Record<string, number>;
  sockets?: number;
}

export type FromWorker =
  | { op: 'reply'; req: number; error?: string; code?: string; address?: string; port?: number; data?: WorkerIo }
  | { op: 'latched'; id: string; leg: 0 | 1; rtcp: boolean; address: string; port: number }
  | { op: 'streams'; id: string; leg: 0 | 1; streams: LegStreams }
  | { op: 'positions'; legs: LegPositions[] }
  | { op: 'ready'; io?: 'batched' | 'dgram'; ioReason?: string }
  /** Tapped packets (MEDIA_RECORD records of src/contracts/capture.ts) and those the ring had no room for. */
  | { op: 'captured'; records: Uint8Array; dropped: number };

/** A leg whose streams moved since the last 'positions' report. */
export interface LegPositions {
  id: string;
  leg: 0 | 1;
  streams: SrtpStreamState[];
}

export interface WorkerInit {
  counters: Float64Array;
  index: number;
  /** Absent: auto. */
  socketIo?: SocketIo;
  /** Another addon file than the built one (tests of the fallback). */
  socketIoAddon?: string;
}
