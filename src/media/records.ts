/**
 * What the media service keeps per session, and the narrow read-only face it shows its operator
 * views and metrics. A module of its own so that views.ts and metrics.ts depend on these types
 * rather than on service.ts (which builds them): no import circle.
 */
import type { SrtpStreamState } from '../../wasm/stream-state';
import type { MediaDirection } from '../contracts/media';
import type { LegRole, MediaPlan } from './addresses';
import type { LegConfig, LegStreams } from './messages';
import type { PortPool } from './ports';

export interface MediaLegRecord {
  role: LegRole;
  address: string;
  rtpPort: number;
  pool: PortPool;
  cfg?: LegConfig;
  /** Last reported SRTP stream positions (restored into a restarted worker). */
  streams: LegStreams;
  /** Where the worker learnt the peer really is (symmetric RTP), per RTP and RTCP. */
  latched: { rtp?: { address: string; port: number }; rtcp?: { address: string; port: number } };
  /** What a capture taps on the leg in its worker (TAP_WIRE | TAP_CLEAR of relay.ts); absent = nothing. */
  taps?: number;
  /** Replication (issue 14): full SRTP stream states as last reported, and the senders' reserves. */
  replica?: { streams: SrtpStreamState[]; at: number; rtpReserve: number; rtcpReserve: number };
}

/**
 * Who asks for a session, beyond the contract's callId (issue 12): what admission counts it
 * against, and how the idle check asks whether its signaling dialog still lives.
 */
export interface MediaOwner {
  /** Device name of the phone (from its certificate); absent = not counted per phone. */
  phone?: string;
  /** The signaling connection (e.g. "sip-12"); absent = not counted per connection. */
  connection?: string;
  /** True while the dialog lives: the idle timeout then leaves the session alone. */
  dialogAlive?: () => boolean;
}

/** Admission limits in force (MediaServiceOptions, clamped to the session table). */
export interface AdmissionCaps {
  perPhone: number;
  perConnection: number;
  global: number;
}

export interface MediaSessionRecord {
  id: string;
  callId: string;
  slot: number;
  worker: number;
  created: number;
  /** Last allocation or leg update: a call being set up is not idle yet. */
  lastChange: number;
  legs: [MediaLegRecord, MediaLegRecord];
  owner: MediaOwner;
  direction: MediaDirection;
  /** Set when this node took the session over from a dead one (issue 14). */
  takenOver?: { from: string; at: number };
}

/** What the operator views and the Prometheus collectors read: nothing they could change. */
export interface MediaObservable {
  readonly plan: MediaPlan;
  readonly counters: Float64Array;
  /** Control-plane errors and admission refusals, by cause. */
  readonly errors: ReadonlyMap<string, number>;
  readonly releases: ReadonlyMap<string, number>;
  readonly releasedTotals: Float64Array;
  readonly caps: AdmissionCaps;
  sessions(): MediaSessionRecord[];
  pools(): { address: string; interfaces: string[]; pool: PortPool }[];
  /** Takeover-only addresses (appliance-cluster.takeover-addresses) and their claimed ports. */
  takeoverPools?(): { address: string; pool: PortPool }[];
  workerCount(): number;
  workerRestarts(): number;
  /** The one action a view takes: `clear phone-proxy media-sessions`. */
  release(id: string, reason: string): Promise<void>;
}
