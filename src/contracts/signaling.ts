/**
 * How a signaling protocol plugs into the TLS proxy. The connection layer (proxy.ts) owns the
 * sockets, TLS, upstream selection, queues and the connection table; an inspector sees only
 * bytes from either side and a pipe to send bytes on. SIP inspects port 5061 today; SCCP
 * (port 2443) plugs in the same way with its own factory.
 */
import type { LegDecision, UpstreamTransport } from './leg-decision';

export interface Endpoint {
  address: string;
  port: number;
}

/** What an inspector knows about the connection pair it serves. */
export interface InspectedConnection {
  id: number;
  /** Device name from the phone's certificate (e.g. SEP001122334455), when it has one. */
  deviceName?: string;
  decision: LegDecision;
  /** The remote phone's address as seen by the appliance. */
  phone: Endpoint;
  /** The appliance's listening address and port the phone connected to. */
  outsideLocal: Endpoint;
  /** The address the phone knows outsideLocal by when a NAT maps it (interface public-address). */
  outsideAdvertised?: string;
  /** The cluster member the upstream leg goes to. */
  upstream: Endpoint & { transport: UpstreamTransport };
  /** The appliance's address and port on the upstream connection. */
  insideLocal: Endpoint;
  /** Names of the policy interfaces the two legs use (for media-termination addresses). */
  outsideInterface: string;
  insideInterface: string;
}

export interface InspectorPipe {
  toUpstream(data: Buffer): void;
  toPhone(data: Buffer): void;
  /** Closes both legs; the reason is logged and shown. */
  close(reason: string): void;
}

/** A signaling session the inspector tracks, for `show phone-proxy signaling-sessions`. */
export interface SignalingSession {
  protocol: 'SIP' | 'SCCP';
  phone: string;
  callId: string;
  state: string;
  mediaSession: string;
}

export interface Inspector {
  fromPhone(chunk: Buffer): void;
  fromUpstream(chunk: Buffer): void;
  /** Both legs are gone: release everything held for this connection. */
  closed(): Promise<void>;
  /** Periodic clock tick (ms): transaction timers live in the inspector without owning a clock. */
  tick(nowMs: number): void;
  sessions(): SignalingSession[];
  /**
   * Bytes of a message from the phone that has begun but not arrived whole (what the framer
   * holds): the proxy closes a connection whose message stays incomplete too long (issue 12).
   * SIP and SCCP report it from their own framers; an inspector without it is never timed out.
   */
  heldFromPhone?(): number;
}

export type InspectorFactory = (conn: InspectedConnection, pipe: InspectorPipe) => Inspector;
