/** Control messages between the media service (main thread) and its packet workers. */
import type { SrtpProfile } from './engine';

export interface LegBinding {
  address: string;
  rtpPort: number;
  inside: boolean;
}

export interface LegConfig {
  peer?: { address: string; rtpPort: number; rtcpPort?: number };
  mode: 'rtp' | 'srtp';
  srtp?: { profile: SrtpProfile; recvKey: Uint8Array; sendKey: Uint8Array };
}

export type ToWorker =
  | { op: 'create'; req: number; id: string; slot: number; legs: [LegBinding, LegBinding] }
  | { op: 'update'; req: number; id: string; leg: 0 | 1; cfg: LegConfig }
  | { op: 'destroy'; req: number; id: string };

export type FromWorker =
  | { op: 'reply'; req: number; error?: string; code?: string; address?: string; port?: number }
  | { op: 'latched'; id: string; leg: 0 | 1; rtcp: boolean; address: string; port: number }
  | { op: 'ready' };

export interface WorkerInit {
  counters: Float64Array;
  index: number;
}
