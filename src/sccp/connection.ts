/**
 * SCCP on the TLS proxy: the thin adapter between the proxy's byte pipes (src/tls/inspector.ts)
 * and the pure core — one framer per leg, the SccpInspector's verdicts applied to the pipe.
 * A stream that cannot be framed or a message that is refused closes that connection (with the
 * reason logged), never the process and never another connection.
 */
import type { Logger } from 'pino';
import type { MediaAllocator } from '../contracts/media';
import type { PhoneRegistration } from '../contracts/phones';
import type { InspectedConnection, Inspector, InspectorPipe, SignalingSession } from '../contracts/signaling';
import { SccpFramingError } from '../errors';
import { ppx } from '../messages';
import { type SccpFrame, SccpFramer } from './framing';
import { SccpInspector, type Verdict } from './inspector';
import type { SccpProfile } from './key-block';

export interface SccpCounters {
  message(direction: 'from-phone' | 'from-ucm'): void;
  rewritten(): void;
  error(reason: 'framing' | 'refused' | 'dropped' | 'overload'): void;
}

export interface SccpConnectionDeps {
  media: () => MediaAllocator | undefined;
  log: Logger;
  counters: SccpCounters;
  randomBytes: (n: number) => Buffer;
  /** Device name of the phone's secure-phones record, when the appliance has one. */
  securePhoneName?: (conn: InspectedConnection) => string | undefined;
  outsideProfile?: SccpProfile;
  maxMessageBytes?: number;
  /** Refuse a Register naming a device other than the certificate's (default true). */
  bindIdentity?: boolean;
  /** The phone registered (RegisterAck) or kept its registration alive (KeepAlive). */
  registered?: (deviceName: string, registration: PhoneRegistration) => void;
  /** Messages waiting for inspection before the connection is closed as overloaded. */
  maxBacklog?: number;
}

const CALL_STATE_NAMES: Record<number, string> = {
  1: 'off-hook',
  3: 'ring-out',
  4: 'ring-in',
  5: 'connected',
  6: 'busy',
  7: 'congestion',
  8: 'hold',
  9: 'call-waiting',
  10: 'transfer',
  11: 'park',
  12: 'proceed',
  15: 'hold-revert',
  17: 'remote-hold',
};

/** Media service calls go through the service registry each time (it may start after us). */
function lazyMedia(get: () => MediaAllocator | undefined): MediaAllocator {
  const media = (): MediaAllocator => {
    const m = get();
    if (!m) throw new Error('media termination is not running');
    return m;
  };
  return {
    allocate: (req) => media().allocate(req),
    updateLeg: (id, leg, update) => media().updateLeg(id, leg, update),
    release: (id, reason) => media().release(id, reason),
  };
}

export class SccpConnection implements Inspector {
  private readonly framers = { phone: new SccpFramer(), ucm: new SccpFramer() };
  private readonly core: SccpInspector;
  private readonly log: Logger;
  private backlog = 0;
  private closing = false;

  constructor(
    private readonly conn: InspectedConnection,
    private readonly pipe: InspectorPipe,
    private readonly deps: SccpConnectionDeps,
  ) {
    this.log = deps.log.child({ conn: conn.id, phone: conn.deviceName ?? conn.phone.address, proto: 'sccp' });
    if (deps.maxMessageBytes) {
      this.framers.phone = new SccpFramer({ maxMessageBytes: deps.maxMessageBytes });
      this.framers.ucm = new SccpFramer({ maxMessageBytes: deps.maxMessageBytes });
    }
    this.core = new SccpInspector({
      connectionId: conn.id,
      certDeviceName: conn.deviceName,
      securePhoneDeviceName: deps.securePhoneName?.(conn),
      decision: conn.decision,
      media: lazyMedia(deps.media),
      outsideInterface: conn.outsideInterface || undefined,
      insideInterface: conn.insideInterface || undefined,
      phoneAddress: conn.phone.address,
      outsideProfile: deps.outsideProfile,
      randomBytes: deps.randomBytes,
      ...(deps.bindIdentity !== undefined ? { bindIdentity: deps.bindIdentity } : {}),
      onRegistered: (deviceName) =>
        deps.registered?.(deviceName, {
          address: conn.phone.address,
          port: conn.phone.port,
          protocol: 'sccp',
          transport: conn.decision.phoneSignaling,
        }),
      onEvent: (e) => this.log[e.level](e.fields ?? {}, e.msg),
    });
  }

