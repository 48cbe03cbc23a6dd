/**
 * Connection admission for the TLS listeners (issue 12), pure bookkeeping: how many
 * connections are open in all, per source address, still in the TLS handshake per source, and
 * per device identity (the certificate's device name). The proxy asks before it spends
 * anything on a connection, and returns the slot when the socket closes. No sockets, no clock.
 *
 * Limits are per appliance (one Admission shared by the SIP and SCCP listeners): an attacker
 * with one address is held to maxPerSource whichever port it hits.
 */

export interface AdmissionLimits {
  /** Open phone-side connections, all listeners (a fd each, plus one upstream once admitted). */
  maxConnections: number;
  /** Open connections from one source address (phones behind one NAT share an address). */
  maxPerSource: number;
  /** Connections from one source address that have not finished the TLS handshake. */
  maxPendingPerSource: number;
  /** Connections presenting one device identity (a phone needs one; re-registration may overlap). */
  maxPerDevice: number;
}

/**
 * Defaults for an edge box: 10,000 connections stay well under the 20,000 fds the service runs
 * with (each admitted phone holds two); 50 per address leaves room for a NAT'd office of phones;
 * 10 handshakes per address is more than a NAT'd office reboots at once after TCP retries;
 * 4 per device covers a phone re-registering on a new connection before the old one ages out.
 */
export const DEFAULT_ADMISSION_LIMITS: AdmissionLimits = {
  maxConnections: 10_000,
  maxPerSource: 50,
  maxPendingPerSource: 10,
  maxPerDevice: 4,
};

export type AdmissionRefusal = 'global-limit' | 'source-limit' | 'pending-limit';

/** One admitted connection; every method is idempotent, so close paths may call them freely. */
export interface AdmissionTicket {
  readonly source: string;
  /** The TLS handshake finished: the connection no longer counts as pending. */
  handshakeDone(): void;
  /** Claims a slot for the identity; false (nothing claimed) when the identity is at its cap. */
  claimDevice(identity: string): boolean;
  /** The socket closed: every slot the ticket holds is returned. */
  release(): void;
}

export class Admission {
  private open = 0;
  private readonly perSource = new Map<string, number>();
  private readonly pendingPerSource = new Map<string, number>();
  private readonly perDevice = new Map<string, number>();
  private pendingTotal = 0;

  constructor(private current: AdmissionLimits = DEFAULT_ADMISSION_LIMITS) {}

  get limits(): AdmissionLimits {
    return this.current;
  }

  /** Live reload: new connections meet the new limits; open ones over them stay open. */
  setLimits(limits: AdmissionLimits): void {
    this.current = limits;
  }

  get connections(): number {
    return this.open;
  }

  get pending(): number {
    return this.pendingTotal;
  }

  /** Connections open from one source address (for tests and views). */
  fromSource(source: string): number {
    return this.perSource.get(source) ?? 0;
  }

  onDevice(identity: string): number {
    return this.perDevice.get(identity) ?? 0;
  }

  /** A ticket for a new connection from source, or why it is refused (nothing is held then). */
  admit(source: string): AdmissionTicket | AdmissionRefusal {
    if (this.open >= this.limits.maxConnections) return 'global-limit';
    if ((this.perSource.get(source) ?? 0) >= this.limits.maxPerSource) return 'source-limit';
    if ((this.pendingPerSource.get(source) ?? 0) >= this.limits.maxPendingPerSource) return 'pending-limit';
    this.open++;
    this.pendingTotal++;
    increment(this.perSource, source);
    increment(this.pendingPerSource, source);
    return this.ticket(source);
  }

  private ticket(source: string): AdmissionTicket {
    let pending = true;
    let released = false;
    let device: string | undefined;
    const endPending = () => {
      if (!pending) return;
      pending = false;
      this.pendingTotal--;
      decrement(this.pendingPerSource, source);
    };
    return {
      source,
      handshakeDone: endPending,
      claimDevice: (identity) => {
        if (released) return false;
        if (device !== undefined) return device === identity;
        if ((this.perDevice.get(identity) ?? 0) >= this.limits.maxPerDevice) return false;
        device = identity;
        increment(this.perDevice, identity);
        return true;
      },
      release: () => {
        if (released) return;
        released = true;
        endPending();
        this.open--;
        decrement(this.perSource, source);
        if (device !== undefined) decrement(this.perDevice, device);
      },
    };
  }
}

export function isRefusal(t: AdmissionTicket | AdmissionRefusal): t is AdmissionRefusal {
  return typeof t === 'string';
}

function increment(m: Map<string, number>, key: string): void {
  m.set(key, (m.get(key) ?? 0) + 1);
}

/** Keys at zero are deleted so the maps hold only live sources (bounded by open connections). */
function decrement(m: Map<string, number>, key: string): void {
  const n = (m.get(key) ?? 0) - 1;
  if (n > 0) m.set(key, n);
  else m.delete(key);
}