  fromPhone(chunk: Buffer): void {
    this.feed('phone', chunk);
  }

  fromUpstream(chunk: Buffer): void {
    this.feed('ucm', chunk);
  }

  async closed(): Promise<void> {
    this.closing = true;
    await this.core.close('connection closed');
  }

  tick(_nowMs: number): void {
    // SCCP has no transaction timers here: UCM's keepalives and the proxy's idle age-out suffice.
  }

  heldFromPhone(): number {
    return this.framers.phone.pending;
  }

  sessions(): SignalingSession[] {
    return this.core.streamsView().map((s) => ({
      protocol: 'SCCP' as const,
      phone: s.deviceName ?? this.conn.deviceName ?? this.conn.phone.address,
      callId: `${s.callReference}/${s.passThruPartyId}${s.kind === 'video' ? ' video' : ''}`,
      state: [
        s.callState === undefined ? 'media' : (CALL_STATE_NAMES[s.callState] ?? `state ${s.callState}`),
        `rx ${s.receive}`,
        `tx ${s.transmit}`,
        `${s.outsideMedia}/${s.insideMedia}`,
      ].join(', '),
      mediaSession: s.media,
    }));
  }

  private feed(side: 'phone' | 'ucm', chunk: Buffer): void {
    if (this.closing) return;
    let frames: SccpFrame[];
    try {
      frames = this.framers[side].push(chunk);
    } catch (err) {
      if (!(err instanceof SccpFramingError)) throw err;
      this.deps.counters.error('framing');
      this.close(`${side === 'phone' ? 'phone' : 'UCM'} stream: ${err.message}`);
      return;
    }
    for (const frame of frames) {
      if (++this.backlog > (this.deps.maxBacklog ?? 256)) {
        this.deps.counters.error('overload');
        this.close(`more than ${this.deps.maxBacklog ?? 256} SCCP messages waiting for inspection`);
        return;
      }
      this.deps.counters.message(side === 'phone' ? 'from-phone' : 'from-ucm');
      const verdict = side === 'phone' ? this.core.fromPhone(frame) : this.core.fromUcm(frame);
      // The core answers in arrival order, so forwarding here keeps each leg's order.
      verdict.then(
        (v) => this.apply(side, v),
        (err: Error) => this.close(`SCCP inspection failed: ${err.message}`),
      );
    }
  }

  private apply(side: 'phone' | 'ucm', v: Verdict): void {
    this.backlog--;
    if (this.closing) return;
    switch (v.action) {
      case 'forward':
        if (v.rewritten) this.deps.counters.rewritten();
        if (side === 'phone') this.pipe.toUpstream(v.data);
        else this.pipe.toPhone(v.data);
        return;
      case 'drop':
        this.deps.counters.error('dropped');
        this.log.warn(...ppx(150001, { reason: v.reason }));
        return;
      case 'close':
        this.deps.counters.error('refused');
        this.close(v.reason);
        return;
    }
  }

  private close(reason: string): void {
    if (this.closing) return;
    this.closing = true;
    this.log.warn(...ppx(150002, { reason }));
    this.pipe.close(reason);
  }
}

export function createSccpInspector(deps: SccpConnectionDeps) {
  return (conn: InspectedConnection, pipe: InspectorPipe): Inspector => new SccpConnection(conn, pipe, deps);
}
